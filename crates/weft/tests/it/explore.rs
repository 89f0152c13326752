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

    // a forged token is refused, on both routes, with a JSON body
    let forged = format!("{}x", app.token(READER));
    let r = guppy(&app, Some(&forged), CASES, Value::Null).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json.is_object(), "{}", r.text);
    let r = send(
        &app,
        Method::POST,
        "/guppy/download",
        "application/json",
        json!({"type": "case"}).to_string(),
        Some(&forged),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json["message"].is_string(), "{}", r.text);

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
        json!({"type": "case", "fields": ["submitter_id", "_samples_count"], "format": "tsv",
               "sort": [{"submitter_id": "asc"}]})
        .to_string(),
        reader,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.text,
        "submitter_id\t_samples_count\ncase-1\t2\ncase-2\t0\ncase-3\t0\n"
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
    // a body that is not JSON, or with a key guppy does not take
    for body in ["[1", r#"{"type": "case", "size": 5}"#] {
        let r = send(
            &app,
            Method::POST,
            "/guppy/download",
            "application/json",
            body.into(),
            reader,
        )
        .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.json["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("Invalid body"),
            "{body}: {}",
            r.text
        );
    }

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
    // the follower applied every change: nothing left behind
    let start = Instant::now();
    while app
        .call(Method::GET, "/guppy/_status", None, None)
        .await
        .json["feed_behind"]
        != 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the feed is not caught up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// tube's mapping of `tests/explore/` for gdcdictionary.
const GDC_MAPPING: &str = include_str!("../../../../tests/explore/gdc-etlMapping.yaml");

