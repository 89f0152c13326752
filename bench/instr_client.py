#!/usr/bin/env python3
"""Send a fixed number of GETs over one keep-alive connection (for bench/instr.sh).

  instr_client.py --base http://127.0.0.1:PORT --keys FILE --prefix P [--suffix S] -n N

Keys are taken in a fixed pseudo-random order (seeded), so two runs send the same
requests. Exits 1 if any response is not 200. With --list, walks the listing in pages of
--limit instead (N pages, `start` = the last did of the previous page).
"""
import argparse
import http.client
import random
import re
import sys
import urllib.parse

DID_RE = re.compile(rb'"did"\s*:\s*"([^"]+)"')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--keys")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--suffix", default="")
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--fixed", help="GET this path every time instead of keys")
    ap.add_argument("--limit", type=int, default=1024)
    args = ap.parse_args()
    u = urllib.parse.urlsplit(args.base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    bad = 0
    if args.list:
        start = ""
        for _ in range(args.n):
            path = f"/index/index/?limit={args.limit}"
            if start:
                path += "&start=" + urllib.parse.quote(start, safe="")
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            dids = DID_RE.findall(body)
            if resp.status != 200 or not dids:
                bad += 1
                break
            start = dids[-1].decode()
    elif args.fixed:
        for _ in range(args.n):
            conn.request("GET", args.fixed)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                bad += 1
    else:
        with open(args.keys) as f:
            keys = [line.strip() for line in f if line.strip()]
        rng = random.Random(args.seed)
        for _ in range(args.n):
            conn.request("GET", args.prefix + rng.choice(keys) + args.suffix)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                bad += 1
    if bad:
        print(f"{bad} responses were not 200", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
