//! Bad input is a JSON 4xx that names the problem, never a 500, and leaves nothing behind.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{MD5, TestApp, mint, record};

#[tokio::test]
async fn bad_create_bodies_are_400_and_store_nothing() {
    let app = TestApp::start().await;
    let did = mint(&app).await;
    let raw: &[(&[u8], &str)] = &[
        (b"{\"form\": \"object\", ", "invalid request body"),
        (b"not json at all", "invalid request body"),
        (b"", "JSON object"),
        (b"   ", "JSON object"),
        (b"[1, 2]", "invalid request body"),
        (b"null", "invalid request body"),
        (&[0xff, 0xfe, 0x00], "invalid request body"),
    ];
    for (body, needle) in raw {
        let r = app.send_raw(Method::POST, "/index/index/", body).await;
        r.expect_error(400, needle);
    }
    let cases: Vec<(Value, &str)> = vec![
        (record(json!({"size": "123"})), "invalid type"),
        (record(json!({"size": 1.5})), "invalid type"),
        (record(json!({"urls": "s3://b/k"})), "invalid type"),
        (record(json!({"hashes": [MD5]})), "invalid type"),
        (record(json!({"acl": "*"})), "invalid type"),
        (record(json!({"metadata": ["a"]})), "invalid type"),
        (record(json!({"colour": "red"})), "unknown field `colour`"),
        (record(json!({"hashes": null})), "hashes"),
        (record(json!({"form": null})), "form"),
        (record(json!({"size": null})), "size"),
        (record(json!({"urls": null})), "urls"),
        (record(json!({"form": "blob"})), "blob"),
        (record(json!({"hashes": {"md5": "abc"}})), "md5"),
        (record(json!({"hashes": {"md5": format!("{MD5}0")}})), "md5"),
        (
            record(json!({"hashes": {"md5": "0123456789abcdef0123456789abcdeg"}})),
            "md5",
        ),
        (record(json!({"hashes": {"sha256": MD5}})), "sha256"),
        (record(json!({"hashes": {}})), "at least one of"),
        (
            record(json!({"hashes": {"blake3": MD5}})),
            "at least one of",
        ),
        (record(json!({"size": -1})), "size"),
        (record(json!({"did": "not-a-guid"})), "not a valid GUID"),
        (
            record(json!({"did": format!("{did}x")})),
            "not a valid GUID",
        ),
        (record(json!({"baseid": "abc"})), "baseid"),
        (
            record(json!({"did": did, "urls_metadata": {"s3://other": {}}})),
            "not in urls",
        ),
        (
            record(json!({"did": did, "content_created_date": "yesterday"})),
            "ISO 8601",
        ),
        (
            record(json!({"did": did, "content_updated_date": "2020-01-01T00:00:00"})),
            "content_created_date",
        ),
        (
            record(json!({
                "did": did,
                "content_created_date": "2021-01-01T00:00:00",
                "content_updated_date": "2020-01-01T00:00:00",
            })),
            "before",
        ),
    ];
    for (body, needle) in cases {
        let r = app.post_json("/index/index/", &body).await;
        assert!(r.status < 500, "{body}: {}", r.text);
        r.expect_error(400, needle);
    }
    assert!(
        app.list_dids("").await.is_empty(),
        "no failed create stored anything"
    );
    app.get(&format!("/index/index/{did}"))
        .await
        .expect_error(404, "no record found");
    assert_eq!(
        app.get("/index/_stats").await.expect(200),
        json!({"fileCount": 0, "totalFileSize": 0})
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_update_bodies_are_400_and_change_nothing() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let before = app.doc(&ids.did).await;
    let path = format!("/index/index/{}?rev={}", ids.did, ids.rev);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"size": 3}), "size"),
        (json!({"hashes": {"md5": MD5}}), "hashes"),
        (json!({"form": "object"}), "form"),
        (json!({"did": "x"}), "did"),
        (json!({"baseid": "x"}), "baseid"),
        (json!({"rev": "x"}), "rev"),
        (json!({"urls": "s3://x"}), "invalid type"),
        (json!({"file_name": 5}), "invalid type"),
        (
            json!({"urls_metadata": {"gs://not-a-url-of-it": {}}}),
            "not in urls",
        ),
        (json!({"content_created_date": "soon"}), "ISO 8601"),
        (
            json!({"content_created_date": "2022-01-01T00:00:00", "content_updated_date": "2021-01-01T00:00:00"}),
            "before",
        ),
        (json!([]), "invalid request body"),
    ];
    for (body, needle) in cases {
        app.put_json(&path, &body).await.expect_error(400, needle);
    }
    for raw in [&b"{"[..], b"", b"nope"] {
        let r = app.send_raw(Method::PUT, &path, raw).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
    assert_eq!(app.doc(&ids.did).await, before, "nothing changed");
    app.stop().await;
}

