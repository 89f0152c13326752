#!/usr/bin/env python3
"""The explorer at scale: guppy's API over case documents kept live from sheepdog's API.

    python3 bench/explore.py BASE TOKEN [CASES_PER_PROJECT] [PROJECTS] [CHUNK]

against a weft serving gdcdictionary 1.2.0 with bench/explore-etlMapping.yaml, whose TOKEN's
user may administer programs and projects, create in every project of /programs/BENCH and
read it through guppy (bench/explore.sh sets this up). Seeds PROJECTS projects (default 4)
of CASES_PER_PROJECT cases (default 250,000), each with a demographic and a diagnosis: one
case document per case with 21 facet fields. Then, one request at a time:

- waits until the explorer holds every case (the load is followed live);
- `_aggregation` with `_totalCount` and five histograms under a two-condition filter;
- a page of 100 rows at offset 500,000 (and the same page sorted by a field);
- `/guppy/download` of every row, timed to the last byte, with the server's RSS before and
  after;
- submit-to-visible lag: a new case with its demographic, asked for until it shows.

Prints p50 and p99 of each. Writes the aggregation's JSON body to $AGG_BODY_FILE (if set) for
the throughput run of bench/explore.sh. Uses only the standard library.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import submission  # noqa: E402  (the request helpers)
import graphql  # noqa: E402  (the seeding of the commons)
from graphql import timed  # noqa: E402  (p50 and p99 of one request at a time)

SITES = ["Lung", "Brain", "Breast", "Kidney", "Liver", "Colon", "Skin", "Blood"]
DISEASES = ["Adenocarcinoma", "Glioma", "Carcinoma", "Melanoma", "Leukemia", "Sarcoma"]
GENDERS = ["female", "male", "unknown", "not reported"]
RACES = ["white", "asian", "black or african american", "other", "not reported"]
ETHNICITIES = ["hispanic or latino", "not hispanic or latino", "not reported"]
VITAL = ["alive", "dead", "unknown"]
CLASSES = ["primary", "metastasis", "recurrence", "other"]
PROGRESSION = ["yes", "no", "unknown", "not reported"]
LAST = ["Tumor free", "Distant met recurrence/progression", "Loco-regional recurrence/progression"]
STAGES = ["stage i", "stage ii", "stage iii", "stage iv"]
GRADES = ["G1", "G2", "G3", "G4", "GX"]


def rows(kind, project, cases):
    if kind == "case":
        yield "type\tsubmitter_id\texperiments.submitter_id\tprimary_site\tdisease_type"
        for i in range(cases):
            yield f"case\t{project}-case-{i}\texp-1\t{SITES[i % 8]}\t{DISEASES[i % 6]}"
    elif kind == "demographic":
        yield "type\tsubmitter_id\tcases.submitter_id\tgender\trace\tethnicity\tyear_of_birth\tyear_of_death"
        for i in range(cases):
            yield (f"demographic\t{project}-demo-{i}\t{project}-case-{i}\t{GENDERS[i % 4]}\t{RACES[i % 5]}"
                   f"\t{ETHNICITIES[i % 3]}\t{1930 + i % 70}\t{2000 + i % 25}")
    else:
        yield ("type\tsubmitter_id\tcases.submitter_id\tage_at_diagnosis\tdays_to_last_follow_up\tvital_status"
               "\tprimary_diagnosis\tmorphology\ttissue_or_organ_of_origin\tsite_of_resection_or_biopsy"
               "\tclassification_of_tumor\ttumor_stage\ttumor_grade\tprogression_or_recurrence"
               "\tdays_to_recurrence\tdays_to_last_known_disease_status\tlast_known_disease_status")
        for i in range(cases):
            yield (f"diagnosis\t{project}-diag-{i}\t{project}-case-{i}\t{(i * 37) % 30000}\t{i % 3650}"
                   f"\t{VITAL[i % 3]}\tC{i % 50}\t{8000 + i % 40}/3\t{SITES[(i // 3) % 8]}"
                   f"\t{SITES[(i // 5) % 8]}\t{CLASSES[i % 4]}\t{STAGES[i % 4]}\t{GRADES[i % 5]}"
                   f"\t{PROGRESSION[i % 4]}\t{i % 900}\t{i % 1200}\t{LAST[i % 3]}")


def gql(c, token, query, variables=None):
    status, data = submission.request(c, "POST", "/guppy/graphql", token,
                                      json.dumps({"query": query, "variables": variables}))
    if status != 200:
        sys.exit(f"query refused ({status}): {data[:800]!r}")
    body = json.loads(data)
    if "errors" in body:
        sys.exit(f"query failed: {body['errors']}")
    return body["data"]


def total(c, token):
    """How many cases have their diagnosis in the explorer (the last of each case's three
    entities submitted)."""
    q = "{ _aggregation { case(filter: {gte: {age_at_diagnosis: 0}}) { _totalCount } } }"
    return gql(c, token, q)["_aggregation"]["case"]["_totalCount"]


def seed(c, token, projects, cases, chunk):
    start = time.monotonic()
    n = graphql.seed(c, token, projects, cases, chunk, ("case", "demographic", "diagnosis"), rows)
    took = time.monotonic() - start
    print(f"seeded {n:,} entities in {took:.0f} s ({n / took:,.0f}/s) through sheepdog's API")
    return projects * cases


def rss(pid):
    if not pid:
        return "?"
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return f"{int(line.split()[1]) // 1024} MiB"
    return "?"


def main():
    base, token = sys.argv[1], sys.argv[2]
    cases = int(sys.argv[3]) if len(sys.argv) > 3 else 250_000
    projects = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    chunk = int(sys.argv[5]) if len(sys.argv) > 5 else 1000
    pid = os.environ.get("WEFT_PID")
    c = submission.conn(base)
    want = seed(c, token, projects, cases, chunk)
    start = time.monotonic()
    while total(c, token) < want:
        time.sleep(0.5)
    print(f"every case's documents complete {time.monotonic() - start:.1f} s after the last submission")
    while True:
        status, data = submission.request(c, "GET", "/guppy/_status", token)
        if json.loads(data).get("feed_behind") == 0:
            break
        time.sleep(0.5)
    print(f"the explorer caught up with the feed {time.monotonic() - start:.1f} s after the last submission")

    agg = ("query($f: JSON) { _aggregation { case(filter: $f, accessibility: accessible) { _totalCount "
           "primary_site { histogram { key count } } race { histogram { key count } } "
           "vital_status { histogram { key count } } tumor_stage { histogram { key count } } "
           "age_at_diagnosis { histogram(rangeStart: 0, rangeEnd: 30000, rangeStep: 3000) { key count } } } } }")
    filt = {"AND": [{"IN": {"gender": ["female", "male"]}}, {">=": {"year_of_birth": 1950}}]}
    body_file = os.environ.get("AGG_BODY_FILE")
    if body_file:
        with open(body_file, "w") as f:
            json.dump({"query": agg, "variables": {"f": filt}}, f)
    print(f"{want:,} case documents, 21 facet fields; server RSS {rss(pid)}")
    timed("_aggregation: _totalCount + 5 histograms, 2 filters", 100,
          lambda i: gql(c, token, agg, {"f": filt}))
    fields = "submitter_id gender race vital_status age_at_diagnosis primary_site"
    page = "{ case(first: 100, offset: 500000) { %s } }" % fields
    timed("page of 100 at offset 500,000", 100, lambda i: gql(c, token, page))
    sorted_page = "{ case(first: 100, offset: 500000, sort: [{age_at_diagnosis: \"desc\"}]) { %s } }" % fields
    timed("the same page sorted by age_at_diagnosis", 20, lambda i: gql(c, token, sorted_page))

    before = rss(pid)
    start = time.perf_counter()
    c.request("POST", "/guppy/download", body=json.dumps({"type": "case", "fields": fields.split()}),
              headers={"authorization": "bearer " + token, "content-type": "application/json"})
    r = c.getresponse()
    size = 0
    while True:
        piece = r.read(1 << 20)
        if not piece:
            break
        size += len(piece)
    took = time.perf_counter() - start
    assert r.status == 200, r.status
    print(f"download of {want:,} rows ({size / 1e6:.0f} MB) in {took:.2f} s: {want / took:,.0f} rows/s; "
          f"server RSS {before} before, {rss(pid)} after")

    root = "/api/v0/submission"
    lags = []
    for i in range(10):
        sid = f"lag-{i}-{time.time_ns()}"
        docs = [{"type": "case", "submitter_id": sid, "experiments": {"submitter_id": "exp-1"}},
                {"type": "demographic", "submitter_id": sid + "-d", "cases": {"submitter_id": sid},
                 "gender": "female"}]
        start = time.perf_counter()
        status, data = submission.request(c, "PUT", f"{root}/{graphql.PROGRAM}/P1", token, json.dumps(docs))
        assert status == 200, (status, data)
        q = "{ case(filter: {eq: {submitter_id: \"%s\"}}) { gender } }" % sid
        while gql(c, token, q)["case"] != [{"gender": "female"}]:
            time.sleep(0.01)
        lags.append((time.perf_counter() - start) * 1000)
    lags.sort()
    print(f"submit-to-visible (submission included): p50 {lags[5]:.0f} ms, max {lags[-1]:.0f} ms (10 cases)")


if __name__ == "__main__":
    main()
