//! Graph submission (sheepdog's API under `/api/v0/submission`) on the two real dictionaries
//! of PyPI, over HTTP, on the backend the suite runs on.

use reqwest::Method;
use serde_json::{Value, json};
use weft_dictionary::testing::{REAL, real_dictionaries};

use crate::support::{Resp, TestApp};

pub(crate) const SUBMITTER: &str = "submitter@weft.test";
pub(crate) const READER: &str = "reader@weft.test";
pub(crate) const ADMIN: &str = "sheepdog-admin@weft.test";
pub(crate) const BASE: &str = "/api/v0/submission";

/// A server on the dictionary `name` (a directory, or with `dump` its JSON dump), with a
/// program `P` and a project `P-Q`; [`ADMIN`] administers programs and projects,
/// [`SUBMITTER`] may do everything on the project, [`READER`] only read it.
pub(crate) async fn app(name: &str, dump: bool) -> Option<TestApp> {
    app_with(name, dump, |_| {}).await
}

/// [`app`] with more configuration.
pub(crate) async fn app_with(
    name: &str,
    dump: bool,
    more: impl FnOnce(&mut weft_config::Config),
) -> Option<TestApp> {
    let dir = real_dictionaries()?;
    let url = if dump {
        dir.join(format!("{name}.json"))
    } else {
        dir.join(name)
    };
    let app = TestApp::start_with(|c| {
        c.dictionary.url = Some(url.display().to_string());
        more(c);
    })
    .await;
    app.grant(ADMIN, "sheepdog", "*", weft_graph::PROGRAM_ADMIN)
        .await;
    app.grant(ADMIN, "sheepdog", "*", weft_graph::PROJECT_ADMIN)
        .await;
    for m in ["create", "read", "update", "delete"] {
        app.grant(SUBMITTER, "sheepdog", m, "/programs/P/projects/Q")
            .await;
    }
    app.grant(READER, "sheepdog", "read", "/programs/P/projects/Q")
        .await;
    let admin = app.token(ADMIN);
    let r = send(
        &app,
        Method::POST,
        BASE,
        "application/json",
        json!({"type": "program", "name": "P", "dbgap_accession_number": "phs1"}).to_string(),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["message"], "Program registered.");
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P"),
        "application/json",
        json!({"type": "project", "code": "Q", "name": "Q", "dbgap_accession_number": "phs2"})
            .to_string(),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["entities"][0]["action"], "create");
    Some(app)
}

pub(crate) async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: &str,
    body: String,
    token: Option<&str>,
) -> Resp {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.url))
        .header("content-type", content_type)
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Resp::read(req.send().await.expect("request")).await
}

pub(crate) async fn submit(app: &TestApp, method: Method, docs: Value) -> Resp {
    let t = app.token(SUBMITTER);
    send(
        app,
        method,
        &format!("{BASE}/P/Q"),
        "application/json",
        docs.to_string(),
        Some(&t),
    )
    .await
}

pub(crate) fn graph() -> Value {
    json!([
        {"type": "experiment", "submitter_id": "exp-1", "projects": {"code": "Q"}},
        {"type": "case", "submitter_id": "case-1", "experiments": {"submitter_id": "exp-1"}},
        {"type": "case", "submitter_id": "case-2", "experiments": [{"submitter_id": "exp-1"}]},
        {"type": "sample", "submitter_id": "s-1", "cases": {"submitter_id": "case-1"}},
    ])
}