#[tokio::test]
async fn over_limit_bodies_are_413() {
    let app = TestApp::start_with(|c| c.max_body_bytes = 1024).await;
    let body = record(json!({"description": "x".repeat(2000)}));
    let r = app.post_json("/index/index/", &body).await;
    r.expect_error(413, "max_body_bytes");
    // just under the limit is fine
    let ok = record(json!({"description": "x".repeat(500)}));
    assert!(ok.to_string().len() < 1024);
    let v = app.post_json("/index/index/", &ok).await.expect(200);
    let did = v["did"].as_str().unwrap_or_default().to_owned();
    // on the other write routes too
    let r = app
        .put_json(
            &format!(
                "/index/index/{did}?rev={}",
                v["rev"].as_str().unwrap_or_default()
            ),
            &json!({"description": "y".repeat(2000)}),
        )
        .await;
    r.expect_error(413, "max_body_bytes");
    let r = app
        .post_json("/index/bulk/documents", &json!(vec![did.clone(); 40]))
        .await;
    r.expect_error(413, "max_body_bytes");
    // a chunked body without a length is cut off as well
    let mut req = format!(
        "POST /index/index/ HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic YWRtaW46c2VjcmV0\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.host()
    );
    for _ in 0..8 {
        req.push_str(&format!("200\r\n{}\r\n", " ".repeat(512)));
    }
    req.push_str("0\r\n\r\n");
    let (status, body) = app.raw_http(req.as_bytes()).await;
    assert_eq!(status, 413, "{body}");
    let v: Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(v["error"].is_string(), "{body}");
    assert_eq!(app.list_dids("").await, vec![did]);
    app.stop().await;
}

#[tokio::test]
async fn bad_query_strings_and_paths_are_json_400s() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    for path in [
        "/index/index/?limit=%ZZ".to_owned(),
        "/index/index/?size=1e3".to_owned(),
        "/index/_stats?month=%FF&year=2020".to_owned(),
        "/index/guid/mint?count=1.5".to_owned(),
        format!("/index/index/{}/latest?has_version=true&x=%", ids.did),
    ] {
        let r = app.get(&path).await;
        assert!(r.status < 500, "{path}: {}", r.text);
        if r.status >= 400 {
            assert!(r.json["error"].is_string(), "{path}: {}", r.text);
        }
    }
    // methods a path does not serve
    let r = app
        .request(
            Method::PATCH,
            &format!("/index/index/{}", ids.did),
            Some(b"{}".to_vec()),
            crate::support::Auth::Admin,
        )
        .await;
    assert!(matches!(r.status, 400 | 405), "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    let r = app
        .request(
            Method::DELETE,
            &format!("/index/index/{}/versions", ids.did),
            None,
            crate::support::Auth::Admin,
        )
        .await;
    assert!(matches!(r.status, 400 | 405), "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    // the record is still there
    assert_eq!(app.doc(&ids.did).await["rev"], ids.rev);
    app.stop().await;
}

#[tokio::test]
async fn failed_writes_leave_nothing_behind() {
    let app = TestApp::start().await;
    let a = app.create(json!({"file_name": "a"})).await;
    let b = app.create(json!({"file_name": "b"})).await;
    let before = snapshot(&app, &a.did, &b.did).await;

    // create colliding with an existing did
    app.post_json("/index/index/", &record(json!({"did": b.did})))
        .await
        .expect_error(409, "already exists");
    // new version colliding with an existing did
    app.post_json(
        &format!("/index/index/{}", a.did),
        &record(json!({"did": b.did})),
    )
    .await
    .expect_error(409, "already exists");
    // update with a stale rev, and with a bad body
    app.put_json(
        &format!("/index/index/{}?rev=ffffffff", a.did),
        &json!({"file_name": "z"}),
    )
    .await
    .expect_error(409, "revision mismatch");
    app.put_json(
        &format!("/index/index/{}?rev={}", a.did, a.rev),
        &json!({"file_name": "z", "urls_metadata": {"nope": {}}}),
    )
    .await
    .expect_error(400, "not in urls");
    // delete with a stale rev
    app.delete(&format!("/index/index/{}?rev=ffffffff", a.did))
        .await
        .expect_error(409, "revision mismatch");
    // versions update with a bad body
    app.put_json(
        &format!("/index/index/{}/versions", a.did),
        &json!({"acl": ["x"], "size": 1}),
    )
    .await
    .expect_error(400, "size");
    // blank update of a filled record
    app.put_json(
        &format!("/index/index/blank/{}?rev={}", a.did, a.rev),
        &json!({"size": 1, "hashes": {"md5": MD5}}),
    )
    .await
    .expect_error(400, "non-empty");
    // alias add where one alias is bad
    app.post_json(
        &format!("/index/index/{}/aliases", a.did),
        &json!({"aliases": [{"value": "fine"}, {"value": ""}]}),
    )
    .await
    .expect_error(400, "empty");

    assert_eq!(snapshot(&app, &a.did, &b.did).await, before);
    app.stop().await;
}

/// Everything a failed write must not change.
async fn snapshot(app: &TestApp, a: &str, b: &str) -> (Value, Value, Value, Value) {
    (
        app.doc(a).await,
        app.doc(b).await,
        app.get("/index/index/?limit=1024").await.expect(200)["records"].clone(),
        app.get(&format!("/index/index/{a}/aliases"))
            .await
            .expect(200),
    )
}
