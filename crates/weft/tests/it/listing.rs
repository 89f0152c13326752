//! `GET /index/index/`: filters, the echo of parsed filters, and both ways of paging.

use std::collections::HashSet;

use serde_json::json;

use crate::support::{Ids, MD5, MD5_B, SHA256, TestApp, dids, encode, sorted};

/// Three records with overlapping attributes.
async fn three(app: &TestApp) -> (Ids, Ids, Ids) {
    let r1 = app
        .create(json!({
            "size": 10, "hashes": {"md5": MD5}, "urls": ["s3://b/1"],
            "acl": ["*"], "authz": [], "file_name": "one.txt", "version": "v1",
            "uploader": "alice", "metadata": {"project": "p1"},
        }))
        .await;
    let r2 = app
        .create(json!({
            "size": 20, "hashes": {"md5": MD5_B, "sha256": SHA256},
            "urls": ["s3://b/2", "gs://g/2"],
            "urls_metadata": {"s3://b/2": {"state": "validated"}},
            "acl": ["phs1"], "authz": ["/programs/a"], "file_name": "two.txt",
            "version": "v2", "uploader": "bob", "metadata": {"project": "p2"},
        }))
        .await;
    let r3 = app
        .create(json!({
            "size": 10, "hashes": {"md5": MD5_B}, "urls": ["https://h/3"],
            "acl": [], "authz": ["/programs/a", "/programs/b"], "file_name": "three.txt",
            "version": null, "uploader": "alice",
            "metadata": {"project": "p1", "kind": "x"},
        }))
        .await;
    (r1, r2, r3)
}

