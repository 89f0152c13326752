//! fence's data endpoints: `/user/data/download/{guid}` signs a record's URL after the policy
//! check; `/user/data/local/{key}` serves local objects behind HMAC-signed, expiring URLs.

use reqwest::Method;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use serde_json::{Value, json};

use crate::support::TestApp;

/// A recognisable 256000-byte object: byte i is i mod 251.
fn object_bytes() -> Vec<u8> {
    (0..256_000u32).map(|i| (i % 251) as u8).collect()
}

/// Write `bytes` as local object `key` (under `<data_dir>/files`, the default root).
fn put_local(app: &TestApp, key: &str, bytes: &[u8]) {
    let path = app.config.data_dir.join("files").join(key);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("writing the object");
}

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    #[track_caller]
    fn refused(&self, status: u16) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no JSON error body: {v}"))
            .to_owned()
    }
}

/// GET an absolute URL (a signed URL), optionally with a `Range` header.
async fn fetch(app: &TestApp, url: &str, range: Option<&str>) -> Got {
    let mut req = app.client.get(url);
    if let Some(r) = range {
        req = req.header(RANGE, r);
    }
    let resp = req.send().await.expect("request");
    Got {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.expect("body").to_vec(),
    }
}

/// `/user/data/download/{did}{query}` with an optional token: status and JSON.
async fn download(app: &TestApp, did: &str, query: &str, token: Option<&str>) -> (u16, Value) {
    let r = app
        .call(
            Method::GET,
            &format!("/user/data/download/{did}{query}"),
            None,
            token,
        )
        .await;
    assert!(
        r.content_type.starts_with("application/json"),
        "{} {}",
        r.content_type,
        r.text
    );
    (r.status, r.json)
}

fn signed_url(v: &Value) -> String {
    v["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no url in {v}"))
        .to_owned()
}

