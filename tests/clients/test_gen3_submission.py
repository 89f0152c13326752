"""The real gen3 SDK's Gen3Submission against weft's graph submission (sheepdog's API under
/api/v0/submission), on gdcdictionary 1.2.0 (run.sh configures it): programs, projects,
JSON records, a TSV file in chunks, exports by record and by node, the dictionary, deletion.

run.sh exports WEFT_URL, WEFT_BIN, WEFT_CLIENTS_DATA_DIR and WEFT_AUTHZ_ADMIN_TOKEN.
"""

import json
import uuid

import pytest
from gen3.auth import Gen3Auth
from gen3.submission import Gen3Submission, Gen3SubmissionQueryError

from weft_admin import BASE, credentials, grant

SFX = uuid.uuid4().hex[:8]
USER = "sdk-submitter-%s@example.org" % SFX
PROGRAM = "SDK%s" % SFX
PROJECT = "proj"
QUERIED = "SDKQ%s" % SFX


@pytest.fixture(scope="module")
def sub(tmp_path_factory):
    tag = "sdk-sub-" + SFX
    grant(tag, USER, "*", "/services/sheepdog/submission/program", "sheepdog")
    grant(tag, USER, "*", "/services/sheepdog/submission/project", "sheepdog")
    for program in (PROGRAM, QUERIED):
        for m in ("create", "read", "update", "delete"):
            grant(tag, USER, m, "/programs/%s/projects/%s" % (program, PROJECT), "sheepdog")
    grant(tag, USER, "read", "/programs/%s" % QUERIED, "peregrine")
    path = credentials(USER, tmp_path_factory.mktemp("creds"))
    return Gen3Submission(BASE, Gen3Auth(refresh_file=path))


def test_programs_projects_records_files_exports_and_deletion(sub, tmp_path):
    r = sub.create_program({"type": "program", "name": PROGRAM, "dbgap_accession_number": "phs-" + SFX})
    assert r["message"] == "Program registered."
    r = sub.create_project(PROGRAM, {"type": "project", "code": PROJECT, "name": PROJECT,
                                     "dbgap_accession_number": "phs-p-" + SFX})
    assert r["success"] is True and r["code"] == 201
    assert "/v0/submission/%s" % PROGRAM in sub.get_programs()["links"]
    assert sub.get_projects(PROGRAM)["links"] == ["/v0/submission/%s/%s" % (PROGRAM, PROJECT)]

    r = sub.submit_record(PROGRAM, PROJECT, [
        {"type": "experiment", "submitter_id": "exp-1", "projects": {"code": PROJECT}},
        {"type": "case", "submitter_id": "case-1", "experiments": {"submitter_id": "exp-1"}},
    ])
    assert r["success"] is True, r
    case_id = r["entities"][1]["id"]

    # A TSV file of 70 samples, submitted by the SDK in chunks of 30 (three PUTs).
    tsv = tmp_path / "samples.tsv"
    rows = ["type\tsubmitter_id\tcases.submitter_id\tcomposition"]
    rows += ["sample\ts-%d\tcase-1\tSolid Tissue" % i for i in range(70)]
    tsv.write_text("\n".join(rows) + "\n")
    results = sub.submit_file("%s-%s" % (PROGRAM, PROJECT), str(tsv))
    assert len(set(results["succeeded"])) == 70, results
    assert not results["invalid"], results["invalid"]

    out = sub.export_record(PROGRAM, PROJECT, case_id, "json")
    assert out[0]["submitter_id"] == "case-1" and out[0]["experiments"][0]["submitter_id"] == "exp-1"
    node_tsv = sub.export_node(PROGRAM, PROJECT, "sample", "tsv")
    lines = node_tsv.strip().split("\n")
    assert lines[0].split("\t")[:2] == ["type", "id"] and len(lines) == 71

    case_schema = sub.get_dictionary_node("case")
    assert case_schema["id"] == "case"
    assert "sample" in sub.get_dictionary_all()
    assert sub.get_project_dictionary(PROGRAM, PROJECT)["links"]

    samples = json.loads(json.dumps(sub.export_node(PROGRAM, PROJECT, "sample", "json")))
    ids = [s["id"] for s in samples]
    assert len(ids) == 70
    sub.delete_records(PROGRAM, PROJECT, ids, batch_size=25)
    assert sub.export_node(PROGRAM, PROJECT, "sample", "json") == []
    sub.delete_record(PROGRAM, PROJECT, case_id)
    exp = sub.export_node(PROGRAM, PROJECT, "experiment", "json")
    sub.delete_records(PROGRAM, PROJECT, [e["id"] for e in exp])
    sub.delete_project(PROGRAM, PROJECT)
    sub.delete_program(PROGRAM)
    assert "/v0/submission/%s" % PROGRAM not in sub.get_programs()["links"]


def test_graphql_query_schema_errors_and_delete_nodes(sub):
    """Gen3Submission.query (peregrine's GraphQL), get_graphql_schema, and delete_nodes,
    which finds each node type's records with a query before deleting them."""
    sub.create_program({"type": "program", "name": QUERIED, "dbgap_accession_number": "phs-q-" + SFX})
    r = sub.create_project(QUERIED, {"type": "project", "code": PROJECT, "name": PROJECT,
                                     "dbgap_accession_number": "phs-qp-" + SFX})
    assert r["success"] is True, r
    pid = "%s-%s" % (QUERIED, PROJECT)
    records = [{"type": "experiment", "submitter_id": "exp-1", "projects": {"code": PROJECT}}]
    records += [{"type": "case", "submitter_id": "case-%d" % i, "experiments": {"submitter_id": "exp-1"}}
                for i in range(3)]
    assert sub.submit_record(QUERIED, PROJECT, records)["success"] is True

    out = sub.query('{ case(first: 0, project_id: "%s", order_by_asc: "submitter_id") '
                    '{ submitter_id experiments { submitter_id } } _case_count(project_id: "%s") }'
                    % (pid, pid))
    assert [c["submitter_id"] for c in out["data"]["case"]] == ["case-0", "case-1", "case-2"]
    assert out["data"]["case"][0]["experiments"] == [{"submitter_id": "exp-1"}]
    assert out["data"]["_case_count"] == 3
    out = sub.query("query($p: [String]) { experiment(project_id: $p) { _cases_count } }",
                    variables={"p": [pid]})
    assert out["data"]["experiment"] == [{"_cases_count": 3}]
    with pytest.raises(Gen3SubmissionQueryError):
        sub.query("{ case { no_such_field } }")

    schema = sub.get_graphql_schema()
    names = {t["name"] for t in schema["data"]["__schema"]["types"]}
    assert {"case", "experiment", "Root"} <= names

    sub.delete_nodes(QUERIED, PROJECT, ["case", "experiment"])
    out = sub.query('{ _case_count(project_id: "%s") _experiment_count(project_id: "%s") }' % (pid, pid))
    assert out["data"] == {"_case_count": 0, "_experiment_count": 0}
    sub.delete_project(QUERIED, PROJECT)
    sub.delete_program(QUERIED)
