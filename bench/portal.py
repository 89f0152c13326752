#!/usr/bin/env python3
"""The portal's pages at scale: each page's server time on the explorer benchmark's commons.

    python3 bench/portal.py BASE TOKEN [CASES_PER_PROJECT] [PROJECTS] [CHUNK]

Seeds the commons as bench/explore.py does (PROJECTS projects of CASES_PER_PROJECT cases,
each with a demographic and a diagnosis; 3,000,000 entities and 1,000,000 case documents at
the defaults), waits until the explorer holds them, then asks for each page of the portal
one request at a time with the user's token (as a logged-in browser's session becomes) and
prints p50 and p99 of each: the time from the request to the last byte, over loopback.
Uses only the standard library.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import explore  # noqa: E402  (the seeding and the explorer's count)
import submission  # noqa: E402  (the request helpers)
from graphql import timed  # noqa: E402  (p50 and p99 of one request at a time)

PAGES = ["/", "/dd", "/dd/case", "/submission", "/submission/BENCH-P1", "/explorer",
         "/discovery", "/files", "/identity", "/login", "/workspace"]


def page(c, token, path):
    status, body = submission.request(c, "GET", path, token)
    if status != 200:
        raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
    return body


def main():
    base, token = sys.argv[1], sys.argv[2]
    cases = int(sys.argv[3]) if len(sys.argv) > 3 else 250_000
    projects = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    chunk = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    c = submission.conn(base)
    if os.environ.get("SKIP_SEED") != "1":
        want = explore.seed(c, token, projects, cases, chunk)
        while explore.total(c, token) < want:
            time.sleep(0.5)
        print(f"{want:,} case documents in the explorer")
    for path in PAGES:
        timed(f"GET {path}", int(os.environ.get("REPEAT", "50")), lambda i, p=path: page(c, token, p))


if __name__ == "__main__":
    main()
