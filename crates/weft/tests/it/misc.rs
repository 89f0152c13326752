//! The smaller indexd endpoints: `/urls/`, `/_query/urls/…`, `/guid/…`, `/_dist`, `/_stats`.

use std::collections::HashSet;

use serde_json::{Value, json};
use weft_config::DistEntry;

use crate::support::{MD5, MD5_B, TestApp, is_uuid, sorted};

#[tokio::test]
async fn urls_by_size_hash_and_ids() {
    let app = TestApp::start().await;
    let a = app
        .create(json!({
            "size": 5, "urls": ["s3://b/a1", "gs://g/a2"],
            "urls_metadata": {"gs://g/a2": {"region": "us"}},
        }))
        .await;
    let b = app
        .create(json!({"size": 6, "hashes": {"md5": MD5_B}, "urls": ["s3://b/b1"]}))
        .await;

    let v = app.get("/index/urls/?size=5").await.expect(200);
    assert_eq!(
        v,
        json!({
            "urls": [
                {"url": "s3://b/a1", "metadata": {}},
                {"url": "gs://g/a2", "metadata": {"region": "us"}},
            ],
            "limit": 100, "start": 0, "size": 5, "hashes": {},
        })
    );
    let v = app
        .get(&format!("/index/urls/?hash=md5:{MD5_B}"))
        .await
        .expect(200);
    assert_eq!(v["urls"], json!([{"url": "s3://b/b1", "metadata": {}}]));
    assert_eq!(v["hashes"], json!({"md5": MD5_B}));
    let v = app
        .get(&format!("/index/urls/?ids={},{}", a.did, b.did))
        .await
        .expect(200);
    let urls: HashSet<&str> = v["urls"]
        .as_array()
        .expect("urls")
        .iter()
        .filter_map(|u| u["url"].as_str())
        .collect();
    assert_eq!(urls, HashSet::from(["s3://b/a1", "gs://g/a2", "s3://b/b1"]));
    let v = app
        .get(&format!(
            "/index/urls/?hash=md5:{MD5}&size=5&limit=1&start=1"
        ))
        .await
        .expect(200);
    assert_eq!(
        v["urls"],
        json!([{"url": "gs://g/a2", "metadata": {"region": "us"}}])
    );
    assert_eq!(v["limit"], 1);
    assert_eq!(v["start"], 1);
    let v = app.get("/index/urls/?size=999").await.expect(200);
    assert_eq!(v["urls"], json!([]));

    for (query, needle) in [
        ("", "at least one of"),
        ("limit=5", "at least one of"),
        ("size=5&limit=2000", "limit"),
        ("size=-5", "size"),
        ("size=5&start=-1", "start"),
        ("hash=md5:nothex", "hash"),
        ("size=5&colour=red", "colour"),
    ] {
        app.get(&format!("/index/urls/?{query}"))
            .await
            .expect_error(400, needle);
    }
    app.stop().await;
}

#[tokio::test]
async fn query_urls() {
    let app = TestApp::start().await;
    let a = app
        .create(json!({"urls": ["s3://bucket-a/x", "https://mirror/x"], "version": "1"}))
        .await;
    let b = app.create(json!({"urls": ["gs://bucket-b/y"]})).await;
    let c = app.create(json!({"urls": ["s3://bucket-c/z"]})).await;

    let v = app
        .get("/index/_query/urls/q?include=s3%3A%2F%2F")
        .await
        .expect(200);
    let mut want = vec![
        json!({"did": a.did, "urls": ["s3://bucket-a/x", "https://mirror/x"]}),
        json!({"did": c.did, "urls": ["s3://bucket-c/z"]}),
    ];
    want.sort_by_key(|r| r["did"].as_str().unwrap_or_default().to_owned());
    assert_eq!(v, Value::Array(want), "ordered by did");

    let v = app.get("/index/_query/urls/q?exclude=s3").await.expect(200);
    assert_eq!(v, json!([{"did": b.did, "urls": ["gs://bucket-b/y"]}]));
    let v = app
        .get("/index/_query/urls/q?include=bucket&versioned=true")
        .await
        .expect(200);
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["did"], a.did);
    let v = app
        .get("/index/_query/urls/q?include=bucket&versioned=false")
        .await
        .expect(200);
    assert_eq!(v.as_array().map(Vec::len), Some(2));
    let v = app
        .get("/index/_query/urls/q?fields=did&include=bucket-b")
        .await
        .expect(200);
    assert_eq!(v, json!([{"did": b.did}]));
    let v = app
        .get("/index/_query/urls/q?fields=did,rev&include=bucket-b")
        .await
        .expect(200);
    assert_eq!(v, json!([{"did": b.did, "rev": b.rev}]));
    let all = sorted(vec![a.did.clone(), b.did.clone(), c.did.clone()]);
    let v = app
        .get("/index/_query/urls/q?limit=1&offset=1&fields=did")
        .await
        .expect(200);
    assert_eq!(v, json!([{"did": all[1]}]));
    let v = app.get("/index/_query/urls/q").await.expect(200);
    assert_eq!(v.as_array().map(Vec::len), Some(3));

    for (query, needle) in [
        ("colour=red", "colour"),
        ("include=s3&hash=md5:x", "hash"),
        ("versioned=maybe", "versioned"),
        ("fields=size", "size"),
        ("limit=-1", "limit"),
        ("offset=x", "offset"),
    ] {
        app.get(&format!("/index/_query/urls/q?{query}"))
            .await
            .expect_error(400, needle);
    }
    app.stop().await;
}

