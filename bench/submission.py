#!/usr/bin/env python3
"""Graph submission at scale: a simulated project through weft's sheepdog API.

    python3 bench/submission.py BASE TOKEN [CASES] [CHUNK]

against a weft serving gdcdictionary 1.2.0 (`dictionary.url`), whose TOKEN's user may
administer programs and projects and create, read and delete in /programs/BENCH/projects/P1
(bench/submission.sh sets this up). Generates, from that dictionary's graph, one experiment,
CASES cases (default 100,000), 1.5 samples and 1.5 aliquots per case (300,000 at the
default), each linked to its parent by submitter_id, and:

1. submits them as TSV in chunks of CHUNK rows (default 1,000), one PUT at a time, parents
   before children, as the gen3 SDK's submit_file does;
2. exports each node type of the project as TSV (`export?node_label=`), streamed, counting
   rows;
3. deletes everything, children first, in batches of 500 ids.

Prints one line per phase: entities, seconds, entities per second. Uses only the standard
library.
"""

import http.client
import json
import sys
import time
import urllib.parse

PROGRAM, PROJECT = "BENCH", "P1"


def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=600)


def request(c, method, path, token, body=None, content_type="application/json"):
    headers = {"authorization": "bearer " + token}
    if body is not None:
        headers["content-type"] = content_type
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    return r.status, data


def main():
    base, token = sys.argv[1], sys.argv[2]
    cases = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
    chunk = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    c = conn(base)
    root = "/api/v0/submission"
    status, data = request(c, "POST", root + "/", token,
                           json.dumps({"type": "program", "name": PROGRAM, "dbgap_accession_number": "phs-bench"}))
    assert status == 200, (status, data)
    status, data = request(c, "PUT", f"{root}/{PROGRAM}", token,
                           json.dumps({"type": "project", "code": PROJECT, "name": PROJECT,
                                       "dbgap_accession_number": "phs-bench-1"}))
    assert status in (200, 201), (status, data)
    path = f"{root}/{PROGRAM}/{PROJECT}"
    status, data = request(c, "PUT", path, token,
                           json.dumps({"type": "experiment", "submitter_id": "exp-1", "projects": {"code": PROJECT}}))
    assert status == 200, (status, data)


    total = 0
    start = time.monotonic()
    for kind in ("case", "sample", "aliquot"):
        total += put_rows(c, path, token, rows(kind, cases), chunk)
    took = time.monotonic() - start
    print(f"submit  {total} entities in {took:.1f} s: {total / took:,.0f} entities/s (TSV chunks of {chunk})")

    exported = 0
    start = time.monotonic()
    ids = {}
    for kind in ("case", "sample", "aliquot"):
        c.request("GET", f"{path}/export?node_label={kind}&format=tsv",
                  headers={"authorization": "bearer " + token})
        r = c.getresponse()
        assert r.status == 200, r.status
        header = None
        rest = b""
        kind_ids = []
        while True:
            part = r.read(1 << 20)
            if not part:
                break
            lines = (rest + part).split(b"\n")
            rest = lines.pop()
            for line in lines:
                if header is None:
                    header = line.split(b"\t")
                    id_col = header.index(b"id")
                    continue
                kind_ids.append(line.split(b"\t")[id_col].decode())
        if rest:
            kind_ids.append(rest.split(b"\t")[id_col].decode())
        ids[kind] = kind_ids
        exported += len(kind_ids)
    took = time.monotonic() - start
    print(f"export  {exported} entities in {took:.1f} s: {exported / took:,.0f} entities/s (TSV, streamed)")
    assert exported == total, (exported, total)

    start = time.monotonic()
    deleted = 0
    for kind in ("aliquot", "sample", "case"):
        kind_ids = ids[kind]
        for i in range(0, len(kind_ids), 500):
            part = kind_ids[i:i + 500]
            status, data = request(c, "DELETE", f"{path}/entities/{','.join(part)}", token)
            assert status == 200, (status, data[:500])
            deleted += json.loads(data)["deleted_entity_count"]
    took = time.monotonic() - start
    print(f"delete  {deleted} entities in {took:.1f} s: {deleted / took:,.0f} entities/s (batches of 500 ids)")


def rows(kind, cases):
    """TSV rows of one node type (header first): CASES cases linked to `exp-1`, 1.5
    samples per case, one aliquot per sample."""
    samples = cases * 3 // 2
    if kind == "case":
        yield "type\tsubmitter_id\texperiments.submitter_id\tprimary_site\tdisease_type"
        for i in range(cases):
            yield f"case\tcase-{i}\texp-1\tLung\tAdenocarcinoma"
    elif kind == "sample":
        yield "type\tsubmitter_id\tcases.submitter_id\tcomposition\tis_ffpe\tcurrent_weight"
        for i in range(samples):
            yield f"sample\tsample-{i}\tcase-{i * 2 // 3}\tSolid Tissue\tfalse\t{i % 97}.5"
    else:
        yield "type\tsubmitter_id\tsamples.submitter_id\taliquot_quantity\taliquot_volume"
        for i in range(samples):
            yield f"aliquot\taliquot-{i}\tsample-{i}\t{i % 13}.25\t{i % 7}"


def put_rows(c, path, token, lines, chunk):
    """Submit TSV lines (header first) in chunks of `chunk` rows; returns the rows."""
    header = next(lines)
    total = 0
    batch = []
    for row in lines:
        batch.append(row)
        if len(batch) == chunk:
            total += put_chunk(c, path, token, header, batch)
            batch = []
    if batch:
        total += put_chunk(c, path, token, header, batch)
    return total


def put_chunk(c, path, token, header, batch):
    body = (header + "\n" + "\n".join(batch) + "\n").encode()
    status, data = request(c, "PUT", path, token, body, "text/tab-separated-values")
    if status != 200:
        sys.exit(f"chunk refused ({status}): {data[:800]!r}")
    return len(batch)


if __name__ == "__main__":
    main()