fn query_param(url: &str, name: &str) -> String {
    let q = url.split_once('?').expect("a query").1;
    q.split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {url}"))
        .to_owned()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn download_controlled_local_object() {
    let app = TestApp::start().await;
    let bytes = object_bytes();
    put_local(&app, "dir/a b.bin", &bytes);
    put_local(&app, "dir/other.bin", b"other object");
    let ids = app
        .create(json!({"urls": ["file:///dir/a%20b.bin"], "acl": ["phs1"],
                       "authz": ["/programs/p/projects/d"], "size": bytes.len()}))
        .await;
    let did = &ids.did;

    // the policy check: 401 without credentials, 403 without the permission
    let (status, v) = download(&app, did, "", None).await;
    assert_eq!(status, 401, "{v}");
    assert!(v["error"].is_string(), "{v}");
    let reader = app.token("reader@x.org");
    let (status, v) = download(&app, did, "", Some(&reader)).await;
    assert_eq!(status, 403, "{v}");
    app.grant(
        "reader@x.org",
        "fence",
        "read-storage",
        "/programs/p/projects/d",
    )
    .await;
    let (status, v) = download(&app, did, "", Some(&reader)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_object().expect("object").len(), 1, "only url: {v}");
    let url = signed_url(&v);
    let prefix = format!("{}/user/data/local/dir/a%20b.bin?expires=", app.url);
    assert!(url.starts_with(&prefix), "{url}");
    let expires: u64 = query_param(&url, "expires").parse().expect("expires");
    let now = unix_now();
    assert!(
        (now + 3590..=now + 3601).contains(&expires),
        "default lifetime is 3600 s: {expires} vs {now}"
    );
    let sig = query_param(&url, "sig");
    assert_eq!(sig.len(), 64, "hex HMAC-SHA256: {sig}");

    // the bytes, whole and in ranges
    let got = fetch(&app, &url, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, bytes);
    assert_eq!(got.headers[CONTENT_TYPE], "application/octet-stream");
    assert_eq!(
        got.headers[CONTENT_LENGTH],
        bytes.len().to_string().as_str()
    );
    assert_eq!(got.headers["accept-ranges"], "bytes");
    let got = fetch(&app, &url, Some("bytes=1000-1999")).await;
    assert_eq!(got.status, 206);
    assert_eq!(got.headers[CONTENT_RANGE], "bytes 1000-1999/256000");
    assert_eq!(got.headers[CONTENT_LENGTH], "1000");
    assert_eq!(got.body, &bytes[1000..2000]);
    let got = fetch(&app, &url, Some("bytes=-10")).await;
    assert_eq!(got.status, 206);
    assert_eq!(got.body, &bytes[bytes.len() - 10..]);
    let got = fetch(&app, &url, Some("bytes=255990-")).await;
    assert_eq!(got.status, 206);
    assert_eq!(got.headers[CONTENT_RANGE], "bytes 255990-255999/256000");
    assert_eq!(got.body, &bytes[255_990..]);
    let got = fetch(&app, &url, Some("bytes=256000-")).await;
    got.refused(416);
    assert_eq!(got.headers[CONTENT_RANGE], "bytes */256000");

    // tampered URLs: signature, key (an object that exists), expiry, missing parts
    let mut flipped = sig.clone().into_bytes();
    flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
    let flipped = String::from_utf8(flipped).expect("hex");
    let tampered = url.replace(&sig, &flipped);
    fetch(&app, &tampered, None).await.refused(403);
    let other = url.replace("dir/a%20b.bin", "dir/other.bin");
    let msg = fetch(&app, &other, None).await.refused(403);
    assert!(msg.contains("signature"), "{msg}");
    let later = url.replace(
        &format!("expires={expires}"),
        &format!("expires={}", expires + 60),
    );
    fetch(&app, &later, None).await.refused(403);
    let unsigned = url.split_once('?').expect("query").0.to_owned();
    fetch(&app, &unsigned, None).await.refused(403);
    fetch(&app, &format!("{unsigned}?expires={expires}"), None)
        .await
        .refused(403);
    // a signature made with another key (weft's scheme, a secret that is not this commons')
    let forged = url.replace(&sig, &"0".repeat(64));
    fetch(&app, &forged, None).await.refused(403);

    // expiry: a one-second URL works, then is refused
    let (status, v) = download(&app, did, "?expires_in=1", Some(&reader)).await;
    assert_eq!(status, 200, "{v}");
    let short = signed_url(&v);
    assert!(
        query_param(&short, "expires")
            .parse::<u64>()
            .expect("expires")
            <= unix_now() + 1
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let msg = fetch(&app, &short, None).await.refused(403);
    assert!(msg.contains("expired"), "{msg}");

    // expires_in is capped at 3600 and must be a positive integer
    let (status, v) = download(&app, did, "?expires_in=999999", Some(&reader)).await;
    assert_eq!(status, 200, "{v}");
    let capped: u64 = query_param(&signed_url(&v), "expires")
        .parse()
        .expect("expires");
    assert!(capped <= unix_now() + 3600, "capped: {capped}");
    for bad in ["abc", "0", "-5", "1.5"] {
        let (status, v) = download(&app, did, &format!("?expires_in={bad}"), Some(&reader)).await;
        assert_eq!(status, 400, "expires_in={bad}: {v}");
    }

    // protocols: the one the record has, one it lacks, one nobody serves
    let (status, v) = download(&app, did, "?protocol=file", Some(&reader)).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = download(&app, did, "?protocol=s3", Some(&reader)).await;
    assert_eq!(status, 404, "{v}");
    let (status, v) = download(&app, did, "?protocol=foo", Some(&reader)).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|m| m.contains("foo")),
        "{v}"
    );

    // ?redirect answers 302 to the signed URL, as fence
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/user/data/download/{did}?redirect", app.url))
        .bearer_auth(&reader)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 302, "as fence");
    let location = r.headers()[LOCATION].to_str().expect("location").to_owned();
    assert_eq!(fetch(&app, &location, None).await.body, bytes);

    // DRS access returns the same kind of URL, which downloads the same bytes
    let v = app
        .call(
            Method::GET,
            &format!("/ga4gh/drs/v1/objects/{did}/access/file"),
            None,
            Some(&reader),
        )
        .await
        .expect(200);
    let drs_url = signed_url(&v);
    assert!(drs_url.starts_with(&prefix), "{drs_url}");
    assert_eq!(fetch(&app, &drs_url, None).await.body, bytes);
    let r = app
        .get(&format!("/ga4gh/drs/v1/objects/{did}/access/file"))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // unknown guid
    let (status, v) = download(
        &app,
        "00000000-0000-4000-8000-000000000000",
        "",
        Some(&reader),
    )
    .await;
    assert_eq!(status, 404, "{v}");

    // a second instance on the same database verifies URLs the first signed
    let (twin, stop, server) = app.twin().await;
    let path = url.strip_prefix(&app.url).expect("our URL");
    let got = fetch(&app, &format!("{twin}{path}"), None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, bytes);
    let _ = stop.send(());
    let _ = server.await;
    app.stop().await;
}

