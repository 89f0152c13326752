//! The data hub: a weft pulling real weft commons (seeded through their MDS API), serving
//! aggregate MDS's endpoints and the discovery search; a commons that is down or answers
//! garbage; DRS GUIDs of a member commons resolved through the hub.

#![allow(clippy::unwrap_used)] // test helpers: a failure should panic with its cause

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use weft_config::HubConfig;

use crate::support::{MD5, TestApp};

/// The MDS admin of every commons in these tests.
const CURATOR: &str = "curator@weft.test";

/// A study as `gen3 discovery publish` writes it.
pub fn study(title: &str, short: &str, tags: &[(&str, &str)], subjects: i64) -> Value {
    let tags: Vec<Value> = tags
        .iter()
        .map(|(c, n)| json!({"category": c, "name": n}))
        .collect();
    json!({"_guid_type": "discovery_metadata",
           "gen3_discovery": {"full_name": title, "short_name": short, "tags": tags,
                              "_subjects_count": subjects,
                              "__manifest": [{"file_name": "a.txt"}, {"file_name": "b.txt"}]}})
}

/// Store metadata records in a commons through its MDS admin API.
pub async fn seed(app: &TestApp, records: &[(&str, Value)]) {
    app.grant(CURATOR, "mds_gateway", "access", "/mds_gateway")
        .await;
    let token = app.token(CURATOR);
    for (guid, data) in records {
        let r = app
            .call(
                Method::POST,
                &format!("/mds-admin/metadata/{guid}?overwrite=True"),
                Some(data.clone()),
                Some(&token),
            )
            .await;
        assert!(
            r.status == 201 || r.status == 200,
            "seeding {guid}: {}",
            r.text
        );
    }
}

