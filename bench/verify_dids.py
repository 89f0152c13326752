#!/usr/bin/env python3
"""GET /index/index/{did} for every did listed in the given files (one per
line; lines starting with '#' are counted as malformed acknowledgements) and
report how many are present.  Used by kill9_check.sh after the restart.

Prints:  VERIFY_RESULT acked=N unique=N present=N missing=N other=N malformed=N
Exit status 1 if any acknowledged did is missing (or answered other than 200/404).
"""
import argparse
import http.client
import sys
import threading
import urllib.parse


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    acked, malformed = [], 0
    for path in args.files:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if line.startswith("#"):
                    malformed += 1
                else:
                    acked.append(line)
    unique = sorted(set(acked))
    u = urllib.parse.urlsplit(args.base)
    lock = threading.Lock()
    result = {"present": 0, "missing": [], "other": []}

    def work(chunk):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        present, missing, other = 0, [], []
        for did in chunk:
            conn.request("GET", "/index/index/" + urllib.parse.quote(did, safe=""))
            resp = conn.getresponse()
            body = resp.read()
            if resp.status == 200 and did.encode() in body:
                present += 1
            elif resp.status == 404:
                missing.append(did)
            else:
                other.append((did, resp.status, body[:200]))
        with lock:
            result["present"] += present
            result["missing"] += missing
            result["other"] += other

    threads = [threading.Thread(target=work, args=(unique[i::args.threads],)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for did in result["missing"][:10]:
        print(f"missing: {did}", file=sys.stderr)
    for did, status, body in result["other"][:10]:
        print(f"unexpected: {did} HTTP {status} {body!r}", file=sys.stderr)
    print(f"VERIFY_RESULT acked={len(acked)} unique={len(unique)} present={result['present']} "
          f"missing={len(result['missing'])} other={len(result['other'])} malformed={malformed}")
    return 1 if result["missing"] or result["other"] else 0


if __name__ == "__main__":
    sys.exit(main())