#[tokio::test]
async fn public_records_download_without_a_token() {
    let app = TestApp::start().await;
    put_local(&app, "pub/readme.txt", b"hello, world\n");
    // acl * without authz, and an authz path under /open: both public
    let legacy = app
        .create(json!({"urls": ["file:///pub/readme.txt"], "acl": ["*"], "authz": []}))
        .await;
    let open = app
        .create(
            json!({"urls": ["https://example.org/x", "file:///pub/readme.txt"],
                       "acl": [], "authz": ["/programs/open"]}),
        )
        .await;
    let (status, v) = download(&app, &legacy.did, "", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        fetch(&app, &signed_url(&v), None).await.body,
        b"hello, world\n"
    );
    // the first URL by default: https is handed out as stored
    let (status, v) = download(&app, &open.did, "", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!({"url": "https://example.org/x"}));
    let (status, v) = download(&app, &open.did, "?protocol=http", None).await;
    assert_eq!(status, 200, "http also takes https: {v}");
    assert_eq!(v, json!({"url": "https://example.org/x"}));
    let (status, v) = download(&app, &open.did, "?protocol=file", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        fetch(&app, &signed_url(&v), None).await.body,
        b"hello, world\n"
    );

    // cloud schemes need credentials weft has none of yet; a record without URLs has nothing
    let s3 = app.create(json!({"urls": ["s3://bucket/k"]})).await;
    let (status, v) = download(&app, &s3.did, "", None).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"], "no credentials configured for s3");
    let none = app.create(json!({"urls": []})).await;
    let (status, v) = download(&app, &none.did, "", None).await;
    assert_eq!(status, 404, "{v}");
    // a missing object: the URL is signed (weft does not look), the download is 404
    let gone = app.create(json!({"urls": ["file:///pub/gone.txt"]})).await;
    let (status, v) = download(&app, &gone.did, "", None).await;
    assert_eq!(status, 200, "{v}");
    fetch(&app, &signed_url(&v), None).await.refused(404);
    app.stop().await;
}

#[tokio::test]
async fn path_traversal_reads_nothing_outside_the_root() {
    let app = TestApp::start().await;
    put_local(&app, "inside.txt", b"inside");
    // a file next to the storage root, in the data directory
    std::fs::write(app.config.data_dir.join("secret.txt"), b"TOP SECRET").expect("write");

    for url in [
        "file:///../secret.txt",
        "file:///%2e%2e/secret.txt",
        "file:///..%2Fsecret.txt",
        "file:////etc/passwd",
        "file://host/secret.txt",
        "file:///a/../../secret.txt",
        "file:///a%00b",
    ] {
        let ids = app.create(json!({"urls": [url]})).await;
        let (status, v) = download(&app, &ids.did, "", None).await;
        assert_eq!(status, 400, "{url}: {v}");
        assert!(!v.to_string().contains("TOP SECRET"), "{v}");
    }

    // straight at the local endpoint, with a valid signature for another key
    let ok = app.create(json!({"urls": ["file:///inside.txt"]})).await;
    let (_, v) = download(&app, &ok.did, "", None).await;
    let url = signed_url(&v);
    let query = url.split_once('?').expect("query").1.to_owned();
    for key in [
        "..%2Fsecret.txt",
        "%2E%2E/secret.txt",
        "a%2F..%2F..%2Fsecret.txt",
        "%00",
    ] {
        let got = fetch(
            &app,
            &format!("{}/user/data/local/{key}?{query}", app.url),
            None,
        )
        .await;
        // (reqwest resolves `%2E%2E` as a dot segment itself, so that one may not reach us)
        assert!(
            [400, 403, 404].contains(&got.status),
            "{key}: {} {}",
            got.status,
            String::from_utf8_lossy(&got.body)
        );
        assert!(!String::from_utf8_lossy(&got.body).contains("TOP SECRET"));
    }
    // unnormalised dot segments on the wire (reqwest would normalise them)
    for target in [
        format!("/user/data/local/../secret.txt?{query}"),
        format!("/user/data/local/../../secret.txt?{query}"),
        format!("/user/data/local/inside.txt/../../secret.txt?{query}"),
    ] {
        let (status, body) = app
            .raw_http(
                format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await;
        assert!(
            status == 400 || status == 403 || status == 404,
            "{target}: {status} {body}"
        );
        assert!(!body.contains("TOP SECRET"), "{target}: {body}");
    }
    // the legitimate object still downloads
    assert_eq!(fetch(&app, &url, None).await.body, b"inside");
    app.stop().await;
}
