#!/usr/bin/env python3
"""Walk the paginated listing GET /index/index/?limit=L&start=LASTDID from the
beginning with one keep-alive connection, and report records/s.

Prints one machine-readable line:
  LIST_RESULT records=N pages=N seconds=F records_per_s=F pages_per_s=F
              complete=0|1 client_cpu_s=F errors=N
complete=1 means the walk reached the end (a short page) before --max-seconds.
client_cpu_s is this client's own CPU time (JSON decoding etc.), to show
whether the client rather than the server was the bottleneck.
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--limit", type=int, default=1024)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--expect", type=int, default=None, help="exit 1 if a complete walk does not see this many records")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    start, records, pages, errors, complete = "", 0, 0, 0, False
    prev_last = None
    cpu0, t0 = time.process_time(), time.monotonic()
    while time.monotonic() - t0 < args.max_seconds:
        path = f"/index/index/?limit={args.limit}"
        if start:
            path += "&start=" + urllib.parse.quote(start, safe="")
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            errors += 1
            print(f"listing: HTTP {resp.status} for {path}: {body[:300]!r}", file=sys.stderr)
            break
        doc = json.loads(body)
        recs = doc["records"] if isinstance(doc, dict) else doc
        pages += 1
        records += len(recs)
        if len(recs) < args.limit:
            complete = True
            break
        last = recs[-1]["did"]
        if prev_last is not None and last <= prev_last:
            errors += 1
            print(f"listing: start did did not advance ({prev_last} -> {last})", file=sys.stderr)
            break
        prev_last = start = last
    secs = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    print(f"LIST_RESULT records={records} pages={pages} seconds={secs:.3f} "
          f"records_per_s={records / secs:.1f} pages_per_s={pages / secs:.2f} "
          f"complete={int(complete)} client_cpu_s={cpu:.3f} errors={errors}")
    if errors:
        return 1
    if args.expect is not None and complete and records != args.expect:
        print(f"listing: expected {args.expect} records, walked {records}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