#[tokio::test]
async fn a_tube_mapping_with_files_joins_and_regular_tier_access() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("etlMapping.yaml");
    std::fs::write(&mapping, GDC_MAPPING).unwrap();
    let config = dir.path().join("guppy.json");
    std::fs::write(
        &config,
        json!({"indices": [
            {"index": "gdc_case", "type": "case", "tier_access_level": "regular"},
            {"index": "gdc_file", "type": "file", "tier_access_level": "private"}],
          "auth_filter_field": "auth_resource_path"})
        .to_string(),
    )
    .unwrap();
    let Some(app) = crate::submission::app_with(REAL[0], false, |c| {
        c.explore.etl_mapping = Some(mapping.clone());
        c.explore.guppy_config = Some(config.clone());
    })
    .await
    else {
        return;
    };
    let md5 = "0123456789abcdef0123456789abcdef";
    let mut docs = graph();
    docs.as_array_mut().unwrap().extend([
        json!({"type": "demographic", "submitter_id": "demo-1", "cases": {"submitter_id": "case-1"},
               "gender": "female", "race": "white"}),
        json!({"type": "sample", "submitter_id": "s-2", "cases": {"submitter_id": "case-1"},
               "sample_type": "Blood Derived Normal", "current_weight": 2.5}),
        json!({"type": "aliquot", "submitter_id": "al-1", "samples": {"submitter_id": "s-1"},
               "analyte_type": "DNA"}),
        json!({"type": "read_group", "submitter_id": "rg-1", "aliquots": {"submitter_id": "al-1"},
               "library_strategy": "WGS"}),
        json!({"type": "submitted_unaligned_reads", "submitter_id": "reads-1",
               "read_groups": {"submitter_id": "rg-1"},
               "data_category": "Sequencing Reads", "data_format": "FASTQ", "data_type": "Unaligned Reads",
               "experimental_strategy": "WGS", "file_name": "r1.fastq", "file_size": 42, "md5sum": md5}),
    ]);
    let r = submit(&app, Method::POST, docs).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ids: std::collections::HashMap<String, String> = r.json["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["unique_keys"][0]["submitter_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                e["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    crate::graphql::other_project(&app).await;
    app.grant(READER, "guppy", "read", "/programs/P/projects/Q")
        .await;
    app.grant(EVERYONE, "guppy", "read", "/programs/P").await;
    let reader = app.token(READER);
    let reader = Some(reader.as_str());
    let everyone = app.token(EVERYONE);
    let everyone = Some(everyone.as_str());

    // the case documents: own, flattened, parent, aggregated, nested and joined fields
    let q = "{ case(sort: {submitter_id: \"asc\"}) { _case_id submitter_id project_id gender race \
         experiment_submitter_id _samples_count _aliquots_count _read_groups_count sample_types \
         total_weight data_format samples { sample_type aliquots { analyte_type } } } \
         file { _case_id file_name file_size data_format source_node project_id object_id } }";
    let v = eventually(&app, everyone, q, |v| {
        v["data"]["case"].as_array().is_some_and(|c| c.len() == 3)
            && v["data"]["case"][0]["data_format"] == json!(["FASTQ"])
    })
    .await;
    let c1 = &v["data"]["case"][0];
    assert_eq!(c1["_case_id"], ids["case-1"].as_str());
    assert_eq!(c1["gender"], "F", "value_mappings apply");
    assert_eq!(c1["race"], "white");
    assert_eq!(c1["experiment_submitter_id"], json!(["exp-1"]));
    assert_eq!(
        (
            c1["_samples_count"].clone(),
            c1["_aliquots_count"].clone(),
            c1["_read_groups_count"].clone()
        ),
        (json!(2), json!(1), json!(1))
    );
    assert_eq!(c1["sample_types"], json!(["Blood Derived Normal"]));
    assert_eq!(c1["total_weight"], 2.5);
    let mut samples = c1["samples"].as_array().unwrap().clone();
    samples.sort_by_key(|s| s["aliquots"].is_null());
    assert_eq!(
        samples,
        vec![
            json!({"sample_type": null, "aliquots": [{"analyte_type": "DNA"}]}),
            json!({"sample_type": "Blood Derived Normal", "aliquots": null}),
        ]
    );
    assert_eq!(v["data"]["case"][2]["submitter_id"], "case-r");
    let f = &v["data"]["file"];
    assert_eq!(f.as_array().unwrap().len(), 1, "{f}");
    assert_eq!(f[0]["_case_id"], json!([ids["case-1"]]));
    assert_eq!(f[0]["source_node"], "submitted_unaligned_reads");
    assert_eq!(f[0]["file_size"], 42);
    assert_eq!(f[0]["project_id"], "P-Q");
    assert!(f[0]["object_id"].is_string(), "{f}");

    // regular tier: counts of everything, small unreadable parts hidden as -1; rows only
    // with `accessibility: accessible`
    let q = "{ _aggregation { all: case(accessibility: all) { _totalCount project_id { histogram { key count } } } \
                mine: case(accessibility: accessible) { _totalCount } \
                theirs: case(accessibility: unaccessible) { _totalCount } } }";
    let r = guppy(&app, reader, q, Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let a = &r.json["data"]["_aggregation"];
    assert_eq!(a["all"]["_totalCount"], -1);
    assert_eq!(
        a["all"]["project_id"]["histogram"],
        json!([{"key": "P-Q", "count": 2}, {"key": "P-R", "count": -1}])
    );
    assert_eq!(a["mine"]["_totalCount"], 2);
    assert_eq!(a["theirs"]["_totalCount"], -1);
    let r = guppy(&app, everyone, q, Value::Null).await;
    assert_eq!(r.json["data"]["_aggregation"]["all"]["_totalCount"], 3);
    let r = guppy(&app, reader, "{ case { submitter_id } }", Value::Null).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["errors"][0]["message"],
        weft_explore::schema::NO_ACCESS
    );
    assert_eq!(r.json["errors"][0]["extensions"]["code"], 401);
    let r = guppy(
        &app,
        reader,
        "{ case(accessibility: accessible) { submitter_id } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.json["data"]["case"].as_array().unwrap().len(), 2);
    // a filter within what the reader may read needs no `accessible`
    let r = guppy(
        &app,
        reader,
        "{ case(filter: {in: {project_id: [\"P-Q\"]}}) { submitter_id } }",
        Value::Null,
    )
    .await;
    assert_eq!(
        r.json["data"]["case"].as_array().unwrap().len(),
        2,
        "{}",
        r.text
    );
    let r = send(
        &app,
        Method::POST,
        "/guppy/download",
        "application/json",
        json!({"type": "case", "fields": ["submitter_id"]}).to_string(),
        reader,
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = send(
        &app,
        Method::POST,
        "/guppy/download",
        "application/json",
        json!({"type": "case", "fields": ["submitter_id"], "accessibility": "accessible"})
            .to_string(),
        reader,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json.as_array().unwrap().len(), 2);
    // sub-aggregations per bucket (guppy's nestedAggFields)
    let r = guppy(
        &app,
        reader,
        "{ _aggregation { case(accessibility: accessible, nestedAggFields: {termsFields: [\"race\"], missingFields: [\"year_of_birth\"]}) \
           { gender { histogram { key count termsFields { field count terms { key count } } missingFields { field count } } } } } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json["data"]["_aggregation"]["case"]["gender"]["histogram"],
        json!([{"key": "F", "count": 1,
                "termsFields": [{"field": "race", "count": 1, "terms": [{"key": "white", "count": 1}]}],
                "missingFields": [{"field": "year_of_birth", "count": 1}]}])
    );

    // the file index is private: a caller who may read nothing sees nothing
    let r = guppy(
        &app,
        None,
        "{ file { file_name } _aggregation { file { _totalCount } } }",
        Value::Null,
    )
    .await;
    assert_eq!(r.json["data"]["file"], json!([]));
    assert_eq!(r.json["data"]["_aggregation"]["file"]["_totalCount"], 0);

    // live: an aliquot added under s-2 counts at once; deleted, it is gone again
    let r = submit(
        &app,
        Method::POST,
        json!([{"type": "aliquot", "submitter_id": "al-2", "samples": {"submitter_id": "s-2"}}]),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let al2 = r.json["entities"][0]["id"].as_str().unwrap().to_owned();
    let q = "{ case(accessibility: accessible, filter: {eq: {submitter_id: \"case-1\"}}) { _aliquots_count } }";
    eventually(&app, reader, q, |v| {
        v["data"]["case"][0]["_aliquots_count"] == 2
    })
    .await;
    let t = app.token(SUBMITTER);
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/{al2}"),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    eventually(&app, reader, q, |v| {
        v["data"]["case"][0]["_aliquots_count"] == 1
    })
    .await;
    // deleting the file empties the case's joined formats
    let r = app
        .call(
            Method::DELETE,
            &format!("{BASE}/P/Q/entities/{}", ids["reads-1"]),
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let q = "{ case(accessibility: accessible, filter: {eq: {submitter_id: \"case-1\"}}) { data_format } file { file_name } }";
    eventually(&app, everyone, q, |v| {
        v["data"]["case"][0]["data_format"].is_null() && v["data"]["file"] == json!([])
    })
    .await;
}
