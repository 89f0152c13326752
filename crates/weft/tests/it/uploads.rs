//! fence's upload flow on local storage: `POST /user/data/upload` makes a blank record and a
//! signed PUT URL under `/user/data/local/`; the PUT streams the bytes to disk, hashing them,
//! and fills the record; multipart uploads assemble signed part PUTs; `DELETE
//! /user/data/{guid}` removes object and record.

use md5::Digest as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&md5::Md5::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A recognisable object of `n` bytes.
pub fn object(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| u8::try_from((i * 7 + usize::from(seed)) % 251).expect("byte"))
        .collect()
}

/// A token with only some scopes.
fn token_with(app: &TestApp, user: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    app.tokens
        .issue_access(user, &scopes, 600)
        .expect("issuing a token")
}

/// PUT `body` to an absolute URL; status, ETag (unquoted) and body text.
pub async fn put(
    app: &TestApp,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut req = app.client.put(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("PUT");
    let status = r.status().as_u16();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned();
    (status, etag, r.text().await.unwrap_or_default())
}

pub async fn get_bytes(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let r = app.client.get(url).send().await.expect("GET");
    (r.status().as_u16(), r.bytes().await.expect("body").to_vec())
}

async fn record_count(app: &TestApp) -> usize {
    app.list_dids("").await.len()
}

#[tokio::test]
async fn upload_with_authz_fills_the_record_and_downloads() {
    let app = TestApp::start().await;
    let project = "/programs/p/projects/up";
    for method in ["create", "write-storage", "read-storage"] {
        app.grant("up@x.org", "fence", method, project).await;
    }
    let token = app.token("up@x.org");
    let v = app
        .call(
            Method::POST,
            "/user/data/upload",
            Some(json!({"file_name": "hello world.txt", "authz": [project]})),
            Some(&token),
        )
        .await
        .expect(201);
    assert_eq!(v.as_object().expect("object").len(), 2, "{v}");
    let guid = v["guid"].as_str().expect("guid").to_owned();
    let url = v["url"].as_str().expect("url").to_owned();
    let prefix = format!(
        "{}/user/data/local/{guid}/hello%20world.txt?expires=",
        app.url
    );
    assert!(url.starts_with(&prefix), "{url}");

    // the blank record: authz given, so no uploader (as fence clears it)
    let doc = app.doc(&guid).await;
    assert_eq!(doc["size"], Value::Null, "{doc}");
    assert_eq!(doc["hashes"], json!({}));
    assert_eq!(doc["urls"], json!([]));
    assert_eq!(doc["authz"], json!([project]));
    assert_eq!(doc["uploader"], Value::Null);
    assert_eq!(doc["file_name"], "hello world.txt");

    // a GET signature is not an upload signature, nor the other way round
    let sig = url.rsplit_once("sig=").expect("sig").1.to_owned();
    let expires = url
        .split_once("expires=")
        .expect("expires")
        .1
        .split('&')
        .next()
        .expect("expires value")
        .to_owned();
    let as_get = format!(
        "{}/user/data/local/{guid}/hello%20world.txt?expires={expires}&sig={sig}",
        app.url
    );
    let (status, _) = get_bytes(&app, &as_get).await;
    assert_eq!(status, 403);
    let (status, _, _) = put(
        &app,
        &url.replace(&sig, &"0".repeat(64)),
        b"x".to_vec(),
        &[],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(app.doc(&guid).await["size"], Value::Null, "nothing landed");

    let bytes = object(300_000, 1);
    let (status, etag, text) = put(&app, &url, bytes.clone(), &[]).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(etag, md5_hex(&bytes));
    let doc = app.doc(&guid).await;
    assert_eq!(doc["size"], 300_000, "{doc}");
    assert_eq!(doc["hashes"], json!({"md5": md5_hex(&bytes)}));
    assert_eq!(
        doc["urls"],
        json!([format!("file:///{guid}/hello%20world.txt")])
    );
    assert_eq!(doc["form"], "object");

    // once filled, the URL no longer uploads
    let (status, _, text) = put(&app, &url, b"other".to_vec(), &[]).await;
    assert_eq!(status, 409, "{text}");

    // download through fence's endpoint
    let v = app
        .call(
            Method::GET,
            &format!("/user/data/download/{guid}"),
            None,
            Some(&token),
        )
        .await
        .expect(200);
    let (status, got) = get_bytes(&app, v["url"].as_str().expect("url")).await;
    assert_eq!(status, 200);
    assert_eq!(got, bytes);

    // GET /user/data/upload/{guid}: write-storage on the record's authz
    let v = app
        .call(
            Method::GET,
            &format!("/user/data/upload/{guid}?file_name=again.txt&expires_in=60"),
            None,
            Some(&token),
        )
        .await
        .expect(200);
    let again = v["url"].as_str().expect("url");
    assert!(
        again.starts_with(&format!("{}/user/data/local/{guid}/again.txt?", app.url)),
        "{again}"
    );
    let other = app.token("other@x.org");
    app.call(
        Method::GET,
        &format!("/user/data/upload/{guid}"),
        None,
        Some(&other),
    )
    .await
    .expect_error(403, "");
    app.stop().await;
}

#[tokio::test]
async fn upload_without_authz_records_the_uploader() {
    let app = TestApp::start().await;
    app.grant("u@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("u@x.org");
    let v = app
        .call(
            Method::POST,
            "/user/data/upload",
            Some(json!({"file_name": "a.bin", "expires_in": 30})),
            Some(&token),
        )
        .await
        .expect(201);
    let guid = v["guid"].as_str().expect("guid").to_owned();
    let url = v["url"].as_str().expect("url").to_owned();
    let expires: u64 = url
        .split_once("expires=")
        .expect("expires")
        .1
        .split('&')
        .next()
        .expect("value")
        .parse()
        .expect("number");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(
        expires <= now + 31,
        "expires_in honoured: {expires} vs {now}"
    );
    let doc = app.doc(&guid).await;
    assert_eq!(doc["uploader"], "u@x.org");
    assert_eq!(doc["authz"], json!([]));

    // the uploader may ask for another URL; someone else may not
    app.call(
        Method::GET,
        &format!("/user/data/upload/{guid}"),
        None,
        Some(&token),
    )
    .await
    .expect(200);
    let other = app.token("other@x.org");
    app.call(
        Method::GET,
        &format!("/user/data/upload/{guid}"),
        None,
        Some(&other),
    )
    .await
    .expect_error(403, "");

    let (status, _, text) = put(&app, &url, b"0123456789".to_vec(), &[]).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(app.doc(&guid).await["size"], 10);

    // no authz: the uploader may download it (fence's legacy rule), nobody else
    let v = app
        .call(
            Method::GET,
            &format!("/user/data/download/{guid}"),
            None,
            Some(&token),
        )
        .await
        .expect(200);
    let (status, got) = get_bytes(&app, v["url"].as_str().expect("url")).await;
    assert_eq!((status, got.as_slice()), (200, b"0123456789".as_slice()));
    app.call(
        Method::GET,
        &format!("/user/data/download/{guid}"),
        None,
        Some(&other),
    )
    .await
    .expect_error(403, "");
    app.call(
        Method::GET,
        &format!("/user/data/download/{guid}"),
        None,
        None,
    )
    .await
    .expect_error(401, "");

    // delete: someone else 403, the uploader 204, then record and object are gone
    app.call(
        Method::DELETE,
        &format!("/user/data/{guid}"),
        None,
        Some(&other),
    )
    .await
    .expect_error(403, "uploader");
    let object = app.config.data_dir.join("files").join(&guid).join("a.bin");
    assert!(object.exists());
    let r = app
        .call(
            Method::DELETE,
            &format!("/user/data/{guid}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert!(r.text.is_empty());
    assert!(!object.exists());
    assert_eq!(app.get(&format!("/index/index/{guid}")).await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn upload_refusals_change_nothing() {
    let app = TestApp::start().await;
    app.grant("u@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("u@x.org");
    let before = record_count(&app).await;
    let post = |body: Value, token: Option<String>| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/user/data/upload",
                Some(body),
                token.as_deref(),
            )
            .await
        }
    };
    post(json!({"file_name": "a"}), None)
        .await
        .expect_error(401, "");
    let no_data = token_with(&app, "u@x.org", &["openid", "user"]);
    post(json!({"file_name": "a"}), Some(no_data))
        .await
        .expect_error(403, "data");
    let stranger = app.token("stranger@x.org");
    post(json!({"file_name": "a"}), Some(stranger.clone()))
        .await
        .expect_error(403, "");
    post(
        json!({"file_name": "a", "authz": ["/programs/x"]}),
        Some(token.clone()),
    )
    .await
    .expect_error(403, "");
    post(json!({}), Some(token.clone()))
        .await
        .expect_error(400, "file_name");
    for bad in ["", "../x", "a/b", "x\u{0}y", ".."] {
        post(json!({"file_name": bad}), Some(token.clone()))
            .await
            .expect_error(400, "");
    }
    for bad in [json!(0), json!(-3), json!("soon"), json!(1.5)] {
        post(
            json!({"file_name": "a", "expires_in": bad}),
            Some(token.clone()),
        )
        .await
        .expect_error(400, "expiry");
    }
    post(
        json!({"file_name": "a", "protocol": "s3"}),
        Some(token.clone()),
    )
    .await
    .expect_error(400, "s3");
    post(
        json!({"file_name": "a", "protocol": "ftp"}),
        Some(token.clone()),
    )
    .await
    .expect_error(400, "ftp");
    post(
        json!({"file_name": "a", "bucket": "nope"}),
        Some(token.clone()),
    )
    .await
    .expect_error(400, "nope");
    post(json!(["file_name"]), Some(token.clone()))
        .await
        .expect_error(400, "");
    let r = app
        .client
        .post(format!("{}/user/data/upload", app.url))
        .bearer_auth(&token)
        .body("not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
    // an unknown guid
    post(
        json!({"file_name": "a", "guid": "00000000-0000-4000-8000-000000000000"}),
        Some(token.clone()),
    )
    .await
    .expect_error(404, "");
    assert_eq!(record_count(&app).await, before, "no record was created");

    // unknown record for GET upload, DELETE
    let missing = "00000000-0000-4000-8000-000000000001";
    app.call(
        Method::GET,
        &format!("/user/data/upload/{missing}"),
        None,
        Some(&token),
    )
    .await
    .expect_error(404, "");
    app.call(
        Method::DELETE,
        &format!("/user/data/{missing}"),
        None,
        Some(&token),
    )
    .await
    .expect_error(404, "");
    app.call(Method::DELETE, &format!("/user/data/{missing}"), None, None)
        .await
        .expect_error(401, "");

    // a public (acl *) record takes no uploads, as fence
    let public = app.create(json!({"acl": ["*"], "authz": []})).await;
    app.call(
        Method::GET,
        &format!("/user/data/upload/{}", public.did),
        None,
        Some(&token),
    )
    .await
    .expect_error(401, "public");
    app.stop().await;
}

#[tokio::test]
async fn local_multipart_upload_assembles_parts() {
    let app = TestApp::start().await;
    app.grant("mp@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("mp@x.org");
    let v = app
        .call(
            Method::POST,
            "/user/data/multipart/init",
            Some(json!({"file_name": "big.bin"})),
            Some(&token),
        )
        .await
        .expect(201);
    let guid = v["guid"].as_str().expect("guid").to_owned();
    let upload_id = v["uploadId"].as_str().expect("uploadId").to_owned();
    assert_eq!(app.doc(&guid).await["uploader"], "mp@x.org");
    let key = format!("{guid}/big.bin");
    let parts = [object(200_000, 3), object(123_457, 4)];
    let mut etags = vec![];
    for (i, bytes) in parts.iter().enumerate() {
        let v = app
            .call(
                Method::POST,
                "/user/data/multipart/upload",
                Some(json!({"key": key, "uploadId": upload_id, "partNumber": i + 1})),
                Some(&token),
            )
            .await
            .expect(200);
        let url = v["presigned_url"].as_str().expect("presigned_url");
        let (status, etag, text) = put(&app, url, bytes.clone(), &[]).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(etag, md5_hex(bytes));
        etags.push(etag);
    }
    let (app_r, key_r, id_r, token_r) = (&app, &key, &upload_id, &token);
    let complete = move |parts: Value| {
        let body = json!({"key": key_r, "uploadId": id_r, "parts": parts});
        async move {
            app_r
                .call(
                    Method::POST,
                    "/user/data/multipart/complete",
                    Some(body),
                    Some(token_r),
                )
                .await
        }
    };
    // refusals first: a wrong ETag, a gap, a part that was never uploaded
    complete(json!([{"PartNumber": 1, "ETag": etags[1]}, {"PartNumber": 2, "ETag": etags[1]}]))
        .await
        .expect_error(400, "ETag");
    complete(json!([{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 3, "ETag": etags[1]}]))
        .await
        .expect_error(400, "");
    complete(json!([{"PartNumber": 1, "ETag": etags[0]}, {"PartNumber": 2, "ETag": etags[1]}, {"PartNumber": 3, "ETag": etags[1]}]))
        .await
        .expect_error(400, "part 3");
    assert_eq!(app.doc(&guid).await["size"], Value::Null);
    // parts listed out of order are fine
    let v = complete(json!([
        {"PartNumber": 2, "ETag": format!("\"{}\"", etags[1])},
        {"PartNumber": 1, "ETag": etags[0]},
    ]))
    .await
    .expect(200);
    assert_eq!(v, json!({"message": "OK"}));
    let whole = [parts[0].clone(), parts[1].clone()].concat();
    let doc = app.doc(&guid).await;
    assert_eq!(doc["size"], whole.len(), "{doc}");
    assert_eq!(doc["hashes"]["md5"], md5_hex(&whole));
    assert_eq!(doc["urls"], json!([format!("file:///{key}")]));
    let on_disk = std::fs::read(app.config.data_dir.join("files").join(&key)).expect("object");
    assert_eq!(on_disk, whole);

    // the upload is gone once complete; unknown ids and keys are 400
    complete(json!([{"PartNumber": 1, "ETag": etags[0]}]))
        .await
        .expect_error(400, "");
    app.call(
        Method::POST,
        "/user/data/multipart/upload",
        Some(json!({"key": key, "uploadId": "../../etc", "partNumber": 1})),
        Some(&token),
    )
    .await
    .expect_error(400, "");
    app.call(
        Method::POST,
        "/user/data/multipart/upload",
        Some(json!({"key": key, "uploadId": upload_id, "partNumber": 0})),
        Some(&token),
    )
    .await
    .expect_error(400, "partNumber");
    app.call(
        Method::POST,
        "/user/data/multipart/upload",
        Some(json!({"key": key})),
        Some(&token),
    )
    .await
    .expect_error(400, "uploadId");
    // multipart needs file_upload on /data_file
    let stranger = app.token("stranger@x.org");
    app.call(
        Method::POST,
        "/user/data/multipart/init",
        Some(json!({"file_name": "x"})),
        Some(&stranger),
    )
    .await
    .expect_error(403, "");
    app.stop().await;
}

#[tokio::test]
async fn the_server_fills_landed_uploads_periodically() {
    let app = TestApp::start_with(|c| c.storage.index_uploads_interval_secs = 1).await;
    let v = app
        .post_json(
            "/index/index/blank/",
            &json!({"file_name": "dropped.bin", "uploader": "u@x.org"}),
        )
        .await
        .expect(201);
    let did = v["did"].as_str().expect("did").to_owned();
    // the object arrives by another way than weft's signed URL (a copy, a sync job)
    let bytes = object(4096, 2);
    let path = app
        .config
        .data_dir
        .join("files")
        .join(&did)
        .join("dropped.bin");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, &bytes).expect("write");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let doc = app.doc(&did).await;
        if doc["size"] == 4096 {
            assert_eq!(doc["hashes"]["md5"], md5_hex(&bytes));
            assert_eq!(doc["urls"], json!([format!("file:///{did}/dropped.bin")]));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not filled: {doc}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn buckets_are_listed_without_credentials() {
    let app = TestApp::start_with(|c| {
        c.storage.s3_buckets.insert(
            "b1".into(),
            weft_config::S3Bucket {
                region: "eu-west-1".into(),
                endpoint_url: Some("https://s3.example.org".into()),
                access_key_id: Some(weft_config::Secret("AKIDSECRET".into())),
                secret_access_key: Some(weft_config::Secret("TOPSECRET".into())),
                ..weft_config::S3Bucket::default()
            },
        );
        c.storage
            .gs_buckets
            .insert("g1".into(), weft_config::GsBucket::default());
    })
    .await;
    let r = app.get("/user/data/buckets").await;
    assert!(!r.text.contains("SECRET"), "{}", r.text);
    assert_eq!(
        r.expect(200),
        json!({"S3_BUCKETS": {"b1": {"region": "eu-west-1", "endpoint_url": "https://s3.example.org"}},
               "GS_BUCKETS": {"g1": {}}})
    );
    app.stop().await;
}

/// A PUT to `url` whose body the test feeds chunk by chunk (dropping the sender ends it);
/// the task answers the status and the body.
fn streaming_put(
    app: &TestApp,
    url: &str,
) -> (
    tokio::sync::mpsc::Sender<Vec<u8>>,
    tokio::task::JoinHandle<(u16, String)>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    let req = app.client.put(url).body(reqwest::Body::wrap_stream(body));
    let task = tokio::spawn(async move {
        let r = req.send().await.expect("PUT");
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    });
    (tx, task)
}

/// The files in the upload staging area.
fn staged(app: &TestApp) -> Vec<String> {
    std::fs::read_dir(app.config.data_dir.join("uploads"))
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until `n` uploads are streaming into the staging area (so each passed the record
/// check before any finished).
async fn until_staged(app: &TestApp, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while staged(app).iter().filter(|f| f.ends_with(".tmp")).count() < n {
        assert!(std::time::Instant::now() < deadline, "{:?}", staged(app));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// The record's object, downloaded through fence's endpoint, matches the record: its size,
/// its MD5; returns the bytes.
async fn download_matches_record(app: &TestApp, token: &str, guid: &str) -> Vec<u8> {
    let doc = app.doc(guid).await;
    let v = app
        .call(
            Method::GET,
            &format!("/user/data/download/{guid}"),
            None,
            Some(token),
        )
        .await
        .expect(200);
    let (status, got) = get_bytes(app, v["url"].as_str().expect("url")).await;
    assert_eq!(status, 200);
    assert_eq!(doc["size"], got.len(), "{doc}");
    assert_eq!(doc["hashes"]["md5"], md5_hex(&got), "{doc}");
    got
}

/// A new blank record of `user` and its signed PUT URL.
async fn new_upload(app: &TestApp, token: &str, file_name: &str) -> (String, String) {
    let v = app
        .call(
            Method::POST,
            "/user/data/upload",
            Some(json!({"file_name": file_name})),
            Some(token),
        )
        .await
        .expect(201);
    (
        v["guid"].as_str().expect("guid").to_owned(),
        v["url"].as_str().expect("url").to_owned(),
    )
}

/// A loser's answer: 409 with a JSON error body.
fn assert_conflict(status: u16, text: &str) {
    assert_eq!(status, 409, "{text}");
    let v: Value = serde_json::from_str(text).expect("a JSON body");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("object")),
        "{v}"
    );
}

#[tokio::test]
async fn a_refused_second_put_leaves_the_first_object() {
    let app = TestApp::start().await;
    app.grant("race@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("race@x.org");
    let (guid, url) = new_upload(&app, &token, "r.bin").await;
    let first = object(600_000, 5);
    let second = object(400_000, 6);
    // both start while the record is blank; the first ends first
    let (a, a_done) = streaming_put(&app, &url);
    a.send(first[..300_000].to_vec()).await.expect("send");
    let (b, b_done) = streaming_put(&app, &url);
    b.send(second[..200_000].to_vec()).await.expect("send");
    until_staged(&app, 2).await;
    a.send(first[300_000..].to_vec()).await.expect("send");
    drop(a);
    let (status, text) = a_done.await.expect("first PUT");
    assert_eq!(status, 200, "{text}");
    b.send(second[200_000..].to_vec()).await.expect("send");
    drop(b);
    let (status, text) = b_done.await.expect("second PUT");
    assert_conflict(status, &text);

    let doc = app.doc(&guid).await;
    assert_eq!(doc["size"], 600_000, "{doc}");
    assert_eq!(doc["hashes"]["md5"], md5_hex(&first));
    assert_eq!(download_matches_record(&app, &token, &guid).await, first);
    assert_eq!(
        std::fs::read(app.config.data_dir.join("files").join(&guid).join("r.bin")).expect("object"),
        first
    );
    assert!(staged(&app).is_empty(), "the loser's bytes are removed");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_puts_one_wins_and_the_object_matches_its_record() {
    let app = TestApp::start().await;
    app.grant("race@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("race@x.org");
    for round in 0..6u8 {
        let (guid, url) = new_upload(&app, &token, "c.bin").await;
        let bodies = [
            object(500_000 + usize::from(round), round),
            object(300_000, round + 100),
        ];
        let (a, a_done) = streaming_put(&app, &url);
        let (b, b_done) = streaming_put(&app, &url);
        // both stream at once, chunk by chunk, and end together
        for i in 0..5 {
            for (tx, body) in [(&a, &bodies[0]), (&b, &bodies[1])] {
                let n = body.len().div_ceil(5);
                let chunk = body[(i * n).min(body.len())..((i + 1) * n).min(body.len())].to_vec();
                tx.send(chunk).await.expect("send");
            }
        }
        until_staged(&app, 2).await;
        drop((a, b));
        let (ra, rb) = tokio::join!(a_done, b_done);
        let answers = [ra.expect("PUT a"), rb.expect("PUT b")];
        let winners: Vec<usize> = (0..2).filter(|&i| answers[i].0 == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        let (winner, loser) = (winners[0], 1 - winners[0]);
        assert_conflict(answers[loser].0, &answers[loser].1);
        let doc = app.doc(&guid).await;
        assert_eq!(
            doc["hashes"]["md5"],
            md5_hex(&bodies[winner]),
            "round {round}"
        );
        assert_eq!(
            download_matches_record(&app, &token, &guid).await,
            bodies[winner],
            "round {round}"
        );
        assert!(staged(&app).is_empty(), "round {round}: {:?}", staged(&app));
    }
    app.stop().await;
}

#[tokio::test]
async fn concurrent_multipart_completes_one_wins() {
    let app = TestApp::start().await;
    app.grant("mp@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("mp@x.org");
    for round in 0..4u8 {
        // two multipart uploads to one record
        let mut guid = None::<String>;
        let mut uploads = vec![];
        for which in 0..2u8 {
            let mut body = json!({"file_name": "m.bin"});
            if let Some(g) = &guid {
                body["guid"] = json!(g);
            }
            let v = app
                .call(
                    Method::POST,
                    "/user/data/multipart/init",
                    Some(body),
                    Some(&token),
                )
                .await
                .expect(201);
            let g = v["guid"].as_str().expect("guid").to_owned();
            assert_eq!(guid.get_or_insert_with(|| g.clone()), &g);
            let upload_id = v["uploadId"].as_str().expect("uploadId").to_owned();
            let parts = [
                object(300_000, round * 2 + which),
                object(1000 + usize::from(which), 7),
            ];
            let mut etags = vec![];
            for (i, bytes) in parts.iter().enumerate() {
                let v = app
                    .call(
                        Method::POST,
                        "/user/data/multipart/upload",
                        Some(json!({"key": format!("{g}/m.bin"), "uploadId": upload_id, "partNumber": i + 1})),
                        Some(&token),
                    )
                    .await
                    .expect(200);
                let (status, etag, text) = put(
                    &app,
                    v["presigned_url"].as_str().expect("url"),
                    bytes.clone(),
                    &[],
                )
                .await;
                assert_eq!(status, 200, "{text}");
                etags.push(json!({"PartNumber": i + 1, "ETag": etag}));
            }
            uploads.push((upload_id, etags, parts.concat()));
        }
        let guid = guid.expect("guid");
        let complete = |(upload_id, etags, _): &(String, Vec<Value>, Vec<u8>)| {
            let body =
                json!({"key": format!("{guid}/m.bin"), "uploadId": upload_id, "parts": etags});
            let req = app
                .client
                .post(format!("{}/user/data/multipart/complete", app.url))
                .bearer_auth(&token)
                .json(&body);
            async move {
                let r = req.send().await.expect("complete");
                (r.status().as_u16(), r.text().await.expect("body"))
            }
        };
        let (ra, rb) = tokio::join!(complete(&uploads[0]), complete(&uploads[1]));
        let answers = [ra, rb];
        let winners: Vec<usize> = (0..2).filter(|&i| answers[i].0 == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}: {answers:?}");
        let (winner, loser) = (winners[0], 1 - winners[0]);
        assert_conflict(answers[loser].0, &answers[loser].1);
        let doc = app.doc(&guid).await;
        assert_eq!(
            doc["hashes"]["md5"],
            md5_hex(&uploads[winner].2),
            "round {round}"
        );
        assert_eq!(
            download_matches_record(&app, &token, &guid).await,
            uploads[winner].2,
            "round {round}"
        );
        assert!(staged(&app).is_empty(), "round {round}: {:?}", staged(&app));
    }
    app.stop().await;
}
