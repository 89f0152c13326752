#!/usr/bin/env python3
"""Walk the paginated listing GET /index/index/?limit=L&start=LASTDID from the
beginning with one keep-alive connection, and report records/s.

Prints one machine-readable line:
  LIST_RESULT records=N pages=N seconds=F records_per_s=F pages_per_s=F
              complete=0|1 client_cpu_s=F errors=N
complete=1 means the walk reached the end (a short page) before --max-seconds.
client_cpu_s is this client's own CPU time, to show whether the client rather
than the server was the bottleneck.  A page of 1024 records is ~0.9 MB of
JSON; decoding each with json.loads would cost the client ~14 ms a page (about
a third of the walk), so the dids are taken with a regular expression and the
full JSON decode (and a check that it agrees) is done on every --check-every'th
page and on the last one.
"""
import argparse
import http.client
import json
import re
import sys
import time
import urllib.parse


DID_RE = re.compile(rb'"did"\s*:\s*"([^"]+)"')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--limit", type=int, default=1024)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    ap.add_argument("--expect", type=int, default=None, help="exit 1 if a complete walk does not see this many records")
    ap.add_argument("--check-every", type=int, default=64, help="fully decode every Nth page")
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
        dids = [d.decode() for d in DID_RE.findall(body)]
        if pages % args.check_every == 0 or len(dids) < args.limit:
            doc = json.loads(body)
            recs = doc["records"] if isinstance(doc, dict) else doc
            if [r["did"] for r in recs] != dids:
                errors += 1
                print(f"listing: page {pages}: regex and JSON disagree on the dids", file=sys.stderr)
                break
        pages += 1
        records += len(dids)
        if len(dids) < args.limit:
            complete = True
            break
        last = dids[-1]
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
