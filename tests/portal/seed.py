#!/usr/bin/env python3
"""Seed the three servers of the portal harness (run.sh) over HTTP, and write what the
browser tests need to a JSON file (the seed; README.md lists its fields).

    seed.py PLAN.json OUT.json

PLAN.json (written by run.sh) names the servers: {"a": {...}, "b": {...}, "hub": {...},
"mock_user", "dictionary_json", "work_dir", "screenshots", "etl_mapping"}, each server with
"url", "name" and "admin_token" (a bootstrap admin's token, from `weft token create`).

Python 3 standard library only. Every step checks its answer and stops with a message
naming the request and the answer on the first surprise (exit status 1).
"""

import hashlib
import json
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PROGRAM, PROJECT = "prog1", "proj1"
PROJECT_ID = PROGRAM + "-" + PROJECT
B_PROGRAM, B_PROJECT = "progb", "projb"
N_CASES = 40
N_CASES_B = 5


class SeedError(Exception):
    pass


def log(msg):
    print("seed: " + msg, file=sys.stderr, flush=True)


def http(method, url, body=None, token=None, content_type=None, ok=(200, 201), timeout=60):
    """(status, parsed JSON or text). `body`: bytes, str, or JSON-able."""
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = json.dumps(body).encode("utf-8")
            content_type = content_type or "application/json"
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = text
    if ok and status not in ok:
        raise SeedError("%s %s -> %d: %s" % (method, url, status, text[:2000]))
    return status, parsed


# ------------------------------------------------------------------ graph data

def submit(base, token, program, project, entities, what):
    url = "%s/api/v0/submission/%s/%s" % (base, program, project)
    _, doc = http("PUT", url, entities, token)
    if not (isinstance(doc, dict) and doc.get("success")):
        raise SeedError("submitting %s: %s" % (what, json.dumps(doc)[:2000]))
    log("%s: %d entities (%s)" % (base, len(entities), what))
    return doc


def program_and_project(base, token, program, project, project_name):
    http("POST", base + "/api/v0/submission/", {
        "type": "program", "name": program, "dbgap_accession_number": "phs-" + program}, token)
    http("PUT", "%s/api/v0/submission/%s" % (base, program), {
        "type": "project", "code": project, "name": project_name,
        "dbgap_accession_number": "phs-%s-%s" % (program, project),
        "availability_type": "Restricted"}, token)


def weighted(rng, counts, n):
    """n values in a shuffled order: exactly the given counts when they add up to n, else a
    sample of them (padded with the first value)."""
    values = [v for v, c in counts for _ in range(c)]
    values += [counts[0][0]] * (n - len(values))
    rng.shuffle(values)
    return values[:n]


def cases_and_demographics(prefix, n, experiment, seed):
    rng = random.Random(seed)
    genders = weighted(rng, [("female", 18), ("male", 16), ("unknown", 4), ("not reported", 2)], n)
    races = weighted(rng, [("white", 16), ("black or african american", 9), ("asian", 8),
                           ("american indian or alaska native", 3), ("other", 2),
                           ("not reported", 2)], n)
    ethnicities = weighted(rng, [("not hispanic or latino", 25), ("hispanic or latino", 10),
                                 ("Unknown", 5)], n)
    sites = weighted(rng, [("Lung", 15), ("Breast", 12), ("Colon", 8), ("Brain", 5)], n)
    entities, rows = [], []
    for i in range(n):
        cid = "%s-%04d" % (prefix, i + 1)
        site = sites[i]
        entities.append({
            "type": "case", "submitter_id": cid, "experiments": {"submitter_id": experiment},
            "primary_site": site,
            "disease_type": {"Lung": "Adenocarcinoma", "Breast": "Ductal Carcinoma",
                             "Colon": "Adenocarcinoma", "Brain": "Glioma"}[site]})
        demo = {"type": "demographic", "submitter_id": cid + "-demographic",
                "cases": {"submitter_id": cid}, "gender": genders[i], "race": races[i],
                "ethnicity": ethnicities[i], "year_of_birth": 1940 + rng.randrange(60)}
        entities.append(demo)
        rows.append({"submitter_id": cid, "primary_site": site, "gender": genders[i],
                     "race": races[i], "ethnicity": ethnicities[i]})
    return entities, rows


