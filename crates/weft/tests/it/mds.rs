//! The metadata service (MDS API) under `/mds/` and `/mds-admin/`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Resp, TestApp};

const WRITER: &str = "curator@weft.test";

/// A server where [`WRITER`] may write metadata; returns it with the writer's token.
async fn app_with_writer() -> (TestApp, String) {
    let app = TestApp::start().await;
    app.grant(WRITER, "mds_gateway", "access", "/mds_gateway")
        .await;
    let token = app.token(WRITER);
    (app, token)
}

fn study(n: u32, kind: &str) -> Value {
    json!({
        "_guid_type": kind,
        "gen3_discovery": {
            "study_id": format!("S{n}"),
            "subjects": n * 10,
            "project": {"code": if n.is_multiple_of(2) { "EVEN" } else { "ODD" }},
            "tags": [{"category": "Data Type", "name": "WGS"}],
        }
    })
}

#[tokio::test]
async fn create_get_update_delete_with_mds_status_codes() {
    let (app, t) = app_with_writer().await;
    let t = Some(t.as_str());
    // create: 201 with the data; again without overwrite: 409; with overwrite: 200
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata/dg.1/a",
            Some(study(1, "discovery_metadata")),
            t,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json, study(1, "discovery_metadata"));
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata/dg.1/a",
            Some(json!({"x": 1})),
            t,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json, json!({"detail": "Conflict: dg.1/a"}));
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata/dg.1/a?overwrite=True",
            Some(json!({"x": 1, "y": {"z": 2}})),
            t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // reads are open, and the same on /mds, /mds-admin and the root (a bare MDS's paths)
    for prefix in ["/mds", "/mds-admin", ""] {
        let r = app.get(&format!("{prefix}/metadata/dg.1/a")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json, json!({"x": 1, "y": {"z": 2}}));
        assert!(r.content_type.starts_with("application/json"));
    }
    // PUT replaces; with merge=true it merges top-level keys only
    let r = app
        .call(
            Method::PUT,
            "/mds/metadata/dg.1/a?merge=true",
            Some(json!({"y": {"w": 3}, "n": 4})),
            t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"x": 1, "y": {"w": 3}, "n": 4}));
    let r = app
        .call(
            Method::PUT,
            "/mds/metadata/dg.1/a",
            Some(json!({"only": true})),
            t,
        )
        .await;
    assert_eq!(r.json, json!({"only": true}));
    assert_eq!(
        app.get("/mds/metadata/dg.1/a").await.json,
        json!({"only": true})
    );
    // PUT does not create
    let r = app
        .call(Method::PUT, "/mds/metadata/nope", Some(json!({})), t)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({"detail": "Not found: nope"}));
    // DELETE returns what it deleted
    let r = app
        .call(Method::DELETE, "/mds-admin/metadata/dg.1/a", None, t)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!({"only": true}));
    let r = app.get("/mds/metadata/dg.1/a").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({"detail": "Not found: dg.1/a"}));
    let r = app
        .call(Method::DELETE, "/mds-admin/metadata/dg.1/a", None, t)
        .await;
    assert_eq!(r.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn writes_need_mds_gateway_access_on_both_prefixes() {
    let (app, writer) = app_with_writer().await;
    let other = app.token("someone@weft.test");
    for prefix in ["/mds", "/mds-admin"] {
        let path = format!("{prefix}/metadata/g1");
        let r = app
            .call(Method::POST, &path, Some(json!({"a": 1})), None)
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(r.json["detail"].is_string(), "{}", r.text);
        let r = app
            .call(Method::POST, &path, Some(json!({"a": 1})), Some(&other))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app
            .call(
                Method::POST,
                &path,
                Some(json!({"a": 1})),
                Some("forged.token.here"),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        for (method, p) in [
            (Method::POST, format!("{prefix}/metadata")),
            (Method::PUT, format!("{prefix}/metadata/g1")),
            (Method::DELETE, format!("{prefix}/metadata/g1")),
            (Method::POST, format!("{prefix}/metadata/g1/aliases")),
            (Method::PUT, format!("{prefix}/metadata/g1/aliases")),
            (Method::DELETE, format!("{prefix}/metadata/g1/aliases")),
            (Method::DELETE, format!("{prefix}/metadata/g1/aliases/x")),
            (Method::GET, format!("{prefix}/metadata_index")),
            (Method::POST, format!("{prefix}/metadata_index/a.b")),
            (Method::DELETE, format!("{prefix}/metadata_index/a.b")),
        ] {
            let r = app
                .call(
                    method.clone(),
                    &p,
                    Some(json!({"aliases": []})),
                    Some(&other),
                )
                .await;
            assert_eq!(r.status, 403, "{method} {p}: {}", r.text);
        }
    }
    // index users' basic auth is for the index service, not for metadata
    let r = app
        .request(
            Method::POST,
            "/mds-admin/metadata/g1",
            Some(b"{}".to_vec()),
            crate::support::Auth::Admin,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // nothing was written by any of the refused requests
    assert_eq!(app.get("/mds/metadata?data=true").await.json, json!({}));
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata/g1",
            Some(json!({"a": 1})),
            Some(&writer),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn queries_filter_nested_fields_as_text() {
    let (app, t) = app_with_writer().await;
    let batch: Vec<Value> = (1..=6)
        .map(|n| {
            let kind = if n <= 4 {
                "discovery_metadata"
            } else {
                "other"
            };
            json!({"guid": format!("g{n}"), "data": study(n, kind)})
        })
        .collect();
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata",
            Some(Value::Array(batch)),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"created": ["g1", "g2", "g3", "g4", "g5", "g6"], "updated": [], "conflict": [], "bad_input": []})
    );
    let q = |query: &'static str| {
        let app = &app;
        async move {
            let r = app.get(&format!("/mds/metadata?{query}")).await;
            assert_eq!(r.status, 200, "{query}: {}", r.text);
            r.json
        }
    };
    // default: GUIDs only, 10 at most, GUID order
    assert_eq!(q("").await, json!(["g1", "g2", "g3", "g4", "g5", "g6"]));
    assert_eq!(q("_guid_type=other").await, json!(["g5", "g6"]));
    // numbers match as text; values of one key are ORed, keys ANDed
    assert_eq!(q("gen3_discovery.subjects=30").await, json!(["g3"]));
    assert_eq!(
        q("gen3_discovery.subjects=30&gen3_discovery.subjects=40").await,
        json!(["g3", "g4"])
    );
    assert_eq!(
        q("gen3_discovery.project.code=EVEN&_guid_type=discovery_metadata").await,
        json!(["g2", "g4"])
    );
    assert_eq!(
        q("gen3_discovery.study_id=*")
            .await
            .as_array()
            .unwrap()
            .len(),
        6
    );
    assert_eq!(q("gen3_discovery.nothing=*").await, json!([]));
    assert_eq!(q("gen3_discovery.study_id=%5C*").await, json!([]));
    // paging
    assert_eq!(q("limit=2&offset=1").await, json!(["g2", "g3"]));
    // an offset past i64 is past every row, not a database error
    assert_eq!(q("offset=9223372036854775808").await, json!([]));
    assert_eq!(q("data=true&offset=18446744073709551615").await, json!({}));
    // data=True (as the SDK sends it): {guid: data}
    let got = q("data=True&gen3_discovery.study_id=S2").await;
    assert_eq!(got, json!({"g2": study(2, "discovery_metadata")}));
    // an index on the path gives the same answers
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata_index/gen3_discovery.project.code",
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json, json!("gen3_discovery.project.code"));
    assert_eq!(
        q("gen3_discovery.project.code=EVEN&_guid_type=discovery_metadata").await,
        json!(["g2", "g4"])
    );
    let r = app
        .call(Method::GET, "/mds-admin/metadata_index", None, Some(&t))
        .await;
    assert_eq!(r.json, json!(["_guid_type", "gen3_discovery.project.code"]));
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata_index/gen3_discovery.project.code",
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = app
        .call(
            Method::DELETE,
            "/mds-admin/metadata_index/gen3_discovery.project.code",
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .call(
            Method::DELETE,
            "/mds-admin/metadata_index/gen3_discovery.project.code",
            None,
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn query_limit_is_capped() {
    let app = TestApp::start_with(|c| c.mds.query_results_limit = 3).await;
    app.grant(WRITER, "mds_gateway", "access", "/mds_gateway")
        .await;
    let t = app.token(WRITER);
    let batch: Vec<Value> = (0..5)
        .map(|n| json!({"guid": format!("g{n}"), "data": {"n": n}}))
        .collect();
    app.call(
        Method::POST,
        "/mds/metadata",
        Some(Value::Array(batch)),
        Some(&t),
    )
    .await
    .expect(201);
    let r = app.get("/mds/metadata?limit=100").await;
    assert_eq!(r.json, json!(["g0", "g1", "g2"]));
    app.stop().await;
}

#[tokio::test]
async fn batch_create_overwrites_by_default_and_reports_conflicts_and_bad_input() {
    let (app, t) = app_with_writer().await;
    let t = Some(t.as_str());
    app.call(
        Method::POST,
        "/mds-admin/metadata/a",
        Some(json!({"v": 1})),
        t,
    )
    .await
    .expect(201);
    let batch = json!([
        {"guid": "a", "data": {"v": 2}},
        {"guid": "b", "data": {"v": 1}},
        {"guid": "upload", "data": {"v": 1}},
        {"guid": "c", "data": [1]},
        {"data": {"v": 1}},
    ]);
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata?overwrite=false",
            Some(batch.clone()),
            t,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["created"], json!(["b"]));
    assert_eq!(r.json["conflict"], json!(["a"]));
    assert_eq!(r.json["bad_input"].as_array().unwrap().len(), 3);
    assert_eq!(app.get("/mds/metadata/a").await.json, json!({"v": 1}));
    let r = app
        .call(Method::POST, "/mds-admin/metadata", Some(batch), t)
        .await;
    assert_eq!(r.json["updated"], json!(["a", "b"]));
    assert_eq!(app.get("/mds/metadata/a").await.json, json!({"v": 2}));
    app.stop().await;
}

/// Send `{"aliases": list}` to an aliases path.
async fn aliases(app: &TestApp, method: Method, path: &str, list: Value, t: Option<&str>) -> Resp {
    app.call(method, path, Some(json!({"aliases": list})), t)
        .await
}

#[tokio::test]
async fn aliases_resolve_and_follow_mds_rules() {
    let (app, t) = app_with_writer().await;
    let t = Some(t.as_str());
    app.call(
        Method::POST,
        "/mds-admin/metadata/dg.1/g",
        Some(json!({"v": 1})),
        t,
    )
    .await
    .expect(201);
    app.call(
        Method::POST,
        "/mds-admin/metadata/h",
        Some(json!({"v": 2})),
        t,
    )
    .await
    .expect(201);
    let r = aliases(
        &app,
        Method::POST,
        "/mds-admin/metadata/dg.1/g/aliases",
        json!(["b", "a"]),
        t,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json, json!({"guid": "dg.1/g", "aliases": ["a", "b"]}));
    // an alias reads as its record
    assert_eq!(app.get("/mds/metadata/a").await.json, json!({"v": 1}));
    assert_eq!(
        app.get("/mds/metadata/dg.1/g/aliases").await.json,
        json!({"guid": "dg.1/g", "aliases": ["a", "b"]})
    );
    // POST again: 409 (use PUT); an alias of another record: 409; unknown GUID: 404
    let r = aliases(
        &app,
        Method::POST,
        "/mds-admin/metadata/dg.1/g/aliases",
        json!(["c"]),
        t,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = aliases(
        &app,
        Method::PUT,
        "/mds-admin/metadata/h/aliases?merge=true",
        json!(["a"]),
        t,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = aliases(
        &app,
        Method::PUT,
        "/mds-admin/metadata/nope/aliases",
        json!(["z"]),
        t,
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // PUT merge adds, PUT without merge replaces (201, as MDS answers)
    let r = aliases(
        &app,
        Method::PUT,
        "/mds-admin/metadata/dg.1/g/aliases?merge=true",
        json!(["c"]),
        t,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["aliases"], json!(["a", "b", "c"]));
    let r = aliases(
        &app,
        Method::PUT,
        "/mds-admin/metadata/dg.1/g/aliases",
        json!(["c", "dg.2/d"]),
        t,
    )
    .await;
    assert_eq!(r.json["aliases"], json!(["c", "dg.2/d"]));
    // delete one (an alias may hold a slash), then all
    let r = app
        .call(
            Method::DELETE,
            "/mds-admin/metadata/dg.1/g/aliases/dg.2/d",
            None,
            t,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .call(
            Method::DELETE,
            "/mds-admin/metadata/dg.1/g/aliases/dg.2/d",
            None,
            t,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    app.call(
        Method::DELETE,
        "/mds-admin/metadata/dg.1/g/aliases",
        None,
        t,
    )
    .await
    .expect(204);
    let r = app
        .call(
            Method::DELETE,
            "/mds-admin/metadata/dg.1/g/aliases",
            None,
            t,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(
        app.get("/mds/metadata/dg.1/g/aliases").await.json,
        json!({"guid": "dg.1/g", "aliases": []})
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400_with_a_detail_and_changes_nothing() {
    let (app, token) = app_with_writer().await;
    let t = Some(token.as_str());
    for body in [json!([1, 2]), json!("text"), json!(3), Value::Null] {
        let r = app
            .call(Method::POST, "/mds-admin/metadata/g", Some(body.clone()), t)
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.json["detail"]
                .as_str()
                .unwrap()
                .contains("must be a JSON object"),
            "{}",
            r.text
        );
    }
    let r = app
        .request(
            Method::POST,
            "/mds-admin/metadata/g",
            Some(b"{not json".to_vec()),
            crate::support::Auth::None,
        )
        .await;
    // credentials are checked first
    assert_eq!(r.status, 401, "{}", r.text);
    let raw = app
        .client
        .post(format!("{}/mds-admin/metadata/g", app.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let r = crate::support::Resp::read(raw).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata/upload",
            Some(json!({})),
            t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata",
            Some(json!({"guid": "x"})),
            t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    for query in [
        "a..b=1",
        "a.=1",
        "%22a%22=1",
        "limit=-1",
        "limit=x",
        "data=maybe",
        "offset=1.5",
    ] {
        let r = app.get(&format!("/mds/metadata?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert!(r.json["detail"].is_string(), "{}", r.text);
    }
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata/g?overwrite=perhaps",
            Some(json!({})),
            t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .call(Method::POST, "/mds-admin/metadata_index/a..b", None, t)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .call(
            Method::PUT,
            "/mds-admin/metadata/g/aliases",
            Some(json!({"aliases": "a"})),
            t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(app.get("/mds/metadata").await.json, json!([]));
    app.stop().await;
}

#[tokio::test]
async fn forced_query_authz_guards_reads() {
    let app = TestApp::start_with(|c| c.mds.force_authz_for_queries = true).await;
    app.grant(
        "reader@weft.test",
        "mds_gateway",
        "access",
        "/mds_metadata_queries",
    )
    .await;
    app.grant(WRITER, "mds_gateway", "access", "/mds_gateway")
        .await;
    let w = app.token(WRITER);
    app.call(
        Method::POST,
        "/mds/metadata/g",
        Some(json!({"a": 1})),
        Some(&w),
    )
    .await
    .expect(201);
    assert_eq!(app.get("/mds/metadata/g").await.status, 401);
    assert_eq!(app.get("/mds/metadata").await.status, 401);
    let other = app.token("other@weft.test");
    let r = app
        .call(Method::GET, "/mds/metadata/g", None, Some(&other))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let reader = app.token("reader@weft.test");
    let r = app
        .call(Method::GET, "/mds/metadata/g", None, Some(&reader))
        .await;
    assert_eq!(r.json, json!({"a": 1}));
    let r = app
        .call(Method::GET, "/mds/metadata?a=1", None, Some(&reader))
        .await;
    assert_eq!(r.json, json!(["g"]));
    app.stop().await;
}

#[tokio::test]
async fn status_and_version() {
    let app = TestApp::start().await;
    let r = app.get("/mds/_status").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "OK");
    assert!(r.json["timestamp"].is_string());
    let r = app.get("/mds/version").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, json!(env!("CARGO_PKG_VERSION")));
    app.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_nothing_is_written() {
    let app = TestApp::start_with(|c| c.max_body_bytes = 4096).await;
    app.grant(WRITER, "mds_gateway", "access", "/mds_gateway")
        .await;
    let t = app.token(WRITER);
    let big = json!({"blob": "x".repeat(8192)});
    let r = app
        .call(
            Method::POST,
            "/mds-admin/metadata/big",
            Some(big.clone()),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("larger than the configured limit"),
        "{}",
        r.text
    );
    let batch = json!([{"guid": "a", "data": {}}, {"guid": "b", "data": big}]);
    let r = app
        .call(Method::POST, "/mds-admin/metadata", Some(batch), Some(&t))
        .await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(app.get("/mds/metadata").await.json, json!([]));
    app.stop().await;
}