#[tokio::test]
async fn query_urls_by_metadata() {
    let app = TestApp::start().await;
    let a = app
        .create(json!({
            "urls": ["s3://b/a", "gs://g/a"],
            "urls_metadata": {"s3://b/a": {"state": "validated"}, "gs://g/a": {"state": "pending"}},
        }))
        .await;
    let b = app
        .create(json!({
            "urls": ["gs://g/b"],
            "urls_metadata": {"gs://g/b": {"state": "validated"}},
            "version": "2",
        }))
        .await;
    app.create(json!({"urls": ["s3://b/c"]})).await;

    let v = app
        .get("/index/_query/urls/metadata/q?key=state&value=validated")
        .await
        .expect(200);
    let mut want = vec![
        json!({"did": a.did, "urls": ["s3://b/a"], "rev": a.rev}),
        json!({"did": b.did, "urls": ["gs://g/b"], "rev": b.rev}),
    ];
    want.sort_by_key(|r| r["did"].as_str().unwrap_or_default().to_owned());
    assert_eq!(v, Value::Array(want));
    let v = app
        .get("/index/_query/urls/metadata/q?key=state&value=validated&url=gs")
        .await
        .expect(200);
    assert_eq!(
        v,
        json!([{"did": b.did, "urls": ["gs://g/b"], "rev": b.rev}])
    );
    let v = app
        .get("/index/_query/urls/metadata/q?key=state&value=pending&fields=did")
        .await
        .expect(200);
    assert_eq!(v, json!([{"did": a.did}]));
    let v = app
        .get("/index/_query/urls/metadata/q?key=state&value=validated&versioned=true&fields=did")
        .await
        .expect(200);
    assert_eq!(v, json!([{"did": b.did}]));
    let v = app
        .get("/index/_query/urls/metadata/q?key=state&value=gone")
        .await
        .expect(200);
    assert_eq!(v, json!([]));

    for query in [
        "key=state",
        "value=validated",
        "",
        "key=a&value=b&include=x",
    ] {
        let r = app
            .get(&format!("/index/_query/urls/metadata/q?{query}"))
            .await;
        assert_eq!(r.status, 400, "?{query}: {}", r.text);
        assert!(r.json["error"].is_string());
    }
    app.stop().await;
}