#[tokio::test]
async fn programs_projects_and_a_linked_submission_on_both_real_dictionaries() {
    for (name, dump) in [(REAL[0], false), (REAL[1], true)] {
        let Some(app) = app(name, dump).await else {
            return;
        };
        let t = app.token(SUBMITTER);
        let r = app.call(Method::GET, BASE, None, Some(&t)).await;
        assert_eq!(r.json, json!({"links": ["/v0/submission/P"]}), "{name}");
        let r = app
            .call(Method::GET, &format!("{BASE}/P/"), None, Some(&t))
            .await;
        assert_eq!(r.json, json!({"links": ["/v0/submission/P/Q"]}), "{name}");

        // POST creates everything in one transaction, links resolved within it.
        let r = submit(&app, Method::POST, graph()).await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        let v = &r.json;
        assert_eq!(
            (
                v["success"].clone(),
                v["code"].clone(),
                v["created_entity_count"].clone()
            ),
            (json!(true), json!(201), json!(4))
        );
        assert_eq!(v["message"], "Transaction successful.");
        assert!(v["transaction_id"].as_i64().is_some());
        assert_eq!(
            v["entities"][1]["unique_keys"][0],
            json!({"project_id": "P-Q", "submitter_id": "case-1"})
        );
        let case_id = v["entities"][1]["id"].as_str().unwrap().to_owned();

        // The same POST again: every entity exists already, nothing is written.
        let r = submit(&app, Method::POST, graph()).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.json["entities"][0]["errors"][0]["type"], "NOT_UNIQUE");
        assert_eq!(r.json["created_entity_count"], 0);

        // PUT updates by submitter_id, keeping links not named.
        let r = submit(
            &app,
            Method::PUT,
            json!({"type": "case", "submitter_id": "case-1", "primary_site": "Lung"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["entities"][0]["action"], "update");
        assert_eq!(r.json["entities"][0]["id"], case_id.as_str());
        assert_eq!(r.json["updated_entity_count"], 1);

        let r = app
            .call(
                Method::GET,
                &format!("{BASE}/P/Q/entities/{case_id}"),
                None,
                Some(&t),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let e = &r.json["entities"][0];
        assert_eq!(
            (e["program"].clone(), e["project"].clone()),
            (json!("P"), json!("Q"))
        );
        let p = &e["properties"];
        assert_eq!(p["primary_site"], "Lung");
        assert_eq!(p["project_id"], "P-Q");
        assert_eq!(p["state"], "validated");
        assert_eq!(p["experiments"][0]["submitter_id"], "exp-1");
        // The experiment's link to its project shows the project's code, as submitted.
        let exp = app
            .call(
                Method::GET,
                &format!("{BASE}/P/Q/export?node_label=experiment&format=tsv"),
                None,
                Some(&t),
            )
            .await;
        let mut rows = exp.text.lines().map(|l| l.split('\t').collect::<Vec<_>>());
        let header = rows.next().unwrap();
        let row = rows.next().unwrap();
        let col = header.iter().position(|h| *h == "projects.code").unwrap();
        assert_eq!(row[col], "Q", "{}", exp.text);
        assert_eq!(p["type"], "case");

        // A reader may read but not write.
        let reader = app.token(READER);
        let r = app
            .call(
                Method::GET,
                &format!("{BASE}/P/Q/entities/{case_id}"),
                None,
                Some(&reader),
            )
            .await;
        assert_eq!(r.status, 200);
        let r = send(
            &app,
            Method::POST,
            &format!("{BASE}/P/Q"),
            "application/json",
            graph().to_string(),
            Some(&reader),
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.json["message"].is_string(), "{}", r.text);
        let r = send(
            &app,
            Method::POST,
            &format!("{BASE}/P/Q"),
            "application/json",
            graph().to_string(),
            None,
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
        app.stop().await;
    }
}

#[tokio::test]
async fn invalid_entities_are_named_and_nothing_is_written() {
    let Some(app) = app(REAL[0], false).await else {
        return;
    };
    let docs = json!([
        {"type": "experiment", "submitter_id": "exp-1", "projects": {"code": "Q"}},
        {"type": "case", "submitter_id": "c-ok", "experiments": {"submitter_id": "exp-1"}},
        {"type": "case", "submitter_id": "c-bad", "experiments": {"submitter_id": "nope"}},
        {"type": "sample", "submitter_id": "s-1", "cases": {"submitter_id": "c-ok"}, "composition": "Soup"},
        {"type": "case", "experiments": {"submitter_id": "exp-1"}},
        {"type": "no_such_node", "submitter_id": "x"},
        {"type": "case", "submitter_id": "c-ok", "experiments": {"submitter_id": "exp-1"}},
        {"type": "case", "submitter_id": "c-extra", "experiments": {"submitter_id": "exp-1"}, "colour": "red"},
    ]);
    let r = submit(&app, Method::POST, docs).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let v = r.json;
    assert_eq!(v["success"], false);
    let errors = |i: usize| v["entities"][i]["errors"].clone();
    assert_eq!(errors(0), json!([]));
    assert_eq!(errors(2)[0]["type"], "INVALID_LINK");
    assert!(
        errors(2)[0]["message"].as_str().unwrap().contains("nope"),
        "{}",
        errors(2)
    );
    assert_eq!(errors(3)[0]["type"], "INVALID_VALUE");
    assert_eq!(errors(3)[0]["keys"], json!(["composition"]));
    assert!(errors(3)[0]["message"].as_str().unwrap().contains("Soup"));
    assert_eq!(errors(4)[0]["type"], "MISSING_PROPERTY");
    assert_eq!(errors(5)[0]["type"], "INVALID_TYPE");
    assert_eq!(errors(6)[0]["type"], "NOT_UNIQUE");
    assert_eq!(errors(7)[0]["type"], "INVALID_PROPERTY");
    assert_eq!(errors(7)[0]["keys"], json!(["colour"]));
    assert_eq!(v["entity_error_count"], 6);
    assert_eq!(
        v["message"],
        "Transaction aborted due to 6 invalid entities."
    );
    // Nothing of it was written: the valid experiment is not there.
    let t = app.token(SUBMITTER);
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=experiment&format=json"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!([]));

    // Malformed bodies and unknown places: clear 4xx, never 500.
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/P/Q"),
        "application/json",
        "{not json".into(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["message"].as_str().unwrap().contains("JSON"),
        "{}",
        r.text
    );
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/P/NOPE"),
        "application/json",
        "[]".into(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = submit(&app, Method::POST, json!([])).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json["transactional_errors"][0]["message"],
        "Nothing to submit"
    );
    let r = submit(&app, Method::POST, json!([5, "x"])).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["entities"][0]["errors"][0]["type"], "INVALID_VALUE");
    // A NUL character anywhere (PostgreSQL refuses it in text): a 400, never a 500.
    for doc in [
        json!({"type": "experiment", "submitter_id": "e\u{0}1", "projects": {"code": "Q"}}),
        json!({"type": "experiment", "submitter_id": "e2", "projects": {"code": "Q\u{0}"}}),
        json!({"type": "experiment", "submitter_id": "e3", "projects": {"code": "Q"}, "type_of_data": "x\u{0}"}),
    ] {
        let r = submit(&app, Method::PUT, doc).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/entities/a%00b"),
            None,
            Some(&t),
        )
        .await;
    assert!(r.status == 400 || r.status == 404, "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn tsv_submission_dry_run_export_and_delete() {
    let Some(app) = app(REAL[1], false).await else {
        return;
    };
    let t = app.token(SUBMITTER);
    submit(&app, Method::POST, graph()).await;
    let tsv = "type\t*submitter_id\tcases.submitter_id\tcomposition\tcurrent_weight\tis_ffpe\n\
               sample\ts-2\tcase-1\tSolid Tissue\t12.5\ttrue\n\
               sample\ts-3\tcase-2\t\t7\tFALSE\n";
    // A dry run checks and writes nothing.
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q/_dry_run"),
        "text/tab-separated-values",
        tsv.into(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("dry run"));
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=sample&format=json"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.json.as_array().unwrap().len(), 1, "{}", r.text);

    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q"),
        "text/tab-separated-values",
        tsv.into(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["created_entity_count"], 2);

    // Export by node type as TSV (the SDK's trailing-slash form), then as JSON.
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export/?node_label=sample&format=tsv"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut lines = r.text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(&header[..2], ["type", "id"]);
    assert!(
        header.contains(&"cases.submitter_id") && header.contains(&"composition"),
        "{header:?}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 3);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let s3 = rows
        .iter()
        .find(|r| r[col("submitter_id")] == "s-3")
        .unwrap();
    assert_eq!(s3[col("cases.submitter_id")], "case-2");
    assert_eq!(s3[col("is_ffpe")], "false");
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=sample&format=json"),
            None,
            Some(&t),
        )
        .await;
    let s2 = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["submitter_id"] == "s-2")
        .unwrap()
        .clone();
    assert_eq!(s2["current_weight"], 12.5);
    assert_eq!(s2["is_ffpe"], true);

    // sample.cases is many_to_one: two cases in one cell are refused.
    let two = "type\tsubmitter_id\tcases.submitter_id\nsample\ts-5\tcase-1,case-2\n";
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q"),
        "text/tab-separated-values",
        two.into(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["entities"][0]["errors"][0]["type"], "INVALID_LINK");
    assert!(
        r.json["entities"][0]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("many_to_one")
    );

    // A TSV with a bad row names its line.
    let bad =
        "type\tsubmitter_id\tcases.submitter_id\tcurrent_weight\nsample\ts-4\tcase-1\theavy\n";
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q"),
        "text/tab-separated-values",
        bad.into(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 400);
    let m = r.json["entities"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(m.starts_with("line 2:") && m.contains("heavy"), "{m}");

    // Deleting a case with samples is refused; samples first, then the case.
    let case_1 = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=case&format=json"),
            None,
            Some(&t),
        )
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["submitter_id"] == "case-1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/{case_1}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["dependent_ids"], case_1.as_str());
    let samples: Vec<String> = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=sample&format=json"),
            None,
            Some(&t),
        )
        .await
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    let all = format!("{},{case_1}", samples.join(","));
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/_dry_run/{all}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // case-2 still links from s-3? No: s-3 is deleted too, so only case-1's samples matter.
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/{all}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["deleted_entity_count"], 4);
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/entities/{case_1}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn file_nodes_register_index_records_in_the_same_transaction() {
    let Some(app) = app(REAL[0], false).await else {
        return;
    };
    let t = app.token(SUBMITTER);
    let md5 = "0123456789abcdef0123456789abcdef";
    let mut docs = graph();
    docs.as_array_mut().unwrap().extend([
        json!({"type": "core_metadata_collection", "submitter_id": "cmc-1", "projects": {"code": "Q"}}),
        json!({"type": "submitted_unaligned_reads", "submitter_id": "reads-1",
               "core_metadata_collections": {"submitter_id": "cmc-1"},
               "data_category": "Sequencing Reads", "data_format": "FASTQ", "data_type": "Unaligned Reads",
               "experimental_strategy": "WGS", "file_name": "r1.fastq", "file_size": 42, "md5sum": md5,
               "urls": "s3://bucket/r1.fastq"}),
    ]);
    let r = submit(&app, Method::POST, docs).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let reads_id = r.json["entities"][5]["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/entities/{reads_id}"),
            None,
            Some(&t),
        )
        .await;
    let did = r.json["entities"][0]["properties"]["object_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rec = app.get(&format!("/index/index/{did}")).await.expect(200);
    assert_eq!(rec["hashes"]["md5"], md5);
    assert_eq!(rec["size"], 42);
    assert_eq!(rec["file_name"], "r1.fastq");
    assert_eq!(rec["urls"], json!(["s3://bucket/r1.fastq"]));
    assert_eq!(rec["authz"], json!(["/programs/P/projects/Q"]));
    let aliases = app.get(&format!("/index/index/{did}/aliases")).await;
    assert!(aliases.text.contains("P-Q/reads-1"), "{}", aliases.text);

    // The manifest lists it.
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/manifest?ids={reads_id}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("local_file_path") && r.text.contains("r1.fastq"),
        "{}",
        r.text
    );

    // A second file with the same MD5 and size links to the same record.
    let again = json!({"type": "submitted_unaligned_reads", "submitter_id": "reads-2",
        "core_metadata_collections": {"submitter_id": "cmc-1"}, "data_category": "Sequencing Reads",
        "data_format": "FASTQ", "data_type": "Unaligned Reads", "experimental_strategy": "WGS",
        "file_name": "r1.fastq", "file_size": 42, "md5sum": md5});
    let r = submit(&app, Method::POST, again).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id2 = r.json["entities"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/entities/{id2}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(
        r.json["entities"][0]["properties"]["object_id"],
        did.as_str()
    );
    app.stop().await;
}

#[tokio::test]
async fn dictionary_and_template_routes() {
    let Some(app) = app(REAL[0], false).await else {
        return;
    };
    let r = app.get(&format!("{BASE}/_dictionary")).await.expect(200);
    let links = r["links"].as_array().unwrap();
    assert!(links.contains(&json!("/v0/submission/_dictionary/case")));
    assert_eq!(links.last().unwrap(), "/v0/submission/_dictionary/_all");
    let case = app
        .get(&format!("{BASE}/_dictionary/case"))
        .await
        .expect(200);
    assert_eq!(case["id"], "case");
    assert_eq!(case["links"][0]["target_type"], "experiment");
    let all = app
        .get(&format!("{BASE}/_dictionary/_all"))
        .await
        .expect(200);
    assert!(all["_definitions"].is_object() && all["sample"].is_object());
    let r = app.get(&format!("{BASE}/_dictionary/nope")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["message"], "Entry nope not in dictionary");

    let r = app.get(&format!("{BASE}/template/case?format=tsv")).await;
    assert_eq!(r.status, 200);
    let header: Vec<&str> = r.text.lines().next().unwrap().split('\t').collect();
    assert_eq!(header[0], "*type");
    assert!(
        header.contains(&"*submitter_id") && header.contains(&"*experiments.submitter_id"),
        "{header:?}"
    );
    assert!(
        !header.contains(&"id") && !header.contains(&"state"),
        "{header:?}"
    );
    let second = r.text.lines().nth(1).unwrap();
    assert!(second.starts_with("case\t"));
    let r = app
        .get(&format!("{BASE}/template/case?format=json"))
        .await
        .expect(200);
    assert_eq!(r["*type"], "case");
    let r = app
        .get(&format!("{BASE}/template?format=json"))
        .await
        .expect(200);
    assert!(r.as_array().unwrap().len() > 10);
    let r = app.get(&format!("{BASE}/template/nope")).await;
    assert_eq!(r.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn without_a_dictionary_there_is_no_submission_api() {
    let app = TestApp::start().await;
    let r = app.get(&format!("{BASE}/_dictionary")).await;
    assert_eq!(r.status, 404);
    assert!(
        r.json["message"].as_str().unwrap().contains("dictionary"),
        "{}",
        r.text
    );
    let home = app.get("/").await;
    assert!(
        home.text.contains("no data dictionary is configured"),
        "{}",
        home.text
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_documents_are_one_transaction() {
    let Some(app) = app(REAL[0], false).await else {
        return;
    };
    let t = app.token(SUBMITTER);
    let body = json!([
        {"name": "exp.json", "doc_format": "json",
         "doc": json!([{"type": "experiment", "submitter_id": "exp-1", "projects": {"code": "Q"}}]).to_string()},
        {"name": "cases.tsv", "doc_format": "tsv",
         "doc": "type\tsubmitter_id\texperiments.submitter_id\ncase\tc-1\texp-1\ncase\tc-2\texp-1\n"},
    ]);
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q/bulk/_dry_run"),
        "application/json",
        body.to_string(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q/bulk"),
        "application/json",
        body.to_string(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["message"], "Bulk Transaction succeeded.");
    assert_eq!(r.json["created_entity_count"], 3);
    assert_eq!(r.json["subtransactions"][1]["name"], "cases.tsv");
    assert_eq!(
        r.json["subtransactions"][1]["response_json"]["entities"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // One bad document and nothing of either is written.
    let bad = json!([
        {"name": "ok.tsv", "doc_format": "tsv", "doc": "type\tsubmitter_id\texperiments.submitter_id\ncase\tc-3\texp-1\n"},
        {"name": "bad.json", "doc_format": "json", "doc": json!({"type": "case", "submitter_id": "c-4", "experiments": {"submitter_id": "nope"}}).to_string()},
    ]);
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/P/Q/bulk"),
        "application/json",
        bad.to_string(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["message"], "Bulk Transaction failed.");
    assert_eq!(r.json["document_error_count"], 2);
    let cases = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=case&format=json"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(cases.json.as_array().unwrap().len(), 2, "{}", cases.text);
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/P/Q/bulk"),
        "application/json",
        "{\"doc\": 1}".into(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("Bulk transfers must be an array")
    );
    app.stop().await;
}

#[tokio::test]
async fn project_states_open_review_submit_release() {
    let Some(app) = app(REAL[0], false).await else {
        return;
    };
    app.grant(SUBMITTER, "sheepdog", "release", "/programs/P/projects/Q")
        .await;
    let t = app.token(SUBMITTER);
    submit(&app, Method::POST, graph()).await;
    let go = |action: &'static str| {
        let app = &app;
        let t = t.clone();
        async move {
            app.call(Method::PUT, &format!("{BASE}/P/Q/{action}"), None, Some(&t))
                .await
        }
    };
    let r = go("submit").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["message"].as_str().unwrap().contains("review"),
        "{}",
        r.text
    );
    let r = go("release").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(go("review").await.status, 200);
    let r = go("submit").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["submitted_entity_count"], 4);
    let cases = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=case&format=json"),
            None,
            Some(&t),
        )
        .await;
    assert!(
        cases
            .json
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "submitted"),
        "{}",
        cases.text
    );
    assert_eq!(go("release").await.status, 200);
    let r = go("release").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["message"], "Project is already released.");
    // Without `release` on the project: 403.
    let r = app
        .call(
            Method::PUT,
            &format!("{BASE}/P/Q/open"),
            None,
            Some(&app.token(READER)),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .call(Method::PUT, &format!("{BASE}/P/Q/launch"), None, Some(&t))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn upload_manifests_are_validated() {
    let Some(app) = app(REAL[1], false).await else {
        return;
    };
    let good = "files:\n- id: 0123abcd-0123-4567-89ab-0123456789ab\n  file_name: a.bam\n  project_id: P-Q\n";
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/validation/upload_manifest"),
        "application/x-yaml",
        good.into(),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"valid": true}));
    let bad = json!({"files": [{"id": "nope", "project_id": "P-Q"}]});
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/validation/upload_manifest"),
        "application/json",
        bad.to_string(),
        None,
    )
    .await;
    assert_eq!(r.json["valid"], false);
    assert!(
        r.json["errors"].as_array().unwrap().len() >= 2,
        "{}",
        r.text
    );
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/validation/upload_manifest"),
        "application/json",
        "{nope".into(),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_on_each_route_is_a_clear_4xx() {
    let Some(app) = app(REAL[0], false).await else {
        return;
    };
    let (admin, t) = (app.token(ADMIN), app.token(SUBMITTER));
    let json = "application/json";
    // (method, path, body, token, status, what the message names)
    type Case<'a> = (Method, String, String, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            Method::POST,
            format!("{BASE}/"),
            json!({"type": "project", "name": "X"}).to_string(),
            Some(&admin),
            400,
            "Invalid type",
        ),
        (
            Method::POST,
            format!("{BASE}/"),
            json!({"type": "program"}).to_string(),
            Some(&admin),
            400,
            "name",
        ),
        (
            Method::POST,
            format!("{BASE}/"),
            json!({"type": "program", "name": "X"}).to_string(),
            Some(&t),
            403,
            "",
        ),
        (
            Method::POST,
            format!("{BASE}/"),
            json!({"type": "program", "name": "X"}).to_string(),
            None,
            401,
            "",
        ),
        (
            Method::POST,
            format!("{BASE}/"),
            "[1, 2".into(),
            Some(&admin),
            400,
            "JSON",
        ),
        (
            Method::PUT,
            format!("{BASE}/P"),
            json!({"type": "project", "name": "X"}).to_string(),
            Some(&admin),
            400,
            "code",
        ),
        (
            Method::PUT,
            format!("{BASE}/P"),
            json!({"type": "project", "code": "a b"}).to_string(),
            Some(&admin),
            400,
            "project code",
        ),
        (
            Method::PUT,
            format!("{BASE}/NOPE"),
            json!({"type": "project", "code": "c"}).to_string(),
            Some(&admin),
            404,
            "Program NOPE",
        ),
        (
            Method::DELETE,
            format!("{BASE}/P"),
            String::new(),
            Some(&admin),
            400,
            "not empty",
        ),
        (
            Method::GET,
            format!("{BASE}/P/Q/export"),
            String::new(),
            Some(&t),
            400,
            "node_label",
        ),
        (
            Method::GET,
            format!("{BASE}/P/Q/export?node_label=case&format=xml"),
            String::new(),
            Some(&t),
            400,
            "format",
        ),
        (
            Method::GET,
            format!("{BASE}/P/Q/export?node_label=nope"),
            String::new(),
            Some(&t),
            400,
            "node_label",
        ),
        (
            Method::GET,
            format!("{BASE}/P/Q/manifest"),
            String::new(),
            Some(&t),
            400,
            "ids",
        ),
        (
            Method::GET,
            format!("{BASE}/template/case?format=xml"),
            String::new(),
            None,
            400,
            "format",
        ),
        (
            Method::GET,
            format!("{BASE}/template?format=tsv"),
            String::new(),
            None,
            400,
            "JSON",
        ),
        (
            Method::GET,
            format!("{BASE}/P/Q/_dictionary"),
            String::new(),
            None,
            401,
            "",
        ),
        (
            Method::GET,
            format!("{BASE}/P/Q/_dictionary/nope"),
            String::new(),
            Some(&t),
            404,
            "nope",
        ),
        (
            Method::PUT,
            format!("{BASE}/P/Q/bulk"),
            json!([{"name": "x", "doc_format": "xml", "doc": ""}]).to_string(),
            Some(&t),
            400,
            "doc_format",
        ),
    ];
    for (method, path, body, token, status, needle) in cases {
        let r = send(&app, method.clone(), &path, json, body, token).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text);
        let m = r.json["message"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no message in {}", r.text));
        assert!(m.contains(needle), "{method} {path}: {m}");
    }
    // An unknown id in a deletion is that entity's NOT_FOUND, and nothing is deleted.
    submit(&app, Method::POST, graph()).await;
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/0123abcd-0123-4567-89ab-0123456789ab"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["entities"][0]["errors"][0]["type"], "NOT_FOUND");
    let r = app
        .call(Method::DELETE, &format!("{BASE}/P/Q"), None, Some(&admin))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.json["message"].as_str().unwrap().contains("not empty"));
    app.stop().await;
}

