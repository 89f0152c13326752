//! Peregrine's GraphQL (`/api/v0/submission/graphql`) over the graph submitted through
//! sheepdog's API, on a real dictionary, over HTTP, on the backend the suite runs on.

use reqwest::Method;
use serde_json::{Value, json};
use weft_dictionary::testing::REAL;

use crate::submission::{ADMIN, BASE, READER, SUBMITTER, app, graph, send, submit};
use crate::support::{Resp, TestApp};

async fn gql(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Resp {
    let body = json!({"query": query, "variables": variables});
    send(
        app,
        Method::POST,
        &format!("{BASE}/graphql"),
        "application/json",
        body.to_string(),
        token,
    )
    .await
}

/// A second project `P-R` with one case, which [`READER`] may not read.
pub(crate) async fn other_project(app: &TestApp) {
    let admin = app.token(ADMIN);
    let r = send(
        app,
        Method::PUT,
        &format!("{BASE}/P"),
        "application/json",
        json!({"type": "project", "code": "R", "name": "R", "dbgap_accession_number": "phs3"})
            .to_string(),
        Some(&admin),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for m in ["create", "read"] {
        app.grant(SUBMITTER, "sheepdog", m, "/programs/P/projects/R")
            .await;
    }
    let t = app.token(SUBMITTER);
    let docs = json!([
        {"type": "experiment", "submitter_id": "exp-r", "projects": {"code": "R"}},
        {"type": "case", "submitter_id": "case-r", "experiments": {"submitter_id": "exp-r"}},
    ]);
    let r = send(
        app,
        Method::PUT,
        &format!("{BASE}/P/R"),
        "application/json",
        docs.to_string(),
        Some(&t),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn submitters(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|n| n["submitter_id"].as_str().expect("a submitter_id"))
        .collect()
}

#[tokio::test]
async fn queries_links_filters_and_access_on_a_real_dictionary() {
    let Some(app) = app(REAL[1], false).await else {
        return;
    };
    let r = submit(&app, Method::POST, graph()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let more = json!([
        {"type": "sample", "submitter_id": "s-2", "cases": {"submitter_id": "case-1"},
         "composition": "Solid Tissue", "current_weight": 12.5, "is_ffpe": true},
        {"type": "sample", "submitter_id": "s-3", "cases": {"submitter_id": "case-2"},
         "current_weight": 7},
    ]);
    let r = submit(&app, Method::POST, more).await;
    assert_eq!(r.status, 201, "{}", r.text);
    other_project(&app).await;
    app.grant(READER, "peregrine", "read", "/programs/P/projects/Q")
        .await;
    let reader = app.token(READER);
    let reader = Some(reader.as_str());

    // Lists, counts and links both ways, only from the readable project.
    let r = gql(
        &app,
        reader,
        "{ case(first: 0, order_by_asc: \"submitter_id\") { id type project_id submitter_id \
           experiments { submitter_id } samples(order_by_asc: \"submitter_id\") { submitter_id } \
           _samples_count } \
           _case_count _sample_count \
           experiment { submitter_id _cases_count cases(first: 1) { submitter_id } } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let data = &r.json["data"];
    assert_eq!(submitters(&data["case"]), ["case-1", "case-2"]);
    let c1 = &data["case"][0];
    assert_eq!(c1["type"], "case");
    assert_eq!(c1["project_id"], "P-Q");
    assert_eq!(submitters(&c1["experiments"]), ["exp-1"]);
    assert_eq!(submitters(&c1["samples"]), ["s-1", "s-2"]);
    assert_eq!(c1["_samples_count"], 2);
    assert_eq!(data["case"][1]["_samples_count"], 1);
    assert_eq!(data["_case_count"], 2, "P-R's case is not readable");
    assert_eq!(data["_sample_count"], 3);
    assert_eq!(submitters(&data["experiment"]), ["exp-1"]);
    assert_eq!(data["experiment"][0]["_cases_count"], 2);
    assert_eq!(data["experiment"][0]["cases"].as_array().unwrap().len(), 1);

    // Property filters: typed values, lists, `not`, text search, order and pages.
    let r = gql(
        &app,
        reader,
        "{ heavy: sample(current_weight: [12.5, 99]) { submitter_id current_weight is_ffpe composition } \
           seven: sample(current_weight: [7]) { submitter_id current_weight } \
           ffpe: _sample_count(is_ffpe: [true]) \
           notsolid: sample(not: [{composition: \"Solid Tissue\"}]) { submitter_id } \
           search: case(quick_search: \"SE-2\") { submitter_id } \
           page: sample(order_by_desc: \"submitter_id\", first: 1, offset: 1) { submitter_id } \
           named: case(submitter_id: [\"case-2\", \"nothing\"]) { submitter_id } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.json["data"];
    assert_eq!(
        d["heavy"],
        json!([{"submitter_id": "s-2", "current_weight": 12.5, "is_ffpe": true,
                "composition": "Solid Tissue"}])
    );
    assert_eq!(
        d["seven"],
        json!([{"submitter_id": "s-3", "current_weight": 7.0}])
    );
    assert_eq!(d["ffpe"], 1);
    assert!(
        d["notsolid"].as_array().unwrap().is_empty(),
        "{}",
        d["notsolid"]
    );
    assert_eq!(submitters(&d["search"]), ["case-2"]);
    assert_eq!(submitters(&d["page"]), ["s-2"]);
    assert_eq!(submitters(&d["named"]), ["case-2"]);

    // Links and paths, both ways, resolved in the database.
    let r = gql(
        &app,
        reader,
        "{ linked: experiment(with_links: [\"cases\"]) { submitter_id } \
           unlinked: case(without_links: [\"samples\"]) { submitter_id } \
           of_case2: sample(with_path_to: [{type: \"case\", submitter_id: \"case-2\"}]) { submitter_id } \
           of_exp: _sample_count(with_path_to: [{type: \"experiment\", submitter_id: \"exp-1\"}]) \
           solid: case(with_path_to: [{type: \"sample\", composition: \"Solid Tissue\"}]) { submitter_id } \
           not_solid: case(without_path_to: [{type: \"sample\", composition: \"Solid Tissue\"}]) { submitter_id } \
           either: _case_count(with_path_to_any: [{type: \"sample\", is_ffpe: true}, {type: \"sample\", submitter_id: \"s-3\"}]) }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.json["data"];
    assert_eq!(submitters(&d["linked"]), ["exp-1"]);
    assert!(d["unlinked"].as_array().unwrap().is_empty(), "{}", r.text);
    assert_eq!(submitters(&d["of_case2"]), ["s-3"]);
    assert_eq!(d["of_exp"], 3);
    assert_eq!(submitters(&d["solid"]), ["case-1"]);
    assert_eq!(submitters(&d["not_solid"]), ["case-2"]);
    assert_eq!(d["either"], 2);
    let r = gql(
        &app,
        reader,
        "{ case(with_links: [\"nothing\"]) { id } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["errors"][0], "Invalid link name 'nothing'");

    // A node's links both ways; `node` by category.
    let r = gql(
        &app,
        reader,
        "{ case(submitter_id: [\"case-1\"]) { _links { type ... on sample { submitter_id } } } \
           node(category: \"biospecimen\", first: 0) { type } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let links = r.json["data"]["case"][0]["_links"].as_array().unwrap();
    let mut types: Vec<&str> = links.iter().map(|l| l["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(types, ["experiment", "sample", "sample"], "{}", r.text);
    let nodes = r.json["data"]["node"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{}", r.text);
    assert!(nodes.iter().all(|n| n["type"] == "sample"), "{}", r.text);

    // Variables, as an object and as a JSON string; fragments; `node`.
    let q = "query Count($p: [String]) { _case_count(project_id: $p) \
             case(project_id: $p) { ...who } } fragment who on case { submitter_id }";
    for vars in [json!({"p": ["P-Q"]}), json!("{\"p\": [\"P-Q\"]}")] {
        let r = gql(&app, reader, q, vars).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"]["_case_count"], 2);
        assert_eq!(r.json["data"]["case"].as_array().unwrap().len(), 2);
    }
    let r = gql(&app, reader, q, json!({"p": ["P-R"]})).await;
    assert_eq!(r.json["data"]["_case_count"], 0, "not readable: {}", r.text);
    let r = gql(
        &app,
        reader,
        "{ node(of_type: [\"case\"], first: 0) { id type ... on case { submitter_id } } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["data"]["node"].as_array().unwrap().len(), 2);

    // The submission log of the readable project, newest first (the portal's home page).
    let r = gql(
        &app,
        reader,
        "{ transaction_log(last: 20) { id type role submitter project_id is_dry_run \
           documents { doc_format doc_size doc } } \
           uploads: _transaction_log_count(type: \"upload\") _transaction_log_count }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let logs = r.json["data"]["transaction_log"].as_array().unwrap();
    assert_eq!(
        logs.len() as u64,
        r.json["data"]["_transaction_log_count"].as_u64().unwrap()
    );
    assert!(logs.iter().all(|l| l["project_id"] == "P-Q"), "{}", r.text);
    assert_eq!(
        r.json["data"]["uploads"], 3,
        "project, graph, samples: {}",
        r.text
    );
    let newest = &logs[0];
    assert_eq!(newest["type"], "upload");
    assert_eq!(newest["role"], "create");
    assert_eq!(newest["submitter"], SUBMITTER);
    assert_eq!(newest["is_dry_run"], false);
    let doc = newest["documents"][0]["doc"].as_str().unwrap();
    assert!(doc.contains("s-3"), "{doc}");
    assert_eq!(
        newest["documents"][0]["doc_size"].as_u64().unwrap(),
        doc.len() as u64
    );

    // The submitter reads both projects once granted; others see nothing.
    app.grant(SUBMITTER, "peregrine", "read", "/programs/P")
        .await;
    let t = app.token(SUBMITTER);
    let r = gql(&app, Some(&t), "{ _case_count }", Value::Null).await;
    assert_eq!(r.json["data"]["_case_count"], 3, "{}", r.text);
    let admin = app.token(ADMIN);
    let r = gql(
        &app,
        Some(&admin),
        "{ _case_count case { id } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["data"], json!({"_case_count": 0, "case": []}));
    let r = gql(&app, None, "{ _case_count }", Value::Null).await;
    assert_eq!(r.json["data"]["_case_count"], 0, "{}", r.text);
    let r = gql(&app, Some("not.a.token"), "{ _case_count }", Value::Null).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json["message"].is_string(), "{}", r.text);
}

#[tokio::test]
async fn bad_queries_are_graphql_errors() {
    let Some(app) = app(REAL[0], true).await else {
        return;
    };
    let t = app.token(SUBMITTER);
    let t = Some(t.as_str());
    for (query, needle) in [
        ("{ case(first: ) { id } }", "expected value"),
        ("{ case { no_such_field } }", "no_such_field"),
        (
            "{ case(order_by_asc: \"nothing\") { id } }",
            "Cannot order by nothing on case",
        ),
        ("{ case(first: \"ten\") { id } }", "first"),
    ] {
        let r = gql(&app, t, query, Value::Null).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        let errors = r.json["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e.as_str().unwrap().contains(needle)),
            "{query}: {}",
            r.text
        );
    }
    let r = gql(
        &app,
        t,
        "query($n: Int!) { case(first: $n) { id } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = gql(&app, t, "{ case { id } }", json!("{not json")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["errors"][0], "Unable to parse variables");
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/graphql"),
        "application/json",
        "{\"query\": ".into(),
        t,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("Unable to parse json")
    );
    let r = send(
        &app,
        Method::POST,
        &format!("{BASE}/graphql"),
        "application/json",
        "[1]".into(),
        t,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = gql(&app, t, "", Value::Null).await;
    assert_eq!(r.status, 400, "{}", r.text);

    // The schema the portal's build reads: every node type, typed properties.
    let r = app
        .call(Method::GET, &format!("{BASE}/getschema"), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let types = r.json["data"]["__schema"]["types"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", &r.text[..r.text.len().min(2000)]));
    let case = types.iter().find(|t| t["name"] == "case").unwrap();
    let fields: Vec<&str> = case["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    for f in [
        "id",
        "submitter_id",
        "project_id",
        "samples",
        "_samples_count",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    assert_eq!(r.json["data"]["__schema"]["queryType"]["name"], "Root");
}

#[tokio::test]
async fn summaries_under_api_search() {
    let Some(app) = app(REAL[0], false).await else {
        return;
    };
    let md5 = "0123456789abcdef0123456789abcdef";
    let mut docs = graph();
    docs.as_array_mut().unwrap().extend([
        json!({"type": "core_metadata_collection", "submitter_id": "cmc-1", "projects": {"code": "Q"},
               "title": "Reads of one", "creator": "Ada", "publisher": "weft"}),
        json!({"type": "submitted_unaligned_reads", "submitter_id": "reads-1",
               "core_metadata_collections": {"submitter_id": "cmc-1"},
               "data_category": "Sequencing Reads", "data_format": "FASTQ", "data_type": "Unaligned Reads",
               "experimental_strategy": "WGS", "file_name": "r1.fastq", "file_size": 42, "md5sum": md5,
               "object_id": "dg.TEST/0b8a3c1e-5f7d-4f6e-9a2b-1c3d4e5f6a7b"}),
    ]);
    let r = submit(&app, Method::POST, docs).await;
    assert_eq!(r.status, 201, "{}", r.text);
    other_project(&app).await;
    app.grant(READER, "peregrine", "read", "/programs/P/projects/Q")
        .await;
    let reader = app.token(READER);
    let get = |path: String, accept: &'static str| {
        let app = &app;
        let reader = reader.clone();
        async move {
            let r = app
                .client
                .get(format!("{}{path}", app.url))
                .bearer_auth(&reader)
                .header("accept", accept)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, ct, r.text().await.unwrap())
        }
    };

    let (status, _, body) = get(
        "/api/search/datasets?nodes=case,experiment,aliquot".into(),
        "*/*",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        json!({"P-Q": {"case": 2, "experiment": 1, "aliquot": 0}})
    );
    let (status, _, body) = get("/api/search/datasets".into(), "*/*").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Need to provide target nodes"), "{body}");
    let (status, _, body) = get("/api/search/datasets?nodes=nothing".into(), "*/*").await;
    assert_eq!(status, 400, "{body}");

    let (status, _, body) = get("/api/search/datasets/projects".into(), "*/*").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["projects"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(v["projects"][0]["code"], "Q");
    assert_eq!(v["projects"][0]["dbgap_accession_number"], "phs2");

    let path = "/api/search/coremetadata/dg.TEST/0b8a3c1e-5f7d-4f6e-9a2b-1c3d4e5f6a7b".to_owned();
    let (status, ct, body) = get(path.clone(), "application/json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct.as_deref(), Some("application/json"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["file_name"], "r1.fastq");
    assert_eq!(v["md5sum"], md5);
    assert_eq!(v["creator"], "Ada");
    assert_eq!(v["type"], "submitted_unaligned_reads");
    assert_eq!(v["project_id"], "P-Q");
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(
        v["citation"],
        format!("Ada, {year}: Reads of one. weft, dg.TEST/0b8a3c1e-5f7d-4f6e-9a2b-1c3d4e5f6a7b.")
    );
    assert!(
        v.get("title").is_none() && v.get("updated_datetime").is_none(),
        "{body}"
    );
    let (status, _, body) = get(path.clone(), "application/vnd.schemaorg.ld+json").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["@type"], "Dataset");
    assert_eq!(v["identifier"][1]["value"], md5);
    assert_eq!(v["author"]["name"], "Ada");
    let (status, ct, body) = get(path, "x-bibtex").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct.as_deref(), Some("application/x-bibtex"));
    assert!(
        body.starts_with("@misc {dg.TEST/0b8a3c1e-5f7d-4f6e-9a2b-1c3d4e5f6a7b, "),
        "{body}"
    );
    assert!(body.contains("file_name = \"r1.fastq\""), "{body}");
    let (status, _, body) = get("/api/search/coremetadata/nothing".into(), "*/*").await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("object_id \\\"nothing\\\" not found"),
        "{body}"
    );

    // datanode (every file type at once), _node_type (the dictionary), viewer
    let q = "{ datanode(object_id: \"dg.TEST/0b8a3c1e-5f7d-4f6e-9a2b-1c3d4e5f6a7b\") \
             { type file_name file_size } \
             all: datanode(first: 0) { id } \
             _node_type(id: \"case\") { id category } \
             types: _node_type(first: 0) { id } \
             viewer { _case_count case(first: 1) { submitter_id } } }";
    let r = gql(&app, Some(&reader), q, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.json["data"];
    assert_eq!(
        d["datanode"],
        json!([{"type": "submitted_unaligned_reads", "file_name": "r1.fastq", "file_size": 42.0}])
    );
    assert_eq!(d["all"].as_array().unwrap().len(), 1);
    assert_eq!(
        d["_node_type"],
        json!([{"id": "case", "category": "administrative"}])
    );
    assert!(d["types"].as_array().unwrap().len() > 20, "{}", d["types"]);
    assert_eq!(d["viewer"]["_case_count"], 2);
    assert_eq!(d["viewer"]["case"].as_array().unwrap().len(), 1);

    let r = app
        .call(Method::GET, "/api/search/_status", None, None)
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, "Healthy"));
    let r = app
        .call(Method::GET, "/api/search/_version", None, None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json["dictionary"]["version"].is_string(), "{}", r.text);
    let weft = app.call(Method::GET, "/_version", None, None).await;
    assert_eq!(
        r.json["version"], weft.json["version"],
        "the build's own version"
    );
}