#[tokio::test]
async fn guid_mint_and_prefix() {
    let app = TestApp::start().await;
    let v = app.get("/index/guid/mint?count=3").await.expect(200);
    let guids: Vec<&str> = v["guids"]
        .as_array()
        .expect("guids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(guids.len(), 3);
    assert!(guids.iter().all(|g| is_uuid(g)), "{guids:?}");
    assert_eq!(guids.iter().collect::<HashSet<_>>().len(), 3, "distinct");

    let v = app.get("/index/guid/mint").await.expect(200);
    assert_eq!(v["guids"].as_array().map(Vec::len), Some(1), "default 1");
    let v = app.get("/index/guid/mint?count=0").await.expect(200);
    assert_eq!(v, json!({"guids": []}));
    let v = app.get("/index/guid/mint?count=10000").await.expect(200);
    assert_eq!(v["guids"].as_array().map(Vec::len), Some(10000));
    for bad in ["20000", "10001", "-1", "many"] {
        app.get(&format!("/index/guid/mint?count={bad}"))
            .await
            .expect_error(400, "count");
    }

    assert_eq!(
        app.get("/index/guid/prefix").await.expect(200),
        json!({"prefix": ""})
    );
    app.stop().await;
}

#[tokio::test]
async fn dist_lists_the_configuration() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/index/_dist").await.expect(200), json!([]));
    app.stop().await;

    let app = TestApp::start_with(|c| {
        c.index.dist = vec![DistEntry {
            name: "other commons".into(),
            host: "http://127.0.0.1:9/index/".into(),
            hints: vec![r"dg\.OTHER/.*".into()],
            kind: "indexd".into(),
        }];
    })
    .await;
    assert_eq!(
        app.get("/index/_dist").await.expect(200),
        json!([{
            "name": "other commons",
            "host": "http://127.0.0.1:9/index/",
            "hints": [r"dg\.OTHER/.*"],
            "type": "indexd",
        }])
    );
    app.stop().await;
}

#[tokio::test]
async fn stats_count_files_and_bytes() {
    let app = TestApp::start().await;
    assert_eq!(
        app.get("/index/_stats").await.expect(200),
        json!({"fileCount": 0, "totalFileSize": 0})
    );
    let a = app.create(json!({"size": 10})).await;
    app.create(json!({"size": 32, "hashes": {"md5": MD5}}))
        .await;
    assert_eq!(
        app.get("/index/_stats").await.expect(200),
        json!({"fileCount": 2, "totalFileSize": 42})
    );
    // month/year: totals as of the end of that month
    let (year, month) = {
        let doc = app.doc(&a.did).await;
        let d = doc["created_date"].as_str().unwrap_or_default().to_owned();
        (
            d[0..4].to_owned(),
            d[5..7].trim_start_matches('0').to_owned(),
        )
    };
    assert_eq!(
        app.get(&format!("/index/_stats?month={month}&year={year}"))
            .await
            .expect(200),
        json!({"fileCount": 2, "totalFileSize": 42})
    );
    assert_eq!(
        app.get("/index/_stats?month=1&year=2000").await.expect(200),
        json!({"fileCount": 0, "totalFileSize": 0})
    );
    for query in [
        "month=1",
        "year=2020",
        "month=13&year=2020",
        "month=x&year=2020",
    ] {
        let r = app.get(&format!("/index/_stats?{query}")).await;
        assert_eq!(r.status, 400, "?{query}: {}", r.text);
        assert!(r.json["error"].is_string());
    }
    // deleted records no longer count
    app.delete(&format!("/index/index/{}?rev={}", a.did, a.rev))
        .await
        .expect(200);
    assert_eq!(
        app.get("/index/_stats").await.expect(200),
        json!({"fileCount": 1, "totalFileSize": 32})
    );
    app.stop().await;
}

#[tokio::test]
async fn static_routes_accept_a_trailing_slash() {
    // indexd serves every route with or without a trailing slash (strict_slashes=False)
    let app = TestApp::start().await;
    let ids = app.create(json!({"urls": ["s3://b/k"]})).await;
    let v = app.get("/index/guid/mint/?count=2").await.expect(200);
    assert_eq!(v["guids"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.get("/index/guid/prefix/").await.expect(200),
        json!({"prefix": ""})
    );
    assert_eq!(app.get("/index/_dist/").await.expect(200), json!([]));
    assert_eq!(
        app.get("/index/_stats/").await.expect(200),
        json!({"fileCount": 1, "totalFileSize": 123})
    );
    let r = app.get("/index/_status/").await;
    assert_eq!((r.status, r.text.as_str()), (200, "Healthy"));
    assert!(app.get("/index/_version/").await.expect(200)["version"].is_string());
    assert_eq!(
        app.get("/index/_query/urls/q/?include=s3")
            .await
            .expect(200),
        json!([{"did": ids.did, "urls": ["s3://b/k"]}])
    );
    assert_eq!(
        app.get("/index/_query/urls/metadata/q/?key=a&value=b")
            .await
            .expect(200),
        json!([])
    );
    app.stop().await;
}