#[tokio::test]
async fn dry_runs_are_committed_or_closed() {
    let Some(app) = app(REAL[1], false).await else {
        return;
    };
    let t = app.token(SUBMITTER);
    let tx = |id: &Value, action: &str| format!("{BASE}/P/Q/transactions/{id}/{action}");
    let count = |node: &'static str| {
        let app = &app;
        let t = t.clone();
        async move {
            let r = app
                .call(
                    Method::GET,
                    &format!("{BASE}/P/Q/export?node_label={node}&format=json"),
                    None,
                    Some(&t),
                )
                .await;
            r.json.as_array().map_or(0, Vec::len)
        }
    };

    // A dry run writes nothing; committing it writes what it checked, once.
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/P/Q/_dry_run"),
        "application/json",
        graph().to_string(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dry = r.json["transaction_id"].clone();
    assert!(dry.is_i64(), "{}", r.text);
    assert_eq!(count("case").await, 0);
    let reader = app.token(READER);
    let r = app
        .call(Method::PUT, &tx(&dry, "commit"), None, Some(&reader))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .call(Method::PUT, &tx(&dry, "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["created_entity_count"], 4, "{}", r.text);
    let wrote = r.json["transaction_id"].clone();
    assert_ne!(wrote, dry);
    assert_eq!(count("case").await, 2);
    let r = app
        .call(Method::POST, &tx(&dry, "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json["message"],
        format!("This transaction_log was committed already by transaction '{wrote}'.")
    );
    let r = app
        .call(Method::POST, &tx(&dry, "close"), None, Some(&t))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("already been committed"),
        "{}",
        r.text
    );
    // A transaction that wrote is no dry run to commit.
    let r = app
        .call(Method::PUT, &tx(&wrote, "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json["message"],
        format!("Cannot submit transaction_log '{wrote}', not a dry_run.")
    );

    // A closed dry run cannot be committed, nor closed twice.
    let update = json!({"type": "sample", "submitter_id": "s-1", "composition": "Solid Tissue"});
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q/_dry_run"),
        "application/json",
        update.to_string(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let closed = r.json["transaction_id"].clone();
    let r = app
        .call(Method::PUT, &tx(&closed, "close"), None, Some(&t))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"code": 200, "message": "Closed transaction.", "transaction_id": closed})
    );
    let r = app
        .call(Method::PUT, &tx(&closed, "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json["message"],
        "Unable to commit closed transaction log."
    );
    let r = app
        .call(Method::PUT, &tx(&closed, "close"), None, Some(&t))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["message"], "This transaction log is already closed.");

    // A failed dry run cannot be committed.
    let bad = json!({"type": "sample", "submitter_id": "s-9", "cases": {"submitter_id": "none"}});
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/P/Q/_dry_run"),
        "application/json",
        bad.to_string(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let failed = r.json["transaction_id"].clone();
    let r = app
        .call(Method::PUT, &tx(&failed, "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json["message"],
        "Unable to commit transaction log in state FAILED."
    );

    // Unknown and malformed ids are 404s.
    let r = app
        .call(Method::PUT, &tx(&json!(999_999), "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .starts_with("Unable to find transaction_log with id: 999999"),
        "{}",
        r.text
    );
    let r = app
        .call(
            Method::PUT,
            &format!("{BASE}/P/Q/transactions/abc/close"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // A deletion's dry run, committed, deletes.
    let r = app
        .call(
            Method::GET,
            &format!("{BASE}/P/Q/export?node_label=sample&format=json"),
            None,
            Some(&t),
        )
        .await;
    let sample = r.json[0]["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/_dry_run/{sample}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(count("sample").await, 1);
    let dry_delete = r.json["transaction_id"].clone();
    let r = app
        .call(Method::POST, &tx(&dry_delete, "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["deleted_entity_count"], 1, "{}", r.text);
    assert_eq!(count("sample").await, 0);

    // A state change's dry run, committed, moves the project.
    app.grant(SUBMITTER, "sheepdog", "release", "/programs/P/projects/Q")
        .await;
    let r = app
        .call(
            Method::PUT,
            &format!("{BASE}/P/Q/review/_dry_run"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dry_review = r.json["transaction_id"].clone();
    let r = app
        .call(Method::PUT, &tx(&dry_review, "commit"), None, Some(&t))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["message"],
        "Successfully transitioned project state to 'review'"
    );
    let r = app
        .call(Method::PUT, &format!("{BASE}/P/Q/review"), None, Some(&t))
        .await;
    assert_eq!(r.status, 400, "already in review: {}", r.text);
}

/// An export of more than one page (5,000 nodes) reads each page once, in id order, while
/// the one before is written out.
#[tokio::test]
async fn exports_of_several_pages_hold_every_entity_once() {
    let Some(app) = app(REAL[1], false).await else {
        return;
    };
    let t = app.token(SUBMITTER);
    submit(&app, Method::POST, graph()).await;
    let n = 10_050;
    let mut tsv = String::from("type\tsubmitter_id\texperiments.submitter_id\n");
    for i in 0..n {
        tsv.push_str(&format!("case\tbulk-{i}\texp-1\n"));
    }
    let r = send(
        &app,
        Method::PUT,
        &format!("{BASE}/P/Q"),
        "text/tab-separated-values",
        tsv,
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", &r.text[..r.text.len().min(500)]);
    for format in ["tsv", "json"] {
        let r = app
            .call(
                Method::GET,
                &format!("{BASE}/P/Q/export?node_label=case&format={format}"),
                None,
                Some(&t),
            )
            .await;
        assert_eq!(r.status, 200);
        let ids: Vec<String> = if format == "json" {
            let rows = r.json.as_array().unwrap();
            assert!(
                rows.iter()
                    .all(|c| c["experiments"][0]["submitter_id"] == "exp-1")
            );
            rows.iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect()
        } else {
            let mut lines = r.text.lines();
            let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
            let id = header.iter().position(|h| *h == "id").unwrap();
            let link = header
                .iter()
                .position(|h| *h == "experiments.submitter_id")
                .unwrap();
            lines
                .map(|l| {
                    let cells: Vec<&str> = l.split('\t').collect();
                    assert_eq!(cells[link], "exp-1");
                    cells[id].to_owned()
                })
                .collect()
        };
        assert_eq!(ids.len(), n + 2, "{format}");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{format}: in id order, once each"
        );
    }
}
