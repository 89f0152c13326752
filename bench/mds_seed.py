#!/usr/bin/env python3
"""Seed weft's metadata service for bench/mds.sh: N records of about 1 KB each, posted in
batches to /mds-admin/metadata (one transaction per batch), from a few threads.

    mds_seed.py BASE_URL TOKEN N OUT_DIR [--batch 1000] [--threads 2] [--prefix dg.MDS0]
                [--path /mds-admin/metadata] [--basic USER:PASS]

--path and --basic seed another metadata service the same way (bench/mds_vs.sh): Gen3's own
takes the same batch body at POST /metadata at its root, with HTTP basic auth for the logins
in its ADMIN_LOGINS setting (TOKEN is then ignored).

Writes OUT_DIR/guids.txt (fixed-width GUIDs, one per line, for wrk's random_get.lua) and
OUT_DIR/codes.txt (the values of gen3_discovery.project.code: N/100 of them, so each
matches 100 records). Prints records/s on stdout. Deterministic: record n is always the same.
"""
import argparse
import base64
import http.client
import json
import sys
import threading
import time
import urllib.parse

WORDS = ("genome cohort sequencing imaging clinical biospecimen longitudinal pediatric "
         "cancer cardiac variant expression consortium harmonized controlled open tissue "
         "serum methylation proteomic survey").split()


PREFIX = "dg.MDS0"


def guid(n):
    return "%s/00000000-0000-4000-8000-%012d" % (PREFIX, n)


def code(n, groups):
    return "P%06d" % (n % groups)


def text(n, words):
    return " ".join(WORDS[(n * 7 + i * 13) % len(WORDS)] for i in range(words))


def record(n, groups):
    return {
        "_guid_type": "discovery_metadata",
        "gen3_discovery": {
            "study_id": "S%07d" % n,
            "project": {"code": code(n, groups), "name": "Project %d" % (n % groups)},
            "title": text(n, 12),
            "summary": text(n + 1, 50),
            "subjects": n % 997,
            "authz": "/programs/bench/projects/p%d" % (n % 50),
            "tags": [{"category": "Data Type", "name": WORDS[n % len(WORDS)]},
                     {"category": "Program", "name": "bench%d" % (n % 7)}],
            "__manifest": [{"object_id": guid(n), "file_name": "f%d.cram" % n,
                            "file_size": n * 1000, "md5sum": "%032x" % n}],
        },
    }


def main():
    global PREFIX
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("token")
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefix", default=PREFIX, help="GUID prefix (default dg.MDS0)")
    ap.add_argument("--path", default="/mds-admin/metadata", help="the batch write path")
    ap.add_argument("--basic", help="USER:PASS for HTTP basic auth instead of the token")
    a = ap.parse_args()
    PREFIX = a.prefix
    groups = max(1, a.n // 100)
    if a.basic:
        auth = "Basic " + base64.b64encode(a.basic.encode()).decode()
    else:
        auth = "bearer " + a.token
    with open(a.out + "/guids.txt", "w") as f:
        for n in range(a.n):
            f.write(guid(n) + "\n")
    with open(a.out + "/codes.txt", "w") as f:
        for g in range(groups):
            f.write(code(g, groups) + "\n")
    sample = len(json.dumps(record(12345, groups)))
    print("record size: %d bytes" % sample, file=sys.stderr)
    url = urllib.parse.urlparse(a.base)
    starts = list(range(0, a.n, a.batch))
    lock = threading.Lock()
    errors = []

    def work():
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        while True:
            with lock:
                if not starts or errors:
                    return
                s = starts.pop(0)
            body = json.dumps([{"guid": guid(n), "data": record(n, groups)}
                               for n in range(s, min(s + a.batch, a.n))])
            conn.request("POST", a.path + "?overwrite=false", body,
                         {"Authorization": auth, "Content-Type": "application/json"})
            r = conn.getresponse()
            out = r.read()
            if r.status != 201:
                errors.append("%d %s" % (r.status, out[:300]))
                return
            got = json.loads(out)
            if got["conflict"] or got["bad_input"]:
                errors.append("conflicts: %s" % out[:300])

    t0 = time.time()
    threads = [threading.Thread(target=work) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.time() - t0
    if errors:
        sys.exit("seeding failed: %s" % errors[0])
    print("%d records in %.1f s: %.0f records/s" % (a.n, secs, a.n / secs))


if __name__ == "__main__":
    main()