#[tokio::test]
async fn filters() {
    let app = TestApp::start().await;
    let (r1, r2, r3) = three(&app).await;
    let (d1, d2, d3) = (r1.did.as_str(), r2.did.as_str(), r3.did.as_str());
    let cases: Vec<(String, Vec<&str>)> = vec![
        (String::new(), vec![d1, d2, d3]),
        (format!("hash=md5:{MD5}"), vec![d1]),
        (format!("hash=md5:{MD5_B}"), vec![d2, d3]),
        (format!("hash=md5:{MD5_B}&hash=sha256:{SHA256}"), vec![d2]),
        (format!("hash=md5:{MD5}&hash=sha256:{SHA256}"), vec![]),
        ("size=10".into(), vec![d1, d3]),
        ("size=20".into(), vec![d2]),
        ("size=0".into(), vec![]),
        (format!("url={}", encode("s3://b/2")), vec![d2]),
        (
            format!("url={}&url={}", encode("s3://b/2"), encode("gs://g/2")),
            vec![d2],
        ),
        (
            format!("url={}&url={}", encode("s3://b/1"), encode("gs://g/2")),
            vec![],
        ),
        ("acl=phs1".into(), vec![d2]),
        (format!("acl={}", encode("*")), vec![d1]),
        ("acl=null".into(), vec![d3]),
        (format!("authz={}", encode("/programs/a")), vec![d2, d3]),
        (
            format!("authz={}", encode("/programs/a,/programs/b")),
            vec![d3],
        ),
        ("authz=null".into(), vec![d1]),
        ("file_name=two.txt".into(), vec![d2]),
        ("version=v1".into(), vec![d1]),
        ("uploader=alice".into(), vec![d1, d3]),
        ("uploader=carol".into(), vec![]),
        ("metadata=project:p1".into(), vec![d1, d3]),
        ("metadata=project:p1&metadata=kind:x".into(), vec![d3]),
        ("metadata=kind:y".into(), vec![]),
        (
            format!(
                "urls_metadata={}",
                encode(r#"{"b/2": {"state": "validated"}}"#)
            ),
            vec![d2],
        ),
        ("size=10&uploader=alice&acl=null".into(), vec![d3]),
        (format!("ids={d1},{d3}"), vec![d1, d3]),
        (format!("ids={d2},0000-not-there"), vec![d2]),
        (
            format!("negate_params={}", encode(r#"{"authz": ["/programs/b"]}"#)),
            vec![d1, d2],
        ),
        (
            format!("negate_params={}", encode(r#"{"acl": ["phs1"]}"#)),
            vec![d1, d3],
        ),
        (
            format!("negate_params={}", encode(r#"{"urls": ["s3://b/1"]}"#)),
            vec![d2, d3],
        ),
        (
            format!("negate_params={}", encode(r#"{"file_name": "one.txt"}"#)),
            vec![d2, d3],
        ),
        // SQL semantics, as indexd: a null version is not "≠ v1"
        (
            format!("negate_params={}", encode(r#"{"version": "v1"}"#)),
            vec![d2],
        ),
        (
            format!("negate_params={}", encode(r#"{"metadata": {"kind": ""}}"#)),
            vec![d1, d2],
        ),
        (
            format!(
                "negate_params={}",
                encode(r#"{"metadata": {"project": "p1"}}"#)
            ),
            vec![d2],
        ),
        (
            format!(
                "negate_params={}",
                encode(r#"{"urls_metadata": {"b/2": {"state": ""}}}"#)
            ),
            vec![d1, d3],
        ),
        (
            format!(
                "uploader=alice&negate_params={}",
                encode(r#"{"authz": ["/programs/a"]}"#)
            ),
            vec![d1],
        ),
    ];
    for (query, want) in cases {
        let got = app.list_dids(&query).await;
        let want: Vec<String> = want.into_iter().map(str::to_owned).collect();
        assert_eq!(sorted(got.clone()), sorted(want), "?{query}");
        assert_eq!(got, sorted(got.clone()), "ordered by did: ?{query}");
    }
    // no bundles here: form=bundle lists nothing, form=all lists the objects
    assert!(app.list_dids("form=bundle").await.is_empty());
    assert_eq!(app.list_dids("form=all").await.len(), 3);
    assert_eq!(app.list_dids("form=object").await.len(), 3);
    // `ids` ignores `limit`'s default of 100 but cannot be combined with paging
    let v = app
        .get(&format!("/index/index/?ids={d1},{d2},{d3}"))
        .await
        .expect(200);
    assert_eq!(dids(&v["records"]).len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn listing_echoes_the_parsed_filters() {
    let app = TestApp::start().await;
    let (r1, _, _) = three(&app).await;
    let v = app.get("/index/index/").await.expect(200);
    for k in [
        "ids",
        "records",
        "limit",
        "start",
        "page",
        "size",
        "file_name",
        "version",
        "urls",
        "acl",
        "authz",
        "hashes",
        "metadata",
        "urls_metadata",
    ] {
        assert!(v.get(k).is_some(), "key {k} in {v}");
    }
    assert_eq!(v["limit"], 100);
    assert!(v["start"].is_null());
    assert!(v["size"].is_null());
    assert_eq!(v["records"].as_array().map(Vec::len), Some(3));
    // records are full documents
    assert_eq!(
        v["records"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["did"] == r1.did))
            .cloned(),
        Some(app.doc(&r1.did).await)
    );

    let v = app
        .get(&format!(
            "/index/index/?limit=5&size=10&file_name=one.txt&hash=md5:{MD5}&acl=a,b&authz=null&url={}&metadata=project:p1&start={}",
            encode("s3://b/1"),
            encode("0"),
        ))
        .await
        .expect(200);
    assert_eq!(v["limit"], 5);
    assert_eq!(v["size"], 10);
    assert_eq!(v["start"], "0");
    assert_eq!(v["file_name"], "one.txt");
    assert_eq!(v["hashes"], json!({"md5": MD5}));
    assert_eq!(v["acl"], json!(["a", "b"]));
    assert_eq!(v["authz"], json!([]));
    assert_eq!(v["urls"], json!(["s3://b/1"]));
    assert_eq!(v["metadata"], json!({"project": "p1"}));
    assert_eq!(v["records"], json!([]), "acl a,b matches nothing");
    app.stop().await;
}

async fn create_n(app: &TestApp, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(app.create(json!({"file_name": format!("f{i}")})).await.did);
    }
    out
}

#[tokio::test]
async fn start_paging_walks_every_record_once() {
    let app = TestApp::start().await;
    let all = sorted(create_n(&app, 7).await);

    // indexclient's pattern: start = last did, stop at a short page
    let mut seen = Vec::new();
    let mut start: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let path = match &start {
            None => "/index/index/?limit=3".to_owned(),
            Some(s) => format!("/index/index/?limit=3&start={}", encode(s)),
        };
        let v = app.get(&path).await.expect(200);
        let page = dids(&v["records"]);
        pages.push(page.len());
        assert_eq!(page, sorted(page.clone()), "each page in did order");
        if let Some(s) = &start {
            assert!(page.iter().all(|d| d > s), "start is exclusive");
        }
        seen.extend(page.iter().cloned());
        if page.len() < 3 {
            break;
        }
        start = page.last().cloned();
    }
    assert_eq!(pages, [3, 3, 1]);
    assert_eq!(seen, all, "every record exactly once, in did order");

    // start past the end, limit 0
    let last = all.last().cloned().unwrap_or_default();
    assert!(
        app.list_dids(&format!("start={}", encode(&last)))
            .await
            .is_empty()
    );
    let v = app.get("/index/index/?limit=0").await.expect(200);
    assert_eq!(v["records"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn page_paging_orders_by_updated_date() {
    let app = TestApp::start().await;
    let created = create_n(&app, 7).await;
    let mut seen = Vec::new();
    for (page, len) in [(0, 3), (1, 3), (2, 1), (3, 0)] {
        let v = app
            .get(&format!("/index/index/?limit=3&page={page}"))
            .await
            .expect(200);
        assert_eq!(v["page"], page);
        let got = dids(&v["records"]);
        assert_eq!(got.len(), len, "page {page}");
        seen.extend(got);
    }
    assert_eq!(seen, created, "in order of last update");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);

    // touching the first record moves it to the end
    let doc = app.doc(&created[0]).await;
    app.put_json(
        &format!(
            "/index/index/{}?rev={}",
            created[0],
            doc["rev"].as_str().unwrap_or_default()
        ),
        &json!({"file_name": "touched"}),
    )
    .await
    .expect(200);
    let v = app.get("/index/index/?limit=3&page=2").await.expect(200);
    assert_eq!(dids(&v["records"]), vec![created[0].clone()]);
    let v = app.get("/index/index/?limit=3&page=0").await.expect(200);
    assert_eq!(dids(&v["records"])[0], created[1]);
    app.stop().await;
}

#[tokio::test]
async fn bad_listing_parameters_are_400() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    for (query, needle) in [
        ("limit=2000", "limit"),
        ("limit=1025", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("page=-1", "page"),
        ("page=x", "page"),
        ("size=-1", "size"),
        ("size=big", "size"),
        ("hash=md5:zz", "hash"),
        ("hash=blake3:abc", "hash"),
        ("hash=md5", "type:value"),
        ("metadata=novalue", "key:value"),
        ("ids=a,b&limit=1", "pagination"),
        ("ids=a&start=b", "pagination"),
        ("ids=a&page=0", "pagination"),
        ("negate_params=[]", "negate_params"),
        ("negate_params=%7Bbad", "negate_params"),
        ("negate_params=%7B%22colour%22%3A1%7D", "colour"),
        ("urls_metadata=nope", "urls_metadata"),
        ("form=blob", "form"),
    ] {
        app.get(&format!("/index/index/?{query}"))
            .await
            .expect_error(400, needle);
    }
    // 1024 is the largest limit
    let v = app.get("/index/index/?limit=1024").await.expect(200);
    assert_eq!(dids(&v["records"]), vec![ids.did]);
    app.stop().await;
}
