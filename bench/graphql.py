#!/usr/bin/env python3
"""GraphQL over a simulated commons: weft's peregrine API on gdcdictionary 1.2.0.

    python3 bench/graphql.py BASE TOKEN [CASES_PER_PROJECT] [PROJECTS] [CHUNK]

against a weft whose TOKEN's user may administer programs and projects, create and read in
every project of /programs/BENCH, and read it through peregrine (bench/graphql.sh sets this
up). Seeds PROJECTS projects (default 4), each with one experiment, CASES_PER_PROJECT cases
(default 62,500), 1.5 samples and 1.5 aliquots per case: 1,000,000 entities at the defaults,
submitted as TSV through the sheepdog API (bench/submission.py's generator). Then times, one
request at a time, 200 of each:

- `_case_count(project_id)`;
- a page of 100 cases with two levels of nested links (samples and their aliquots);
- `with_path_to` from aliquots up to a project (the first 100 aliquots of a project, reached
  through their samples and cases);
- the home page's `GET /api/search/datasets?nodes=case,sample,aliquot`;

and prints p50 and p99 of each. Writes the page query's JSON body to $GQL_BODY_FILE (if set)
for the throughput run of bench/graphql.sh. Uses only the standard library.
"""

import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import submission  # noqa: E402  (the generator and request helpers)

PROGRAM = "BENCH"


def gql(c, token, query):
    status, data = submission.request(c, "POST", "/api/v0/submission/graphql", token,
                                      json.dumps({"query": query}))
    if status != 200:
        sys.exit(f"query refused ({status}): {data[:800]!r}")
    return json.loads(data)["data"]


def timed(label, n, fn):
    took = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        took.append((time.perf_counter() - start) * 1000)
    took.sort()
    p50 = took[len(took) // 2]
    p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
    print(f"{label:<44} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   ({n} requests)")


def seed(c, token, projects, cases, chunk, kinds=("case", "sample", "aliquot"), rows=None):
    """Program BENCH with PROJECTS projects P1.., each with experiment `exp-1` and, for each
    of `kinds` in order, the TSV lines `rows(kind, project code, cases)` (by default
    bench/submission.py's cases, samples and aliquots); returns the entities submitted."""
    rows = rows or (lambda kind, code, n: submission.rows(kind, n))
    root = "/api/v0/submission"
    status, data = submission.request(c, "POST", root + "/", token, json.dumps(
        {"type": "program", "name": PROGRAM, "dbgap_accession_number": "phs-bench"}))
    assert status == 200, (status, data)
    total = 0
    start = time.monotonic()
    for p in range(1, projects + 1):
        code = f"P{p}"
        status, data = submission.request(c, "PUT", f"{root}/{PROGRAM}", token, json.dumps(
            {"type": "project", "code": code, "name": code, "dbgap_accession_number": f"phs-b-{p}"}))
        assert status in (200, 201), (status, data)
        path = f"{root}/{PROGRAM}/{code}"
        status, data = submission.request(c, "PUT", path, token, json.dumps(
            {"type": "experiment", "submitter_id": "exp-1", "projects": {"code": code}}))
        assert status == 200, (status, data)
        for kind in kinds:
            total += submission.put_rows(c, path, token, rows(kind, code, cases), chunk)
        print(f"seeded {code}: {total} entities so far, {time.monotonic() - start:.0f} s", flush=True)
    return total


def main():
    base, token = sys.argv[1], sys.argv[2]
    cases = int(sys.argv[3]) if len(sys.argv) > 3 else 62_500
    projects = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    chunk = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    c = submission.conn(base)
    total = seed(c, token, projects, cases, chunk) + 2 * projects
    print(f"commons: {total} entities in {projects} projects")
    counts = gql(c, token, "{ _case_count _sample_count _aliquot_count }")
    assert counts["_case_count"] == cases * projects, counts

    rnd = random.Random(7)
    pid = lambda: f"{PROGRAM}-P{rnd.randint(1, projects)}"  # noqa: E731
    timed("_case_count(project_id)", 200,
          lambda i: gql(c, token, '{ _case_count(project_id: "%s") }' % pid()))
    page = ('{ case(first: 100, offset: %d, project_id: "%s") { id submitter_id '
            'samples { id submitter_id aliquots { id submitter_id } } } }')

    def one_page(i):
        data = gql(c, token, page % (rnd.randrange(0, cases - 100), pid()))
        assert len(data["case"]) == 100, data

    timed("page of 100 cases, two levels of links", 200, one_page)

    def path_query(i):
        data = gql(c, token, '{ aliquot(first: 100, with_path_to: [{type: "project", code: "P%d"}]) '
                             '{ id } }' % rnd.randint(1, projects))
        assert len(data["aliquot"]) == 100, data

    timed("with_path_to from aliquots to a project", 200, path_query)

    def datasets(i):
        status, data = submission.request(c, "GET", "/api/search/datasets?nodes=case,sample,aliquot", token)
        assert status == 200, (status, data[:300])

    timed("GET /api/search/datasets (all projects)", 200, datasets)
    out = os.environ.get("GQL_BODY_FILE")
    if out:
        with open(out, "w") as f:
            json.dump({"query": page % (0, f"{PROGRAM}-P1")}, f)


if __name__ == "__main__":
    main()