def counts(rows, field):
    out = {}
    for r in rows:
        out[r[field]] = out.get(r[field], 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def fastq(name, reads, seed):
    """A small, real FASTQ file."""
    rng = random.Random(seed)
    lines = []
    for i in range(reads):
        seq = "".join(rng.choice("ACGT") for _ in range(100))
        qual = "".join(chr(33 + rng.randrange(20, 41)) for _ in range(100))
        lines += ["@%s.%d/1" % (name, i + 1), seq, "+", qual]
    return ("\n".join(lines) + "\n").encode("ascii")


def upload(base, token, file_name, data, authz):
    """fence's upload flow: a blank record and a signed URL; the PUT fills size, MD5, URL."""
    _, doc = http("POST", base + "/user/data/upload",
                  {"file_name": file_name, "authz": [authz]}, token, ok=(201,))
    guid, url = doc["guid"], doc["url"]
    http("PUT", url, data, content_type="application/octet-stream", ok=(200, 201, 204))
    md5 = hashlib.md5(data).hexdigest()
    _, rec = http("GET", "%s/index/%s" % (base, urllib.parse.quote(guid, safe="/")), ok=(200,))
    if rec.get("size") != len(data) or rec.get("hashes", {}).get("md5") != md5:
        raise SeedError("index record %s after the upload: %s" % (guid, json.dumps(rec)))
    log("%s: uploaded %s (%d bytes) as %s" % (base, file_name, len(data), guid))
    return {"guid": guid, "file_name": file_name, "size": len(data), "md5": md5,
            "urls": rec.get("urls", []), "authz": rec.get("authz", [])}


# ------------------------------------------------------------------ discovery

def study(guid, name, short, description, subjects, tags, authz, commons_url, project_id,
          manifest):
    return {
        "_guid_type": "discovery_metadata",
        "gen3_discovery": {
            "_unique_id": guid, "study_id": guid,
            "study_name": name, "full_name": name, "short_name": short,
            "study_description": description, "_subjects_count": subjects,
            "project_id": project_id, "authz": authz, "commons_url": commons_url,
            "tags": tags, "__manifest": manifest,
        },
    }


def put_studies(base, token, studies):
    for guid, doc in studies.items():
        http("POST", "%s/mds/metadata/%s?overwrite=true" % (base, guid), doc, token)
        _, back = http("GET", "%s/mds/metadata/%s" % (base, guid), ok=(200,))
        if back.get("gen3_discovery", {}).get("study_name") != doc["gen3_discovery"]["study_name"]:
            raise SeedError("study %s read back as %s" % (guid, json.dumps(back)[:500]))
    log("%s: %d discovery studies" % (base, len(studies)))


def hub_study_ids(hub):
    """GUIDs of the studies the hub serves, from /mds/aggregate/metadata (any of its shapes)."""
    _, doc = http("GET", hub + "/mds/aggregate/metadata?limit=1000", ok=(200,))
    ids = set()
    if isinstance(doc, dict):
        for entries in doc.values():
            for e in entries if isinstance(entries, list) else [entries]:
                if isinstance(e, dict):
                    ids.update(e.keys())
    elif isinstance(doc, list):
        for e in doc:
            if isinstance(e, dict):
                ids.update(e.keys())
    return ids, doc


def wait_for_hub(hub, want, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            ids, last = hub_study_ids(hub)
            if set(want) <= ids:
                return last
        except (SeedError, OSError) as e:
            last = str(e)
        time.sleep(0.5)
    raise SeedError("the hub did not serve the studies %s within %ds; last answer: %s"
                    % (sorted(want), timeout, json.dumps(last)[:2000]))


def wait_for_search(hub, want, timeout):
    """The hub re-indexes its discovery search a little after a pull."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        _, last = http("GET", hub + "/mds/aggregate/search?q=portal", ok=None)
        text = json.dumps(last)
        if all(w in text for w in want):
            return
        time.sleep(0.5)
    raise SeedError("the hub's search did not find %s within %ds; last answer: %s"
                    % (sorted(want), timeout, json.dumps(last)[:1000]))


# ------------------------------------------------------------------ checks

def graphql_count(base, token, node):
    _, doc = http("POST", base + "/api/v0/submission/graphql",
                  {"query": "{ _%s_count }" % node}, token, ok=(200,))
    return (doc.get("data") or {}).get("_%s_count" % node)


def explorer_histograms(base, token, fields):
    q = "{ _aggregation { case { _totalCount %s } } }" % " ".join(
        "%s { histogram { key count } }" % f for f in fields)
    _, doc = http("POST", base + "/guppy/graphql", {"query": q}, token, ok=(200,))
    agg = ((doc or {}).get("data") or {}).get("_aggregation", {}).get("case")
    if not agg:
        raise SeedError("explorer aggregation: %s" % json.dumps(doc)[:1000])
    return agg["_totalCount"], {
        f: {h["key"]: h["count"] for h in agg[f]["histogram"]} for f in fields}


# ------------------------------------------------------------------ main

def main(plan_path, out_path):
    plan = json.load(open(plan_path))
    a, b, hub = plan["a"], plan["b"], plan["hub"]
    dictionary = json.load(open(plan["dictionary_json"]))
    enum = lambda node, prop: dictionary[node + ".yaml"]["properties"][prop]["enum"]
    authz_a = "/programs/%s/projects/%s" % (PROGRAM, PROJECT)
    authz_b = "/programs/%s/projects/%s" % (B_PROGRAM, B_PROJECT)

    # ---- commons A: a project, an experiment, cases with demographics, two read files
    A, TA = a["url"], a["admin_token"]
    program_and_project(A, TA, PROGRAM, PROJECT, "Portal test project")
    entities, rows = cases_and_demographics("case", N_CASES, "exp-1", 20240614)
    for r in rows:
        for f, node in (("gender", "demographic"), ("race", "demographic"),
                        ("ethnicity", "demographic")):
            assert r[f] in enum(node, f), (f, r[f])
    entities.insert(0, {"type": "experiment", "submitter_id": "exp-1",
                        "projects": {"code": PROJECT}, "type_of_data": "Raw",
                        "experimental_description": "Whole-genome sequencing of the portal cohort"})
    chains = []
    for i, case in enumerate(("case-0001", "case-0002")):
        n = i + 1
        entities += [
            {"type": "sample", "submitter_id": "sample-%d" % n, "cases": {"submitter_id": case},
             "sample_type": "Primary Tumor" if n == 1 else "Blood Derived Normal"},
            {"type": "aliquot", "submitter_id": "aliquot-%d" % n,
             "samples": {"submitter_id": "sample-%d" % n}},
            {"type": "read_group", "submitter_id": "read-group-%d" % n,
             "aliquots": {"submitter_id": "aliquot-%d" % n}},
        ]
        chains.append((case, "read-group-%d" % n))
    submit(A, TA, PROGRAM, PROJECT, entities, "experiment, cases, demographics, samples")

    files = []
    for i, (case, rg) in enumerate(chains):
        name = "%s-reads.fastq" % case
        f = upload(A, TA, name, fastq(case, 20 + 10 * i, i), authz_a)
        f.update({"case": case, "node_type": "submitted_unaligned_reads",
                  "submitter_id": "%s-reads" % case, "data_format": "FASTQ",
                  "experimental_strategy": "WGS"})
        submit(A, TA, PROGRAM, PROJECT, [{
            "type": "submitted_unaligned_reads", "submitter_id": f["submitter_id"],
            "read_groups": {"submitter_id": rg}, "object_id": f["guid"],
            "file_name": name, "file_size": f["size"], "md5sum": f["md5"],
            "data_category": "Sequencing Reads", "data_type": "Unaligned Reads",
            "data_format": "FASTQ", "experimental_strategy": "WGS"}], "file node " + name)
        files.append(f)

    # checks: the graph and the explorer see what was submitted
    if graphql_count(A, TA, "case") != N_CASES:
        raise SeedError("GraphQL does not count %d cases on A" % N_CASES)
    facet_fields = ["gender", "race", "ethnicity", "primary_site"]
    # the explorer changes within a second of each submission (docs/compat/guppy.md)
    deadline = time.monotonic() + 15
    while True:
        total, histograms = explorer_histograms(A, TA, facet_fields)
        if total == N_CASES and len(histograms["race"]) >= 3:
            break
        if time.monotonic() > deadline:
            raise SeedError("explorer on A: %d cases, histograms %s" % (total, histograms))
        time.sleep(0.25)

    # the submission test's TSV: 3 new samples, the 2nd with a sample_type not in the enum
    good_types = enum("sample", "sample_type")
    bad_value = "Primary Tumour"
    assert bad_value not in good_types and "Primary Tumor" in good_types
    header = ["type", "submitter_id", "cases.submitter_id", "sample_type", "composition"]
    tsv_rows = [["sample", "tsv-sample-1", "case-0003", "Primary Tumor", "Solid Tissue"],
                ["sample", "tsv-sample-2", "case-0004", bad_value, "Solid Tissue"],
                ["sample", "tsv-sample-3", "case-0005", "Blood Derived Normal", "Peripheral Whole Blood"]]
    assert "Solid Tissue" in enum("sample", "composition")
    assert "Peripheral Whole Blood" in enum("sample", "composition")
    work = plan["work_dir"]
    tsv_path, fixed_path = work + "/samples-with-bad-row.tsv", work + "/samples-fixed.tsv"
    with open(tsv_path, "w") as fh:
        fh.write("\n".join("\t".join(r) for r in [header] + tsv_rows) + "\n")
    fixed = [r[:] for r in tsv_rows]
    fixed[1][3] = "Primary Tumor"
    with open(fixed_path, "w") as fh:
        fh.write("\n".join("\t".join(r) for r in [header] + fixed) + "\n")

    # ---- commons B: fewer data, no files
    B, TB = b["url"], b["admin_token"]
    program_and_project(B, TB, B_PROGRAM, B_PROJECT, "Portal test project B")
    entities_b, rows_b = cases_and_demographics("caseb", N_CASES_B, "expb-1", 7)
    entities_b.insert(0, {"type": "experiment", "submitter_id": "expb-1",
                          "projects": {"code": B_PROJECT}})
    submit(B, TB, B_PROGRAM, B_PROJECT, entities_b, "experiment, cases, demographics")

    # ---- discovery studies: 2 on A (one lists A's files), 1 on B
    # commons_url with its scheme: without one, Gen3 portals (and weft's) link to https://
    # <commons_url>, which the loopback servers do not serve
    manifest = [{"object_id": f["guid"], "file_name": f["file_name"], "file_size": f["size"],
                 "md5sum": f["md5"], "commons_url": A} for f in files]
    studies_a = {
        "portal-study-a1": study(
            "portal-study-a1", "Portal Lung Sequencing Study", "PLSS",
            "Whole-genome sequencing of forty portal test cases, with clinical data.",
            N_CASES, [{"category": "Data Type", "name": "WGS"},
                      {"category": "Data Type", "name": "Clinical"},
                      {"category": "Program", "name": PROGRAM}],
            authz_a, A, PROJECT_ID, manifest),
        "portal-study-a2": study(
            "portal-study-a2", "Portal Breast Clinical Study", "PBCS",
            "Clinical follow-up of the portal breast cohort; no files yet.",
            12, [{"category": "Data Type", "name": "Clinical"},
                 {"category": "Program", "name": PROGRAM},
                 {"category": "Study Registration", "name": "Registered"}],
            authz_a, A, PROJECT_ID, []),
    }
    studies_b = {
        "portal-study-b1": study(
            "portal-study-b1", "Portal Cardiac Imaging Study", "PCIS",
            "Cardiac MRI of the portal imaging cohort, held by commons B.",
            N_CASES_B, [{"category": "Data Type", "name": "Imaging"},
                        {"category": "Disease", "name": "Cardiovascular"},
                        {"category": "Program", "name": B_PROGRAM}],
            authz_b, B, B_PROGRAM + "-" + B_PROJECT, []),
    }
    put_studies(A, TA, studies_a)
    put_studies(B, TB, studies_b)

    # ---- the hub pulls both
    all_ids = list(studies_a) + list(studies_b)
    t0 = time.monotonic()
    aggregate = wait_for_hub(hub["url"], all_ids, plan.get("hub_timeout", 60))
    wait_for_search(hub["url"], all_ids, 30)
    log("hub serves the %d studies (%.1fs after seeding)" % (len(all_ids), time.monotonic() - t0))

    def server(s, **extra):
        d = {"url": s["url"], "name": s["name"], "admin_token": s["admin_token"],
             "login": s.get("login", False), "data_dir": s["data_dir"]}
        d.update(extra)
        return d

    seed = {
        "a": A, "b": B, "hub": hub["url"],
        "servers": {
            "a": server(a, program=PROGRAM, project=PROJECT, project_id=PROJECT_ID,
                        mock_user_access="read and write on /programs; file_upload on /data_file"
                        + ("; jupyterhub access on /workspace" if plan.get("workspace") else "")),
            "b": server(b, program=B_PROGRAM, project=B_PROJECT,
                        project_id=B_PROGRAM + "-" + B_PROJECT,
                        mock_user_access="read and read-storage on /programs"),
            "hub": server(hub, commons=[a["name"], b["name"]],
                          mock_user_access="none beyond every logged-in user's"),
        },
        "portal": plan.get("portal", False),
        # A's workspaces (run.sh's workspace_toml), when the binary has them
        "workspace": {"kind": "stand-in", "cpu": "0.5", "memory": "512Mi",
                      "pay_model": "Trial Workspace", "soft_limit": 80.0, "hard_limit": 100.0,
                      "notebook_text": "stand-in notebook",
                      "failing_kind": "failing stand-in",
                      "failing_text": "the stand-in notebook failed on purpose"}
        if plan.get("workspace") else None,
        "mock_user": plan["mock_user"],
        "admin_user": plan["admin_user"],
        "program": PROGRAM, "project": PROJECT, "project_id": PROJECT_ID,
        "authz_resource": authz_a,
        "experiment": "exp-1",
        "cases": {
            "count": N_CASES,
            "submitter_ids": [r["submitter_id"] for r in rows],
            "rows": rows,
            "counts": {f: counts(rows, f) for f in facet_fields},
            "explorer_histograms": histograms,
        },
        "b_cases": {"count": N_CASES_B, "project_id": B_PROGRAM + "-" + B_PROJECT,
                    "counts": {f: counts(rows_b, f) for f in facet_fields}},
        "file": files[0],
        "files": files,
        "studies": {"a": list(studies_a), "b": list(studies_b)},
        "study_ids": all_ids,
        "study_docs": {**studies_a, **studies_b},
        "hub_aggregate": aggregate,
        "submission_tsv": {
            "path": tsv_path, "fixed_path": fixed_path, "node_type": "sample",
            "rows": len(tsv_rows), "bad_row": 2, "bad_line": 3,
            "bad_submitter_id": "tsv-sample-2", "bad_field": "sample_type",
            "bad_value": bad_value, "error_type": "INVALID_VALUE",
            "program": PROGRAM, "project": PROJECT,
        },
        "dictionary": plan["dictionary"],
        "etl_mapping": plan.get("etl_mapping") or None,
        "screenshots": plan["screenshots"],
        "work_dir": work,
    }
    with open(out_path, "w") as fh:
        json.dump(seed, fh, indent=2)
        fh.write("\n")
    log("wrote " + out_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        main(sys.argv[1], sys.argv[2])
    except (SeedError, AssertionError, OSError, KeyError) as e:
        print("seed.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
