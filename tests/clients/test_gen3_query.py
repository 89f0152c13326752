"""The real gen3 SDK's Gen3Query against weft's explorer (guppy's API under /guppy), on
gdcdictionary 1.2.0 with tube's mapping of tests/explore (run.sh configures both): records
submitted through sheepdog's API show up in guppy with no manual step; queries, GraphQL,
raw downloads, and the SDK's own switch to /download past 10,000 rows.

run.sh exports WEFT_URL, WEFT_BIN, WEFT_CLIENTS_DATA_DIR and WEFT_AUTHZ_ADMIN_TOKEN.
"""

import time
import uuid

import pytest
from gen3.auth import Gen3Auth
from gen3.query import Gen3Query
from gen3.submission import Gen3Submission

from weft_admin import BASE, credentials, grant

SFX = uuid.uuid4().hex[:8]
USER = "sdk-explorer-%s@example.org" % SFX
PROGRAM = "SDKX%s" % SFX
PROJECT = "proj"


@pytest.fixture(scope="module")
def auth(tmp_path_factory):
    tag = "sdk-x-" + SFX
    grant(tag, USER, "*", "/services/sheepdog/submission/program", "sheepdog")
    grant(tag, USER, "*", "/services/sheepdog/submission/project", "sheepdog")
    grant(tag, USER, "*", "/programs/%s" % PROGRAM, "sheepdog")
    grant(tag, USER, "read", "/programs/%s/projects/%s" % (PROGRAM, PROJECT), "guppy")
    return Gen3Auth(endpoint=BASE, refresh_file=credentials(USER, tmp_path_factory.mktemp("creds")))


def until(check, what):
    """Ask again until check() holds: documents follow submissions within a second."""
    deadline = time.time() + 15
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, "not reached in 15 s: " + what
        time.sleep(0.2)


def test_submitted_records_are_queried_aggregated_and_downloaded(auth):
    sub = Gen3Submission(BASE, auth)
    sub.create_program({"type": "program", "name": PROGRAM, "dbgap_accession_number": "phs-x-" + SFX})
    r = sub.create_project(PROGRAM, {"type": "project", "code": PROJECT, "name": PROJECT,
                                     "dbgap_accession_number": "phs-xp-" + SFX})
    assert r["success"] is True, r
    records = [{"type": "experiment", "submitter_id": "exp-1", "projects": {"code": PROJECT}}]
    for i in range(12):
        records.append({"type": "case", "submitter_id": "case-%02d" % i,
                        "experiments": {"submitter_id": "exp-1"}, "primary_site": "Lung" if i % 3 else "Brain"})
        records.append({"type": "demographic", "submitter_id": "demo-%02d" % i,
                        "cases": {"submitter_id": "case-%02d" % i},
                        "gender": "female" if i % 2 else "male"})
    for i in range(5):
        records.append({"type": "sample", "submitter_id": "s-%d" % i, "cases": {"submitter_id": "case-00"}})
    r = sub.submit_record(PROGRAM, PROJECT, records)
    assert r["success"] is True, r

    q = Gen3Query(auth)
    project_id = "%s-%s" % (PROGRAM, PROJECT)
    # no ETL to run: the records are there
    r = until(lambda: (lambda r: len(r["data"]["case"]) == 12 and r)(
        q.query("case", ["submitter_id", "gender", "_samples_count", "experiment_submitter_id"],
                first=20, filters={"project_id": project_id}, sort_object={"submitter_id": "asc"})),
        "12 cases in guppy")
    cases = r["data"]["case"]
    assert [c["submitter_id"] for c in cases] == ["case-%02d" % i for i in range(12)]
    assert cases[0] == {"submitter_id": "case-00", "gender": "M", "_samples_count": 5,
                        "experiment_submitter_id": ["exp-1"]}
    assert cases[1]["gender"] == "F"

    # a page, a filter object, a sort
    r = q.query("case", ["submitter_id"], first=2, offset=3,
                filter_object={"AND": [{"=": {"project_id": project_id}}, {"=": {"primary_site": "Lung"}}]},
                sort_object={"submitter_id": "desc"})
    assert [c["submitter_id"] for c in r["data"]["case"]] == ["case-07", "case-05"]

    # GraphQL as the portal sends it
    r = q.graphql_query(
        "query($filter: JSON) { _aggregation { case(filter: $filter, filterSelf: false, accessibility: accessible) "
        "{ _totalCount gender { histogram { key count } } primary_site { histogram { key count } } } } }",
        variables={"filter": {"AND": [{"IN": {"gender": ["F"]}}, {"IN": {"project_id": [project_id]}}]}})
    agg = r["data"]["_aggregation"]["case"]
    assert agg["_totalCount"] == 6
    assert agg["gender"]["histogram"] == [{"key": "M", "count": 6}, {"key": "F", "count": 6}]
    assert agg["primary_site"]["histogram"] == [{"key": "Lung", "count": 4}, {"key": "Brain", "count": 2}]
    r = q.graphql_query("{ case(filter: {nope: {submitter_id: \"x\"}}) { submitter_id } }")
    assert r["errors"][0]["message"] == 'Invalid operation "nope" in filter argument.'

    # the raw download, and the SDK's switch to it past 10,000 rows
    rows = q.raw_data_download("case", ["submitter_id", "_samples_count"],
                               filter_object={"=": {"project_id": project_id}},
                               sort_fields=[{"submitter_id": "asc"}])
    assert len(rows) == 12
    assert rows[0] == {"submitter_id": "case-00", "_samples_count": 5}
    r = q.query("case", ["submitter_id"], first=10000, offset=10,
                filters={"project_id": project_id}, sort_object={"submitter_id": "asc"})
    assert [c["submitter_id"] for c in r["data"]["case"]] == ["case-10", "case-11"]
