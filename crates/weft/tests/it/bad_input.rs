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

/// A query string of `pairs`, each key and value percent-encoded.
fn query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                crate::support::encode(k),
                crate::support::encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Text PostgreSQL refuses (a NUL) in every field of an index record is the same 400 on both
/// backends, and nothing is stored (PostgreSQL answered 500 before).
#[tokio::test]
async fn nul_characters_in_index_records_are_400_on_both_backends() {
    let app = TestApp::start().await;
    let did = mint(&app).await;
    let nul = "a\u{0}b";
    let cases: Vec<(Value, &str)> = vec![
        (record(json!({"urls": [format!("s3://b/{nul}")]})), "url"),
        (record(json!({"file_name": nul})), "file_name"),
        (record(json!({"version": nul})), "version"),
        (record(json!({"uploader": nul})), "uploader"),
        (record(json!({"description": nul})), "description"),
        (record(json!({"acl": [nul]})), "acl entry"),
        (
            record(json!({"authz": [format!("/p/{nul}")]})),
            "authz entry",
        ),
        (
            record(json!({"hashes": {"md5": MD5, "other": nul}})),
            "hash value",
        ),
        (
            record(json!({"hashes": {"md5": MD5, nul: "x"}})),
            "hash type",
        ),
        (record(json!({"metadata": {"k": nul}})), "metadata"),
        (record(json!({"metadata": {nul: "v"}})), "metadata key"),
        (
            record(json!({"metadata": {"k": {"deep": [nul]}}})),
            "metadata",
        ),
        (
            record(json!({"urls": ["s3://b/k"], "urls_metadata": {"s3://b/k": {"k": nul}}})),
            "urls_metadata",
        ),
        (record(json!({"did": format!("pre\u{0}fix/{did}")})), "did"),
    ];
    for (body, field) in cases {
        let msg = app
            .post_json("/index/index/", &body)
            .await
            .expect_error(400, "must not contain NUL characters (U+0000)");
        assert!(msg.contains(field), "{body}: {msg}");
    }
    // updates, new versions, blank records, aliases, versions and bundles
    let ids = app.create(json!({"urls": ["s3://b/k"]})).await;
    let before = app.doc(&ids.did).await;
    let rev = format!("/index/index/{}?rev={}", ids.did, ids.rev);
    for body in [
        json!({"file_name": nul}),
        json!({"urls": [nul]}),
        json!({"metadata": {"a": nul}}),
        json!({"urls_metadata": {"s3://b/k": {nul: "v"}}}),
        json!({"version": nul}),
    ] {
        app.put_json(&rev, &body)
            .await
            .expect_error(400, "NUL characters");
    }
    app.post_json(
        &format!("/index/index/{}", ids.did),
        &record(json!({"file_name": nul})),
    )
    .await
    .expect_error(400, "NUL characters");
    app.put_json(
        &format!("/index/index/{}/versions", ids.did),
        &json!({"authz": [nul]}),
    )
    .await
    .expect_error(400, "NUL characters");
    app.post_json(
        &format!("/index/index/{}/aliases", ids.did),
        &json!({"aliases": [{"value": nul}]}),
    )
    .await
    .expect_error(400, "NUL characters");
    app.post_json("/index/index/blank/", &json!({"file_name": nul}))
        .await
        .expect_error(400, "NUL characters");
    app.post_json("/index/index/blank/", &json!({"uploader": nul}))
        .await
        .expect_error(400, "NUL characters");
    app.post_json(
        "/index/bundle/",
        &json!({"bundles": [ids.did], "name": nul}),
    )
    .await
    .expect_error(400, "NUL characters");
    app.post_json("/index/bundle/", &json!({"bundles": [nul]}))
        .await
        .expect_error(400, "NUL characters");
    assert_eq!(app.doc(&ids.did).await, before, "nothing changed");
    assert_eq!(app.list_dids("").await, vec![ids.did.clone()]);
    assert_eq!(
        app.get(&format!("/index/index/{}/aliases", ids.did))
            .await
            .expect(200)["aliases"],
        json!([])
    );
    app.stop().await;
}

