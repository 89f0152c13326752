//! The explorer (`/guppy/`): documents derived from a real dictionary, built from what was
//! submitted through sheepdog's API and kept live as submissions and deletions land, over
//! HTTP, on the backend the suite runs on.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use weft_dictionary::testing::REAL;

use crate::submission::{BASE, READER, SUBMITTER, app, graph, send, submit};
use crate::support::{Resp, TestApp};

/// A user who may read every project through guppy.
const EVERYONE: &str = "explorer@weft.test";

async fn guppy(app: &TestApp, token: Option<&str>, query: &str, variables: Value) -> Resp {
    send(
        app,
        Method::POST,
        "/guppy/graphql",
        "application/json",
        json!({"query": query, "variables": variables}).to_string(),
        token,
    )
    .await
}

/// Ask `query` until `check` holds of its answer (documents follow changes within a second).
async fn eventually(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let r = guppy(app, token, query, Value::Null).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if check(&r.json) {
            return r.json;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not reached in 10 s: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CASES: &str = "{ case(sort: [{submitter_id: \"asc\"}]) { submitter_id project_id \
     _samples_count auth_resource_path } _aggregation { case { _totalCount } } }";

#[tokio::test]
async fn documents_follow_submissions_and_guppy_answers_with_access_control() {
    let Some(app) = app(REAL[1], false).await else {
        return;
    };
    let r = submit(&app, Method::POST, graph()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = submit(
        &app,
        Method::POST,
        json!([{"type": "sample", "submitter_id": "s-2", "cases": {"submitter_id": "case-1"}}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.grant(READER, "guppy", "read", "/programs/P/projects/Q")
        .await;
    app.grant(EVERYONE, "guppy", "read", "/programs").await;
    let reader = app.token(READER);
    let reader = Some(reader.as_str());
    let everyone = app.token(EVERYONE);
    let everyone = Some(everyone.as_str());

    // the derived mapping: a document per case, with its samples counted
    let v = eventually(&app, reader, CASES, |v| {
        v["data"]["_aggregation"]["case"]["_totalCount"] == 2
    })
    .await;
    assert_eq!(
        v["data"]["case"],
        json!([
            {"submitter_id": "case-1", "project_id": "P-Q", "_samples_count": 2,
             "auth_resource_path": "/programs/P/projects/Q"},
            {"submitter_id": "case-2", "project_id": "P-Q", "_samples_count": 0,
             "auth_resource_path": "/programs/P/projects/Q"},
        ])
    );
    // private tier: nothing for a caller who may read nothing, anonymous included
    for token in [None, Some(app.token(SUBMITTER))] {
        let r = guppy(&app, token.as_deref(), CASES, Value::Null).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["data"]["case"], json!([]));
        assert_eq!(r.json["data"]["_aggregation"]["case"]["_totalCount"], 0);
    }

    // a filter, a histogram and paging
    let r = guppy(
        &app,
        reader,
        "query($f: JSON) { case(filter: $f, first: 1, offset: 0) { submitter_id } \
           _aggregation { case(filter: $f) { _totalCount submitter_id { histogram { key count } } } \
             all: case { project_id { histogram { key count } } _samples_count { histogram { key count min max sum } } } } }",
        json!({"f": {"AND": [{"IN": {"submitter_id": ["case-2", "nope"]}}]}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.json["data"];
    assert_eq!(d["case"], json!([{"submitter_id": "case-2"}]));
    assert_eq!(d["_aggregation"]["case"]["_totalCount"], 1);
    assert_eq!(
        d["_aggregation"]["case"]["submitter_id"]["histogram"],
        json!([{"key": "case-2", "count": 1}])
    );
    assert_eq!(
        d["_aggregation"]["all"]["project_id"]["histogram"],
        json!([{"key": "P-Q", "count": 2}])
    );
    assert_eq!(
        d["_aggregation"]["all"]["_samples_count"]["histogram"],
        json!([{"key": [0, 2], "count": 2, "min": 0, "max": 2, "sum": 2}])
    );

    // a submission shows up, then its deletion
    let r = submit(
        &app,
        Method::POST,
        json!([{"type": "sample", "submitter_id": "s-9", "cases": {"submitter_id": "case-2"}}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sample = r.json["entities"][0]["id"].as_str().unwrap().to_owned();
    eventually(&app, reader, CASES, |v| {
        v["data"]["case"][1]["_samples_count"] == 1
    })
    .await;
    let t = app.token(SUBMITTER);
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/{sample}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    eventually(&app, reader, CASES, |v| {
        v["data"]["case"][1]["_samples_count"] == 0
    })
    .await;
    // a new case in the same project
    let r = submit(
        &app,
        Method::POST,
        json!([{"type": "case", "submitter_id": "case-3", "experiments": {"submitter_id": "exp-1"}}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    eventually(&app, everyone, CASES, |v| {
        v["data"]["_aggregation"]["case"]["_totalCount"] == 3
    })
    .await;

    // download: every match, sorted, only the fields asked
    let r = send(
        &app,
        Method::POST,
        "/guppy/download",
        "application/json",
        json!({"type": "case", "fields": ["submitter_id"], "sort": [{"submitter_id": "desc"}],
               "filter": {"!=": {"submitter_id": "case-1"}}})
        .to_string(),
        reader,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!([{"submitter_id": "case-3"}, {"submitter_id": "case-2"}])
    );
    let r = send(
        &app,
        Method::POST,
        "/guppy/download",
        "application/json",
        json!({"type": "nothing"}).to_string(),
        reader,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["message"], "Invalid es type: \"nothing\"");
    let r = send(
        &app,
        Method::POST,
        "/guppy/download",
        "application/json",
        json!({"type": "case", "fields": ["nope"]}).to_string(),
        reader,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json["message"], "Invalid fields: \"nope\"");

    // bad filters are GraphQL errors in guppy's words; bad queries a 400
    let r = guppy(
        &app,
        reader,
        "{ case(filter: {like: {submitter_id: \"x\"}}) { submitter_id } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["errors"][0]["message"],
        "Invalid operation \"like\" in filter argument."
    );
    assert_eq!(r.json["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let r = guppy(&app, reader, "{ case { nope } }", Value::Null).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = guppy(&app, reader, "{ case(", Value::Null).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = send(
        &app,
        Method::POST,
        "/guppy/graphql",
        "application/json",
        "[1".into(),
        reader,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // the mapping and the status
    let r = guppy(
        &app,
        reader,
        "{ _mapping { case(searchInput: \"^sub\") } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.json["data"]["_mapping"]["case"], json!(["submitter_id"]));
    let r = app.call(Method::GET, "/guppy/_status", None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["indices"]["case"]["documents"], 3);
}