/// Poll the hub's status until `ok` holds for it (20 s at most).
pub async fn wait_status(hub: &TestApp, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let s = hub.get("/mds/aggregate/status").await;
        if s.status == 200 && ok(&s.json) {
            return s.json;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "hub never reached: {what}; last status {}",
            s.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn hub_config(v: Value) -> HubConfig {
    serde_json::from_value(v).unwrap()
}

fn synced(names: &'static [&'static str]) -> impl Fn(&Value) -> bool {
    move |s: &Value| {
        let all_ok = names.iter().all(|n| s["commons"][n]["status"] == "ok");
        // and the search index caught up with the stored copies
        let stored: u64 = s["commons"]
            .as_object()
            .map(|m| m.values().filter_map(|c| c["studies"].as_u64()).sum())
            .unwrap_or(0);
        all_ok && s["indexed_studies"].as_u64() == Some(stored)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregate_endpoints_over_two_real_commons() {
    let a = TestApp::start().await;
    let b = TestApp::start().await;
    seed(
        &a,
        &[
            (
                "a-1",
                study(
                    "Heart Failure Cohort",
                    "HFC",
                    &[("Data Type", "WGS"), ("Program", "Cardio")],
                    120,
                ),
            ),
            (
                "a-2",
                study("Lung Imaging Atlas", "LIA", &[("Data Type", "Imaging")], 40),
            ),
            // not discovery metadata: not pulled
            (
                "a-x",
                json!({"_guid_type": "other", "gen3_discovery": {"full_name": "Hidden"}}),
            ),
        ],
    )
    .await;
    seed(
        &b,
        &[
            ("b-1", json!({"_guid_type": "discovery_metadata",
                           "gen3_discovery": {"study_title": "<b>Heart</b> Development Study",
                                              "n": "7", "tags": [{"category": "Data Type", "name": "WGS"}],
                                              "contact": "pi@b.org"}})),
        ],
    )
    .await;
    let (a_url, b_url, b_host) = (a.url.clone(), b.url.clone(), b.host());
    let hub = TestApp::start_with(move |c| {
        c.hub = hub_config(json!({
            "sync_interval_secs": 3600,
            "retry_min_secs": 1,
            "configuration": {"schema": {
                "_subjects_count": {"type": "integer"},
                "year": {"default": "not_set"},
                "tags": {"type": "array"}}},
            "gen3_commons": {"commons-a": {"mds_url": a_url, "commons_url": "a.example",
                                           "drs_prefixes": ["dg.AAAA"]}},
            "adapter_commons": {"commons-b": {
                "mds_url": format!("{b_url}/"), "commons_url": "b.example", "adapter": "gen3",
                "commons_name": "Commons B", "keep_original_fields": false,
                "global_field_filters": ["strip_html"],
                "field_mappings": {"full_name": "path:study_title", "_subjects_count": "path:n",
                                   "tags": "path:tags", "year": "path:year",
                                   "contact": {"path": "contact", "filters": ["strip_email"]},
                                   "commons": "B"}}}
        }));
    })
    .await;
    let status = wait_status(
        &hub,
        "both commons synced",
        synced(&["commons-a", "commons-b"]),
    )
    .await;
    assert_eq!(status["commons"]["commons-a"]["studies"], 2);
    assert_eq!(status["commons"]["commons-b"]["studies"], 1);
    assert_eq!(status["commons"]["commons-b"]["commons_name"], "Commons B");
    assert_eq!(status["commons"]["commons-a"]["last_error"], Value::Null);
    assert!(
        status["commons"]["commons-a"]["last_success"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(
        status["commons"]["commons-a"]["drs_prefixes"],
        json!(["dg.AAAA"])
    );
    let _ = b_host;

    // commons: most studies first
    let c = hub.get("/mds/aggregate/commons").await.expect(200);
    assert_eq!(c, json!({"commons": ["commons-a", "Commons B"]}));
    // also where a bare MDS serves it, and MDS's status says aggregation is on
    assert_eq!(hub.get("/aggregate/commons").await.expect(200), c);
    assert_eq!(
        hub.get("/mds/_status").await.expect(200)["aggregate_metadata_enabled"],
        true
    );

    // metadata: grouped by commons_name, a list of {guid: doc}; unknown params ignored
    let m = hub
        .get("/mds/aggregate/metadata?data=True&_guid_type=discovery_metadata&limit=10")
        .await
        .expect(200);
    let a_list = m["commons-a"].as_array().unwrap();
    assert_eq!(a_list.len(), 2);
    assert_eq!(
        a_list[0]["a-1"]["gen3_discovery"]["full_name"],
        "Heart Failure Cohort"
    );
    assert_eq!(
        a_list[0]["a-1"]["gen3_discovery"]["commons_name"],
        "commons-a"
    );
    assert_eq!(a_list[1]["a-2"]["gen3_discovery"]["short_name"], "LIA");
    let b_doc = &m["Commons B"][0]["b-1"]["gen3_discovery"];
    assert_eq!(
        *b_doc,
        json!({"full_name": "Heart Development Study", "_subjects_count": 7,
               "tags": [{"category": "Data Type", "name": "WGS"}], "year": "not_set",
               "contact": "", "commons": "B", "commons_name": "Commons B"})
    );
    assert_eq!(m.as_object().unwrap().len(), 2);

    // pagination, offset, counts, flatten
    let p = hub
        .get("/mds/aggregate/metadata?limit=2&offset=1&pagination=true&counts=__manifest,tags")
        .await
        .expect(200);
    assert_eq!(
        p["pagination"],
        json!({"hits": 3, "offset": 1, "pageSize": 2, "pages": 2})
    );
    assert_eq!(
        p["results"]["commons-a"][0]["a-2"]["gen3_discovery"]["__manifest"],
        2
    );
    assert_eq!(
        p["results"]["commons-a"][0]["a-2"]["gen3_discovery"]["tags"],
        1
    );
    assert_eq!(
        p["results"]["Commons B"][0]["b-1"]["gen3_discovery"]["tags"],
        1
    );
    let f = hub
        .get("/mds/aggregate/metadata?flatten=True&pagination=True&limit=5")
        .await
        .expect(200);
    let flat = f["results"].as_array().unwrap();
    assert_eq!(flat.len(), 3);
    assert!(flat[2]["b-1"]["gen3_discovery"].is_object());
    // flatten without pagination: the bare list
    let bare = hub
        .get("/mds/aggregate/metadata?flatten=true")
        .await
        .expect(200);
    assert_eq!(bare.as_array().unwrap().len(), 3);
    let bad = hub.get("/mds/aggregate/metadata?limit=ten").await;
    assert_eq!(bad.status, 422, "{}", bad.text);
    assert_eq!(bad.json["detail"][0]["loc"], json!(["query", "limit"]));

    // per commons, its info, by GUID
    let named = hub
        .get("/mds/aggregate/metadata/Commons%20B")
        .await
        .expect(200);
    assert_eq!(named.as_array().unwrap().len(), 1);
    assert_eq!(
        named[0]["gen3_discovery"]["full_name"],
        "Heart Development Study"
    );
    let missing = hub.get("/mds/aggregate/metadata/nope").await.expect(404);
    assert_eq!(
        missing,
        json!({"detail": {"message": "no common exists with the given: nope", "code": 404}})
    );
    let info = hub
        .get("/mds/aggregate/metadata/commons-a/info")
        .await
        .expect(200);
    assert_eq!(info, json!({"commons_url": "a.example"}));
    hub.get("/mds/aggregate/metadata/nope/info")
        .await
        .expect(404);
    let by_guid = hub
        .get("/mds/aggregate/metadata/guid/a-2")
        .await
        .expect(200);
    assert_eq!(by_guid["gen3_discovery"]["full_name"], "Lung Imaging Atlas");
    let none = hub
        .get("/mds/aggregate/metadata/guid/a-x")
        .await
        .expect(404);
    assert_eq!(
        none["detail"]["message"],
        "no entry exists with the given guid: a-x"
    );

    // tags across commons
    let tags = hub.get("/mds/aggregate/tags").await.expect(200);
    assert_eq!(
        tags,
        json!({"Data Type": {"total": 3, "names": [{"WGS": 2, "Imaging": 1}]},
               "Program": {"total": 1, "names": [{"Cardio": 1}]}})
    );

    // info: the schema, a DRS prefix, a commons
    let schema = hub.get("/mds/aggregate/info/schema").await.expect(200);
    assert_eq!(
        schema["year"],
        json!({"type": "string", "description": "", "default": "not_set"})
    );
    assert_eq!(
        schema["_subjects_count"],
        json!({"type": "integer", "description": ""})
    );
    let prefix = hub.get("/mds/aggregate/info/dg.AAAA").await.expect(200);
    assert_eq!(
        prefix,
        json!({"host": a.host(), "name": "commons-a", "type": "indexd"})
    );
    assert_eq!(
        hub.get("/mds/aggregate/info/commons-b").await.expect(200),
        json!({"commons_url": "b.example"})
    );
    let unknown = hub.get("/mds/aggregate/info/dg.ZZZZ").await.expect(404);
    assert_eq!(
        unknown["detail"]["message"],
        "information for dg.ZZZZ not found"
    );

    // discovery search: full text over both commons, facets, filters
    let s = hub.get("/mds/aggregate/search?q=heart").await.expect(200);
    assert_eq!(s["total"], 2);
    let mut guids: Vec<&str> = s["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["guid"].as_str().unwrap())
        .collect();
    guids.sort_unstable();
    assert_eq!(guids, ["a-1", "b-1"]);
    assert!(s["hits"][0]["score"].as_f64().unwrap() > 0.0);
    assert_eq!(
        s["facets"]["commons"],
        json!({"Commons B": 1, "commons-a": 1})
    );
    assert_eq!(s["facets"]["tags"]["Data Type"], json!({"WGS": 2}));
    let tagged = hub
        .get("/mds/aggregate/search?tag=Data%20Type:WGS&commons=commons-a")
        .await
        .expect(200);
    assert_eq!(tagged["total"], 1);
    assert_eq!(tagged["hits"][0]["guid"], "a-1");
    assert_eq!(
        tagged["hits"][0]["doc"]["gen3_discovery"]["short_name"],
        "HFC"
    );
    let field = hub
        .get("/mds/aggregate/search?q=short_name:lia")
        .await
        .expect(200);
    assert_eq!(field["hits"][0]["guid"], "a-2");
    let page = hub
        .get("/mds/aggregate/search?limit=1&offset=2")
        .await
        .expect(200);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["hits"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    for bad in [
        "q=heart%20AND%20(",
        "tag=NoColon",
        "limit=-1",
        "offset=x",
        "limit=5000",
    ] {
        let r = hub.get(&format!("/mds/aggregate/search?{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.json["detail"]["message"].is_string(), "{bad}: {}", r.text);
    }

    // the portal's discovery page searches the same index
    let r = hub.get("/discovery?q=heart").await;
    assert_eq!(r.status, 200);
    assert!(
        r.text.contains("2 studies match (from the data hub)"),
        "{}",
        r.text
    );
    let r = hub.get("/discovery?q=heart%20AND%20(").await;
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .contains(r#"<p class="notice error" role="alert">The search could not be read"#),
        "{}",
        r.text
    );
    assert!(
        r.text.contains(r#"name="q" value="heart AND (""#),
        "{}",
        r.text
    );

    hub.stop().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_hub_the_aggregate_routes_are_404() {
    let app = TestApp::start().await;
    for path in [
        "/mds/aggregate/commons",
        "/mds/aggregate/metadata",
        "/mds/aggregate/tags",
        "/mds/aggregate/status",
        "/mds/aggregate/search?q=x",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json["detail"]["code"], 404, "{path}");
    }
    assert_eq!(
        app.get("/mds/_status").await.expect(200)["aggregate_metadata_enabled"],
        false
    );
    app.stop().await;
}

/// How the stand-in commons answers `/mds/metadata`.
const GOOD: u8 = 0;
const GARBAGE: u8 = 1;
const ERROR: u8 = 2;
const NOT_AN_OBJECT: u8 = 3;
const GOOD_V2: u8 = 4;

/// A stand-in commons for what a real weft never does: answer garbage. It pages like MDS.
async fn flaky_commons(mode: Arc<AtomicU8>) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Query;
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/mds/metadata",
        axum::routing::get(
            move |Query(q): Query<std::collections::HashMap<String, String>>| {
                let mode = mode.load(Ordering::SeqCst);
                async move {
                    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
                    let offset: usize = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let n = if mode == GOOD_V2 { 3 } else { 5 };
                    let all: serde_json::Map<String, Value> = (0..n)
                        .map(|i| {
                            let title = if mode == GOOD_V2 {
                                "Renewed"
                            } else {
                                "Original"
                            };
                            (
                                format!("f-{i}"),
                                study(&format!("{title} {i}"), "F", &[("Data Type", "WGS")], i),
                            )
                        })
                        .collect();
                    match mode {
                        GARBAGE => "<html>oops".into_response(),
                        ERROR => (axum::http::StatusCode::BAD_GATEWAY, "down").into_response(),
                        NOT_AN_OBJECT => axum::Json(json!(["f-0"])).into_response(),
                        _ => {
                            let page: serde_json::Map<String, Value> =
                                all.into_iter().skip(offset).take(limit).collect();
                            axum::Json(Value::Object(page)).into_response()
                        }
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commons_that_fails_keeps_its_last_good_copy() {
    let mode = Arc::new(AtomicU8::new(GOOD));
    let (flaky_url, flaky) = flaky_commons(Arc::clone(&mode)).await;
    let real = TestApp::start().await;
    seed(&real, &[("r-1", study("Real Study", "RS", &[], 1))]).await;
    let real_url = real.url.clone();
    let hub = TestApp::start_with(move |c| {
        c.hub = hub_config(json!({
            "sync_interval_secs": 1,
            "retry_min_secs": 1,
            "adapter_commons": {"flaky": {"mds_url": flaky_url, "commons_url": "flaky.example",
                                          "adapter": "gen3", "config": {"batchSize": 2}}},
            "gen3_commons": {"real": {"mds_url": real_url, "commons_url": "real.example"}}
        }));
    })
    .await;
    wait_status(&hub, "first good pull", synced(&["flaky", "real"])).await;
    let all = hub
        .get("/mds/aggregate/metadata?limit=100")
        .await
        .expect(200);
    assert_eq!(
        all["flaky"].as_array().unwrap().len(),
        5,
        "paged in 2s: {all}"
    );

    // each kind of failure: reported, last good copy kept, searchable still
    for (m, needle) in [
        (GARBAGE, "not JSON"),
        (ERROR, "HTTP 502"),
        (NOT_AN_OBJECT, "expected a JSON object"),
    ] {
        mode.store(m, Ordering::SeqCst);
        let s = wait_status(&hub, needle, |s| {
            s["commons"]["flaky"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(needle))
        })
        .await;
        let f = &s["commons"]["flaky"];
        assert_eq!(f["status"], "error");
        assert_eq!(f["studies"], 5);
        assert!(f["consecutive_failures"].as_i64().unwrap() >= 1);
        assert!(
            f["last_error"]
                .as_str()
                .unwrap()
                .contains("/mds/metadata?data=True")
        );
        assert_eq!(s["commons"]["real"]["status"], "ok");
        let kept = hub.get("/mds/aggregate/metadata/flaky").await.expect(200);
        assert_eq!(kept.as_array().unwrap().len(), 5);
        assert_eq!(kept[0]["gen3_discovery"]["full_name"], "Original 0");
        let found = hub
            .get("/mds/aggregate/search?q=original")
            .await
            .expect(200);
        assert_eq!(found["total"], 5);
    }

    // a commons that is down: the same
    real.stop().await;
    let s = wait_status(&hub, "real commons down", |s| {
        s["commons"]["real"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect"))
    })
    .await;
    assert_eq!(s["commons"]["real"]["studies"], 1);
    hub.get("/mds/aggregate/metadata/guid/r-1")
        .await
        .expect(200);

    // back with new data: replaced whole, error cleared
    mode.store(GOOD_V2, Ordering::SeqCst);
    let s = wait_status(&hub, "flaky recovered", |s| {
        s["commons"]["flaky"]["status"] == "ok" && s["commons"]["flaky"]["studies"] == 3
    })
    .await;
    assert_eq!(s["commons"]["flaky"]["consecutive_failures"], 0);
    let start = Instant::now();
    loop {
        let r = hub.get("/mds/aggregate/search?q=renewed").await.expect(200);
        if r["total"] == 3 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "search never caught up: {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hub.get("/mds/aggregate/search?q=original")
            .await
            .expect(200)["total"],
        0
    );
    hub.get("/mds/aggregate/metadata/guid/f-4")
        .await
        .expect(404);
    hub.stop().await;
    flaky.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drs_guids_of_a_member_commons_resolve_through_the_hub() {
    let a = TestApp::start_with(|c| c.index.guid_prefix = "dg.AAAA/".into()).await;
    let ids = a
        .create(
            json!({"hashes": {"md5": MD5}, "size": 3, "urls": ["s3://bucket/x"],
                       "authz": ["/open"], "file_name": "x.txt"}),
        )
        .await;
    let did = ids.did.clone();
    assert!(did.starts_with("dg.AAAA/"), "{did}");
    let uuid = did.trim_start_matches("dg.AAAA/").to_owned();
    let a_url = a.url.clone();
    let hub = TestApp::start_with(move |c| {
        c.hub = hub_config(json!({
            "gen3_commons": {"commons-a": {"mds_url": a_url, "commons_url": "a.example",
                                           "drs_prefixes": ["dg.AAAA"]}}
        }));
    })
    .await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (form, expected_path) in [
        (did.clone(), did.clone()),
        (format!("dg.AAAA:{uuid}"), format!("dg.AAAA:{uuid}")),
        (format!("drs://{}/{did}", a.host()), did.clone()),
    ] {
        let r = no_redirect
            .get(format!("{}/ga4gh/drs/v1/objects/{form}", hub.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 307, "{form}");
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            format!("{}/ga4gh/drs/v1/objects/{expected_path}", a.url),
            "{form}"
        );
        // followed, it is the commons' own object
        let obj: Value = hub
            .client
            .get(format!("{}/ga4gh/drs/v1/objects/{form}", hub.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(obj["id"], did, "{form}: {obj}");
        assert_eq!(obj["size"], 3);
    }
    // the access path and query travel along
    let r = no_redirect
        .get(format!(
            "{}/ga4gh/drs/v1/objects/{did}/access/s3?expires_in=60",
            hub.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!(
            "{}/ga4gh/drs/v1/objects/{did}/access/s3?expires_in=60",
            a.url
        )
    );
    // a GUID nobody holds: the DRS 404
    let r = hub
        .get("/ga4gh/drs/v1/objects/dg.AAAA/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["status_code"], 404);
    hub.get("/ga4gh/drs/v1/objects/dg.ZZZZ/1").await.expect(404);

    // a plain commons with indexd DIST peers resolves them the same way
    let peer = a.url.clone();
    let b = TestApp::start_with(move |c| {
        c.index.dist = vec![weft_config::DistEntry {
            name: "A".into(),
            host: format!("{peer}/index/"),
            hints: vec![],
            kind: "indexd".into(),
        }];
    })
    .await;
    let r = no_redirect
        .get(format!("{}/ga4gh/drs/v1/objects/{did}", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("{}/ga4gh/drs/v1/objects/{did}", a.url)
    );
    b.stop().await;
    hub.stop().await;
    a.stop().await;
}

/// A bad hub configuration stops `weft serve` and `weft hub sync` with a message naming it.
#[test]
fn bad_hub_configuration_is_a_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weft.toml");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(args)
            .env_remove("WEFT_DATABASE_URL")
            .env("WEFT_DATA_DIR", dir.path())
            .env("WEFT_CONFIG", &config)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    for (toml, needle) in [
        (
            "[hub.adapter_commons.X]\nmds_url = \"http://127.0.0.1:9\"\ncommons_url = \"x\"\n\
             adapter = \"icpsr\"\n",
            "weft serves only the `gen3` adapter",
        ),
        (
            "[hub.adapter_commons.X]\nmds_url = \"http://127.0.0.1:9\"\ncommons_url = \"x\"\n\
             adapter = \"gen3\"\nfield_mappings = { a = { path = \"x\", filters = [\"shout\"] } }\n",
            "unknown field filter \"shout\"",
        ),
        (
            "[hub]\nconfig_file = \"/nonexistent/agg.json\"\n",
            "cannot read config file",
        ),
    ] {
        std::fs::write(&config, toml).unwrap();
        for args in [
            &["serve", "--listen", "127.0.0.1:0"][..],
            &["hub", "sync"][..],
        ] {
            let (ok, text) = run(args);
            assert!(!ok, "{args:?} accepted {toml}");
            assert!(text.contains(needle), "{args:?}: {text}");
        }
    }
    // no hub configured: `hub sync` says so
    std::fs::write(&config, "").unwrap();
    let (ok, text) = run(&["hub", "sync"]);
    assert!(!ok);
    assert!(text.contains("lists no commons"), "{text}");
}

/// How the hostile stand-in commons answers `/mds/metadata`.
const HOSTILE_GOOD: u8 = 0;
/// A page whose body never ends.
const ENDLESS: u8 = 1;
/// Full pages of new records, for ever.
const PAGES_FOREVER: u8 = 2;
/// Full pages of new, large records, for ever.
const LARGE_PAGES_FOREVER: u8 = 3;
/// `302` to another server.
const REDIRECT_AWAY: u8 = 4;
/// `502` for everything, `/index/...` included.
const BROKEN: u8 = 5;

/// A stand-in commons that answers what a real weft never does: endless bodies, endless
/// pages, redirects elsewhere. `/moved/mds/metadata` redirects to `/mds/metadata` on the
/// same server. The most bytes one endless answer got out is kept in `sent_max`.
struct Hostile {
    url: String,
    mode: Arc<AtomicU8>,
    sent_max: Arc<AtomicU64>,
    server: tokio::task::JoinHandle<()>,
}

async fn hostile_commons(mode: u8, away: &str) -> Hostile {
    use axum::extract::Query;
    use axum::response::IntoResponse;
    type Params = Query<std::collections::HashMap<String, String>>;
    let mode = Arc::new(AtomicU8::new(mode));
    let sent_max = Arc::new(AtomicU64::new(0));
    let away_too = away.to_owned();
    let (m, sent, away) = (Arc::clone(&mode), Arc::clone(&sent_max), away.to_owned());
    let metadata = move |Query(q): Params, uri: axum::http::Uri| {
        let (mode, sent, away) = (m.load(Ordering::SeqCst), Arc::clone(&sent), away.clone());
        async move {
            let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
            let offset: usize = q.get("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
            let record = |i: usize, pad: usize| {
                let mut s = study(&format!("Original {i}"), "H", &[("Data Type", "WGS")], 1);
                s["gen3_discovery"]["pad"] = json!("p".repeat(pad));
                (format!("h-{i}"), s)
            };
            match mode {
                ENDLESS => {
                    let mut out = 0_u64;
                    let head = axum::body::Bytes::from_static(
                        br#"{"h-0": {"gen3_discovery": {"full_name": ""#,
                    );
                    let chunk = axum::body::Bytes::from("a".repeat(64 << 10));
                    let chunks =
                        std::iter::once(head)
                            .chain(std::iter::repeat(chunk))
                            .map(move |c| {
                                out += c.len() as u64;
                                sent.fetch_max(out, Ordering::SeqCst);
                                Ok::<_, std::convert::Infallible>(c)
                            });
                    axum::body::Body::from_stream(futures::stream::iter(chunks)).into_response()
                }
                PAGES_FOREVER | LARGE_PAGES_FOREVER => {
                    let pad = if mode == PAGES_FOREVER { 0 } else { 20_000 };
                    let page: serde_json::Map<String, Value> =
                        (offset..offset + limit).map(|i| record(i, pad)).collect();
                    axum::Json(Value::Object(page)).into_response()
                }
                REDIRECT_AWAY => (
                    axum::http::StatusCode::FOUND,
                    [("location", format!("{away}{uri}"))],
                )
                    .into_response(),
                BROKEN => (axum::http::StatusCode::BAD_GATEWAY, "down").into_response(),
                _ => {
                    let page: serde_json::Map<String, Value> = (0..5)
                        .map(|i| record(i, 0))
                        .skip(offset)
                        .take(limit)
                        .collect();
                    axum::Json(Value::Object(page)).into_response()
                }
            }
        }
    };
    let m = Arc::clone(&mode);
    let app = axum::Router::new()
        .route("/mds/metadata", axum::routing::get(metadata))
        .route(
            "/moved/mds/metadata",
            axum::routing::get(|uri: axum::http::Uri| async move {
                let query = uri.query().unwrap_or_default();
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [("location", format!("/mds/metadata?{query}"))],
                )
            }),
        )
        .fallback(move |uri: axum::http::Uri| {
            let mode = m.load(Ordering::SeqCst);
            let location = format!("{away_too}{uri}");
            async move {
                match mode {
                    BROKEN => (axum::http::StatusCode::BAD_GATEWAY, "down").into_response(),
                    // DIST lookups (`/index/{id}`) are sent away too
                    REDIRECT_AWAY => {
                        (axum::http::StatusCode::FOUND, [("location", location)]).into_response()
                    }
                    _ => (axum::http::StatusCode::NOT_FOUND, "no").into_response(),
                }
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Hostile {
        url,
        mode,
        sent_max,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commons_over_its_limits_fails_alone_and_keeps_its_copy() {
    let hostile = hostile_commons(HOSTILE_GOOD, "").await;
    let real = TestApp::start().await;
    seed(&real, &[("r-1", study("Real Study", "RS", &[], 1))]).await;
    let (hostile_url, real_url) = (hostile.url.clone(), real.url.clone());
    let hub = TestApp::start_with(move |c| {
        c.hub = hub_config(json!({
            "sync_interval_secs": 1,
            "retry_min_secs": 1,
            "max_page_bytes": 65_536,
            "max_pull_bytes": 200_000,
            "max_pull_records": 20,
            "adapter_commons": {"hostile": {"mds_url": hostile_url, "commons_url": "h.example",
                                            "adapter": "gen3", "config": {"batchSize": 2}}},
            "gen3_commons": {"real": {"mds_url": real_url, "commons_url": "real.example"}}
        }));
    })
    .await;
    wait_status(&hub, "first good pull", synced(&["hostile", "real"])).await;
    assert_eq!(
        hub.get("/mds/aggregate/metadata/hostile")
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        5
    );

    for (m, needle) in [
        (
            ENDLESS,
            "the page is larger than hub.max_page_bytes (65536 bytes)",
        ),
        (
            PAGES_FOREVER,
            "the pull brought more than hub.max_pull_records (20) records",
        ),
        (
            LARGE_PAGES_FOREVER,
            "the pull read more than hub.max_pull_bytes (200000 bytes)",
        ),
    ] {
        hostile.mode.store(m, Ordering::SeqCst);
        let s = wait_status(&hub, needle, |s| {
            s["commons"]["hostile"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(needle))
        })
        .await;
        let h = &s["commons"]["hostile"];
        assert_eq!(h["status"], "error", "{needle}");
        assert_eq!(h["studies"], 5, "{needle}");
        assert!(
            h["last_error"]
                .as_str()
                .unwrap()
                .contains("/mds/metadata?data=True"),
            "{h}"
        );
        // the other commons syncs on
        assert_eq!(s["commons"]["real"]["status"], "ok");
        assert_eq!(s["commons"]["real"]["studies"], 1);
        // the previous copy is what is served
        let kept = hub.get("/mds/aggregate/metadata/hostile").await.expect(200);
        assert_eq!(kept.as_array().unwrap().len(), 5, "{needle}");
        assert_eq!(kept[0]["gen3_discovery"]["full_name"], "Original 0");
        assert_eq!(kept[0]["gen3_discovery"]["pad"], "");
    }
    // the endless body was abandoned soon after the limit: what the stand-in got out of one
    // answer is the limit plus what the loopback socket buffers hold, not gigabytes
    let sent = hostile.sent_max.load(Ordering::SeqCst);
    assert!(sent > 65_536, "{sent}");
    assert!(
        sent < 32 << 20,
        "the hub read {sent} bytes of an endless page"
    );
    hub.stop().await;
    real.stop().await;
    hostile.server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_followed_only_within_one_host() {
    // the other host: it must never be asked
    let asked = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&asked);
    let elsewhere = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { axum::Json(json!({})) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere_url = format!("http://{}", listener.local_addr().unwrap());
    let elsewhere_server = tokio::spawn(async move {
        axum::serve(listener, elsewhere).await.unwrap();
    });
    let away = hostile_commons(REDIRECT_AWAY, &elsewhere_url).await;
    let moved = hostile_commons(HOSTILE_GOOD, "").await;
    let (away_url, moved_url) = (away.url.clone(), format!("{}/moved", moved.url));
    let hub = TestApp::start_with(move |c| {
        c.hub = hub_config(json!({
            "sync_interval_secs": 3600,
            "retry_min_secs": 1,
            "gen3_commons": {
                "away": {"mds_url": away_url, "commons_url": "away.example",
                         "drs_prefixes": ["dg.AWAY"]},
                "moved": {"mds_url": moved_url, "commons_url": "moved.example"}}
        }));
    })
    .await;
    let s = wait_status(&hub, "away refused, moved synced", |s| {
        s["commons"]["moved"]["status"] == "ok"
            && s["commons"]["away"]["last_error"].as_str().is_some()
    })
    .await;
    // a redirect within the commons' own origin is followed
    assert_eq!(s["commons"]["moved"]["studies"], 5);
    hub.get("/mds/aggregate/metadata/guid/h-4")
        .await
        .expect(200);
    // one to another port of the same address is not
    let error = s["commons"]["away"]["last_error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "HTTP 302 Found: refused a redirect to another host ({elsewhere_url})"
        )),
        "{error}"
    );
    assert!(error.contains(&format!("GET {}/mds/metadata?data=True", away.url)));
    assert_eq!(s["commons"]["away"]["status"], "error");
    assert_eq!(s["commons"]["away"]["studies"], 0);
    assert_eq!(asked.load(Ordering::SeqCst), 0, "the other host was asked");
    // nor does a DRS lookup at the owning commons (DIST) follow it: the commons failed
    let r = hub
        .get("/ga4gh/drs/v1/objects/dg.AWAY/00000000-0000-0000-0000-000000000001")
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(asked.load(Ordering::SeqCst), 0, "DIST followed a redirect");
    hub.stop().await;
    away.server.abort();
    moved.server.abort();
    elsewhere_server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drs_through_the_hub_when_the_owning_commons_is_unreachable() {
    let a = TestApp::start_with(|c| c.index.guid_prefix = "dg.AAAA/".into()).await;
    let broken = hostile_commons(BROKEN, "").await;
    // a port nothing listens on
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (a_url, broken_url) = (a.url.clone(), broken.url.clone());
    let hub = TestApp::start_with(move |c| {
        c.hub = hub_config(json!({
            "gen3_commons": {
                "commons-a": {"mds_url": a_url, "commons_url": "a.example",
                              "drs_prefixes": ["dg.AAAA"]},
                "down": {"mds_url": closed, "commons_url": "down.example",
                         "drs_prefixes": ["dg.DOWN"]},
                "broken": {"mds_url": broken_url, "commons_url": "broken.example",
                           "drs_prefixes": ["dg.FIVE"]}}
        }));
    })
    .await;
    for (id, name) in [
        ("dg.DOWN/00000000-0000-0000-0000-000000000001", "down"),
        ("dg.FIVE/00000000-0000-0000-0000-000000000001", "broken"),
        ("dg.FIVE:00000000-0000-0000-0000-000000000001", "broken"),
    ] {
        for path in [
            format!("/ga4gh/drs/v1/objects/{id}"),
            format!("/ga4gh/drs/v1/objects/{id}/access/s3"),
        ] {
            let r = hub.get(&path).await;
            assert_eq!(r.status, 503, "{path}: {}", r.text);
            assert_eq!(r.json["status_code"], 503, "{path}");
            assert!(
                r.json["msg"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("could not be reached: {name}")),
                "{path}: {}",
                r.text
            );
        }
    }
    // the owning commons answered that it has no such id: 404 still, though others are down
    let r = hub
        .get("/ga4gh/drs/v1/objects/dg.AAAA/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["status_code"], 404);
    hub.stop().await;
    a.stop().await;
    broken.server.abort();
}