/// NUL in query parameters of every listing, and in ids in paths: the same 400 on both
/// backends, in each surface's error shape.
#[tokio::test]
async fn nul_characters_in_queries_and_paths_are_400_on_both_backends() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let nul = "a\u{0}b".to_owned();
    let listings = [
        format!("/index/index/?{}", query(&[("file_name", nul.clone())])),
        format!("/index/index/?{}", query(&[("url", nul.clone())])),
        format!("/index/index/?{}", query(&[("version", nul.clone())])),
        format!("/index/index/?{}", query(&[("uploader", nul.clone())])),
        format!("/index/index/?{}", query(&[("acl", nul.clone())])),
        format!("/index/index/?{}", query(&[("authz", nul.clone())])),
        format!(
            "/index/index/?{}",
            query(&[("metadata", format!("k:{nul}"))])
        ),
        format!("/index/index/?{}", query(&[("ids", nul.clone())])),
        format!("/index/index/?{}", query(&[("start", nul.clone())])),
        format!("/index/index/?{}", query(&[(&nul, "x".to_owned())])),
        format!(
            "/index/index/?{}",
            query(&[("negate_params", r#"{"urls": ["a\u0000"]}"#.to_owned())])
        ),
        format!(
            "/index/index/?{}",
            query(&[("urls_metadata", r#"{"s3://": {"k": "\u0000"}}"#.to_owned())])
        ),
        format!(
            "/index/index/?form=all&{}",
            query(&[("file_name", nul.clone())])
        ),
        format!("/index/urls/?{}", query(&[("ids", nul.clone())])),
        format!(
            "/index/_query/urls/q?{}",
            query(&[("include", nul.clone())])
        ),
        format!(
            "/index/_query/urls/metadata/q?{}",
            query(&[("key", "k".to_owned()), ("value", nul.clone())])
        ),
        "/index/index/a%00b".to_owned(),
        "/index/index/a%00b/versions".to_owned(),
        "/index/index/a%00b/latest".to_owned(),
        "/index/index/a%00b/aliases".to_owned(),
        "/index/bundle/a%00b".to_owned(),
        "/index/a%00b".to_owned(),
    ];
    for path in listings {
        let r = app.get(&path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        let msg = r.json["error"].as_str().unwrap_or_default();
        assert!(msg.contains("NUL characters"), "{path}: {}", r.text);
    }
    app.post_json("/index/bulk/documents", &json!([ids.did, nul]))
        .await
        .expect_error(400, "NUL characters");
    // DRS answers in its own shape
    for path in [
        "/ga4gh/drs/v1/objects/a%00b".to_owned(),
        format!(
            "/ga4gh/drs/v1/objects?{}",
            query(&[("file_name", nul.clone())])
        ),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert_eq!(r.json["status_code"], 400, "{path}: {}", r.text);
        let msg = r.json["msg"].as_str().unwrap_or_default();
        assert!(msg.contains("NUL characters"), "{path}: {}", r.text);
    }
    app.stop().await;
}

/// Values too long for an index (PostgreSQL refuses B-tree entries over ~2.7 KB) are the
/// same 400 on both backends, naming the field and the limit; values at the limit are fine.
#[tokio::test]
async fn oversized_index_values_are_400_on_both_backends() {
    let app = TestApp::start().await;
    let mb = "u".repeat(1 << 20);
    let cases: Vec<(Value, &str)> = vec![
        (
            record(json!({"urls": [format!("s3://b/{mb}")]})),
            "url is 1048583 bytes long; the limit is 2048 bytes",
        ),
        (
            record(json!({"file_name": "f".repeat(10 << 20)})),
            "file_name is 10485760 bytes long; the limit is 2048 bytes",
        ),
        (
            record(json!({"acl": ["a".repeat(3000)]})),
            "acl entry is 3000 bytes long",
        ),
        (
            record(json!({"authz": [format!("/{}", "a".repeat(3000))]})),
            "authz entry is 3001 bytes long",
        ),
        (
            record(json!({"metadata": {"k": "v".repeat(3000)}})),
            "metadata entry \"k\" (key and value) is 3001 bytes long",
        ),
        (
            record(json!({"hashes": {"md5": MD5, "other": "h".repeat(3000)}})),
            "hash \"other\" (type and value) is 3005 bytes long",
        ),
        (
            record(json!({
                "urls": ["s3://b/k"],
                "urls_metadata": {"s3://b/k": {"k": "v".repeat(3000)}},
            })),
            "(URL, key and value) is 3009 bytes long",
        ),
        (
            record(
                json!({"did": format!("{}/{}", "p".repeat(300), crate::support::mint(&app).await)}),
            ),
            "did is 337 bytes long; the limit is 256 bytes",
        ),
    ];
    for (body, needle) in cases {
        app.post_json("/index/index/", &body)
            .await
            .expect_error(400, needle);
    }
    let ids = app.create(json!({})).await;
    app.put_json(
        &format!("/index/index/{}?rev={}", ids.did, ids.rev),
        &json!({"urls": [format!("s3://b/{mb}")]}),
    )
    .await
    .expect_error(400, "the limit is 2048 bytes");
    app.post_json(
        &format!("/index/index/{}/aliases", ids.did),
        &json!({"aliases": [{"value": "a".repeat(2049)}]}),
    )
    .await
    .expect_error(400, "alias is 2049 bytes long");
    assert_eq!(app.list_dids("").await, vec![ids.did.clone()]);
    // at the limits: stored and found on both backends
    let url = format!("s3://b/{}", "0123456789abcdef".repeat(128))
        .split_at(2048)
        .0
        .to_owned();
    let name: String = (0..2048)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let big = app
        .create(json!({
            "urls": [url],
            "file_name": name,
            "metadata": {"k": "x".repeat(2047)},
            "authz": [format!("/{}", "r".repeat(2047))],
        }))
        .await;
    let found = app
        .get(&format!(
            "/index/index/?{}",
            query(&[("file_name", name.clone())])
        ))
        .await
        .expect(200);
    assert_eq!(crate::support::dids(&found["records"]), vec![big.did]);
    app.stop().await;
}

/// Listings that turn parameters into SQL conditions are capped (SQLite refused ~1,000 with
/// "expression tree is too large", a 500): over the cap a 400 naming it, at the cap a 200.
#[tokio::test]
async fn filter_conditions_are_capped_on_both_backends() {
    let app = TestApp::start().await;
    let ids = app.create(json!({"metadata": {"k0": "v"}})).await;
    let hashes = |n: usize| -> Vec<(&str, String)> {
        (0..n).map(|i| ("hash", format!("md5:{i:032x}"))).collect()
    };
    let metadata = |n: usize| -> Vec<(&str, String)> {
        (0..n).map(|i| ("metadata", format!("k{i}:v"))).collect()
    };
    let urls = |n: usize| -> Vec<(&str, String)> {
        (0..n).map(|i| ("url", format!("s3://b/{i}"))).collect()
    };
    for many in [hashes(1000), metadata(1000), urls(1000)] {
        let r = app.get(&format!("/index/index/?{}", query(&many))).await;
        r.expect_error(400, "too many filter conditions: 1000; the limit is 100");
    }
    app.get(&format!("/index/urls/?{}", query(&hashes(1000))))
        .await
        .expect_error(400, "too many filter conditions: 1000; the limit is 100");
    // at the cap: answered (nothing matches all of them)
    for at_cap in [hashes(100), metadata(100), urls(100)] {
        let v = app
            .get(&format!("/index/index/?{}", query(&at_cap)))
            .await
            .expect(200);
        assert_eq!(v["records"], json!([]), "{v}");
    }
    let v = app
        .get(&format!("/index/urls/?{}", query(&hashes(100))))
        .await
        .expect(200);
    assert_eq!(v["urls"], json!([]));
    // ids: up to 1024
    let many_ids = |n: usize| -> String {
        let mut list: Vec<String> = (0..n - 1).map(|i| format!("x{i}")).collect();
        list.push(ids.did.clone());
        list.join(",")
    };
    app.get(&format!("/index/index/?ids={}", many_ids(2000)))
        .await
        .expect_error(400, "too many ids: 2000; the limit is 1024");
    app.get(&format!("/index/urls/?ids={}", many_ids(2000)))
        .await
        .expect_error(400, "too many ids: 2000; the limit is 1024");
    let v = app
        .get(&format!("/index/index/?ids={}", many_ids(1024)))
        .await
        .expect(200);
    assert_eq!(crate::support::dids(&v["records"]), vec![ids.did.clone()]);
    app.stop().await;
}

const MDS_WRITER: &str = "curator@weft.test";

/// MDS: NUL in documents, keys, GUIDs, aliases and query parameters is the same 400 (in
/// MDS's `{"detail"}` shape) on both backends; nothing is written.
#[tokio::test]
async fn mds_nul_characters_are_400_on_both_backends() {
    let app = TestApp::start().await;
    app.grant(MDS_WRITER, "mds_gateway", "access", "/mds_gateway")
        .await;
    let token = app.token(MDS_WRITER);
    let t = Some(token.as_str());
    app.call(Method::POST, "/mds/metadata/ok", Some(json!({"a": 1})), t)
        .await
        .expect(201);
    let detail = |r: crate::support::Resp, what: &str| {
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        let d = r.json["detail"].as_str().unwrap_or_default().to_owned();
        assert!(d.contains("NUL characters"), "{what}: {}", r.text);
    };
    for body in [
        json!({"a": "x\u{0}y"}),
        json!({"a\u{0}": 1}),
        json!({"a": {"b": ["c", {"d\u{0}e": null}]}}),
    ] {
        let r = app
            .call(Method::POST, "/mds/metadata/g1", Some(body.clone()), t)
            .await;
        detail(r, &body.to_string());
        let r = app
            .call(
                Method::PUT,
                "/mds/metadata/ok?merge=true",
                Some(body.clone()),
                t,
            )
            .await;
        detail(r, &body.to_string());
    }
    let r = app
        .call(
            Method::POST,
            "/mds/metadata/g%00h",
            Some(json!({"a": 1})),
            t,
        )
        .await;
    detail(r, "guid");
    let r = app
        .call(
            Method::POST,
            "/mds/metadata/ok/aliases",
            Some(json!({"aliases": ["x\u{0}"]})),
            t,
        )
        .await;
    detail(r, "alias");
    for path in [
        "/mds/metadata/g%00h",
        "/mds/metadata/g%00h/aliases",
        "/mds/metadata?a=x%00y",
        "/mds/metadata?a.b=%00",
    ] {
        let r = app.call(Method::GET, path, None, None).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert!(r.json["detail"].is_string(), "{path}: {}", r.text);
    }
    // a batch refuses such entries as bad input, writes the rest
    let v = app
        .call(
            Method::POST,
            "/mds/metadata",
            Some(json!([
                {"guid": "b1", "data": {"a": "x\u{0}"}},
                {"guid": "b\u{0}2", "data": {}},
                {"guid": "b3", "data": {"a": 3}},
            ])),
            t,
        )
        .await
        .expect(201);
    assert_eq!(v["created"], json!(["b3"]), "{v}");
    assert_eq!(v["bad_input"].as_array().map(Vec::len), Some(2), "{v}");
    let all = app
        .call(Method::GET, "/mds/metadata?limit=100", None, None)
        .await
        .expect(200);
    assert_eq!(all, json!(["b3", "ok"]));
    assert_eq!(
        app.call(Method::GET, "/mds/metadata/ok", None, None)
            .await
            .expect(200),
        json!({"a": 1})
    );
    // GUIDs and aliases are ids: at most 256 bytes
    let long = "g".repeat(257);
    let r = app
        .call(
            Method::POST,
            &format!("/mds/metadata/{long}"),
            Some(json!({})),
            t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("GUID is 257 bytes long; the limit is 256 bytes"),
        "{}",
        r.text
    );
    app.stop().await;
}

/// MDS queries are capped at 100 filter conditions (SQLite answered 500 to ~1,000):
/// 1,000 keys are a 400 naming the cap, 100 are answered.
#[tokio::test]
async fn mds_filter_conditions_are_capped_on_both_backends() {
    let app = TestApp::start().await;
    app.grant(MDS_WRITER, "mds_gateway", "access", "/mds_gateway")
        .await;
    let token = app.token(MDS_WRITER);
    let doc: serde_json::Map<String, Value> =
        (0..100).map(|i| (format!("k{i}"), json!("v"))).collect();
    app.call(
        Method::POST,
        "/mds/metadata/all",
        Some(Value::Object(doc)),
        Some(&token),
    )
    .await
    .expect(201);
    let keys = |n: usize| -> String {
        (0..n)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let r = app
        .call(
            Method::GET,
            &format!("/mds/metadata?{}", keys(1000)),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.json["detail"],
        "too many filter conditions: 1000; the limit is 100"
    );
    let v = app
        .call(
            Method::GET,
            &format!("/mds/metadata?{}&limit=5", keys(100)),
            None,
            None,
        )
        .await
        .expect(200);
    assert_eq!(v, json!(["all"]));
    app.stop().await;
}

/// `POST /index/index` keeps accepting authz strings that are not resource paths (Gen3's
/// indexd does), but `POST /user/data/upload` refuses them, and absurd file names, with a
/// 400 before anything is made.
#[tokio::test]
async fn upload_refuses_non_paths_and_absurd_file_names() {
    let app = TestApp::start().await;
    let project = "/programs/p/projects/up";
    for method in ["create", "write-storage"] {
        app.grant("up@x.org", "fence", method, project).await;
    }
    app.grant("up@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("up@x.org");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"file_name": "f", "authz": ["programs/p"]}),
            "authz \"programs/p\" is not a resource path: it must start with `/`",
        ),
        (
            json!({"file_name": "f", "authz": [project, "/programs//p"]}),
            "empty segment",
        ),
        (json!({"file_name": "f", "authz": ["/a/"]}), "empty segment"),
        (
            json!({"file_name": "f", "authz": ["/a\u{0}"]}),
            "NUL characters",
        ),
        (json!({"file_name": "   "}), "it is blank"),
        (json!({"file_name": ""}), "it is blank"),
        (json!({"file_name": "a\u{1}b"}), "control characters"),
        (json!({"file_name": "a\u{0}b"}), "NUL characters"),
        (json!({"file_name": "///"}), "only `/`"),
        (
            json!({"file_name": "f".repeat(2049)}),
            "file_name is 2049 bytes long; the limit is 2048 bytes",
        ),
    ];
    for (body, needle) in cases {
        let r = app
            .call(
                Method::POST,
                "/user/data/upload",
                Some(body.clone()),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        let msg = r.json["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{body}: {}", r.text);
    }
    assert!(app.list_dids("").await.is_empty(), "nothing was made");
    app.call(
        Method::POST,
        "/user/data/upload",
        Some(json!({"file_name": "fine.txt", "authz": [project]})),
        Some(&token),
    )
    .await
    .expect(201);
    // the index API itself accepts any authz string, as indexd does
    app.create(json!({"authz": ["not-a-path"]})).await;
    assert_eq!(app.list_dids("").await.len(), 2);
    app.stop().await;
}

/// The hub's lookups by commons name and GUID refuse NUL with the same 400 on both backends.
#[tokio::test]
async fn hub_lookups_with_nul_are_400_on_both_backends() {
    let hub = TestApp::start_with(|c| {
        c.hub = serde_json::from_value(json!({
            "sync_interval_secs": 3600,
            "gen3_commons": {"down": {"mds_url": "http://127.0.0.1:9", "commons_url": "down.example"}},
        }))
        .unwrap();
    })
    .await;
    for path in [
        "/mds/aggregate/metadata/guid/a%00b",
        "/mds/aggregate/metadata/a%00b",
    ] {
        let r = hub.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        let detail = r.json["detail"]["message"].as_str().unwrap_or_default();
        assert!(detail.contains("NUL characters"), "{path}: {}", r.text);
    }
    hub.get("/mds/aggregate/metadata/guid/ab").await.expect(404);
    hub.stop().await;
}
