//! Uploads and downloads through real object-store emulators on loopback (started by
//! `tests/emulators.sh`, which `test.sh` sources): S3 (s3s-fs), Azure Blob (Azurite) and
//! GCS (gcp-storage-emulator). Each test uploads through weft's presigned PUT URL, fills
//! the blank record with `index-uploads`, downloads through weft's presigned GET URL and
//! compares bytes. Without the emulator's variable a test is skipped, unless `CI` is set:
//! then it fails.

use reqwest::Method;
use serde_json::{Value, json};
use weft_config::{AzureContainer, Config, GsBucket, S3Bucket, Secret};

use crate::support::TestApp;
use crate::uploads::{get_bytes, md5_hex, object, put};

const BUCKET: &str = "weft-test";
/// Azurite's well-known development account.
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The emulator's endpoint from `var`; `None` (skip) outside CI, a failure in CI.
#[allow(clippy::disallowed_methods)] // tests find the emulators test.sh started
fn endpoint(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !ci,
                "{var} is not set but CI is: start the emulators (tests/emulators.sh, run by test.sh)"
            );
            eprintln!("skipped: {var} is not set (run ./test.sh, which starts the emulators)");
            None
        }
    }
}

#[allow(clippy::disallowed_methods)]
fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} must be set with the emulator"))
}

/// Upload `bytes` as `file_name` through `POST /user/data/upload` (and `extra_headers` on
/// the PUT), fill the record with index-uploads, download it through
/// `/user/data/download/{guid}`; returns the record.
async fn round_trip(
    app: &TestApp,
    scheme: &str,
    file_name: &str,
    bytes: &[u8],
    extra_headers: &[(&str, &str)],
) -> Value {
    let project = "/programs/cloud/projects/p";
    for method in ["create", "write-storage", "read-storage"] {
        app.grant("cloud@x.org", "fence", method, project).await;
    }
    let token = app.token("cloud@x.org");
    let v = app
        .call(
            Method::POST,
            "/user/data/upload",
            Some(json!({"file_name": file_name, "authz": [project], "protocol": scheme})),
            Some(&token),
        )
        .await
        .expect(201);
    let guid = v["guid"].as_str().expect("guid").to_owned();
    let url = v["url"].as_str().expect("url").to_owned();
    assert!(!url.contains("/user/data/local/"), "a cloud URL: {url}");
    let (status, _, text) = put(app, &url, bytes.to_vec(), extra_headers).await;
    assert!(
        (200..300).contains(&status),
        "PUT to the presigned URL: {status} {text}"
    );
    assert_eq!(app.doc(&guid).await["size"], Value::Null, "not indexed yet");

    // the download of a blank record finds no URL yet
    let r = app
        .call(
            Method::GET,
            &format!("/user/data/download/{guid}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);

    let stores = weft::open_stores(&app.config).await.expect("stores");
    let report = weft::index_uploads_once(&app.config, &stores)
        .await
        .expect("index-uploads");
    assert_eq!(report.filled, 1, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    let doc = app.doc(&guid).await;
    assert_eq!(doc["size"], bytes.len(), "{doc}");
    assert_eq!(doc["hashes"], json!({"md5": md5_hex(bytes)}));
    assert_eq!(
        doc["urls"],
        json!([format!("{scheme}://{BUCKET}/{guid}/{file_name}")])
    );
    // a second pass finds nothing left to do
    let again = weft::index_uploads_once(&app.config, &stores)
        .await
        .expect("index-uploads");
    assert_eq!((again.blank, again.filled), (0, 0), "{again:?}");

    let v = app
        .call(
            Method::GET,
            &format!("/user/data/download/{guid}?expires_in=120"),
            None,
            Some(&token),
        )
        .await
        .expect(200);
    let signed = v["url"].as_str().expect("url");
    assert!(!signed.starts_with(&app.url), "{signed}");
    let (status, got) = get_bytes(app, signed).await;
    assert_eq!(status, 200);
    assert_eq!(got, bytes, "downloaded bytes differ");
    // DRS access answers the same kind of URL
    let v = app
        .call(
            Method::GET,
            &format!("/ga4gh/drs/v1/objects/{guid}/access/{scheme}"),
            None,
            Some(&token),
        )
        .await
        .expect(200);
    let (status, got) = get_bytes(app, v["url"].as_str().expect("url")).await;
    assert_eq!(status, 200);
    assert_eq!(got, bytes);
    doc
}

fn s3_config(c: &mut Config, endpoint: &str) {
    c.storage.s3_buckets.insert(
        BUCKET.to_owned(),
        S3Bucket {
            endpoint_url: Some(endpoint.to_owned()),
            access_key_id: Some(Secret(env("WEFT_TEST_S3_ACCESS_KEY"))),
            secret_access_key: Some(Secret(env("WEFT_TEST_S3_SECRET_KEY"))),
            allow_http: true,
            ..S3Bucket::default()
        },
    );
    c.storage.data_upload_bucket = Some(format!("s3://{BUCKET}"));
}

#[tokio::test]
async fn s3_upload_index_download() {
    let Some(endpoint) = endpoint("WEFT_TEST_S3_ENDPOINT") else {
        return;
    };
    let app = TestApp::start_with(|c| s3_config(c, &endpoint)).await;
    let bytes = object(1_000_003, 5);
    round_trip(&app, "s3", "data file.bin", &bytes, &[]).await;

    // a bucket weft has no credentials for still answers 400
    let other = app.create(json!({"urls": ["s3://other-bucket/k"]})).await;
    let (status, v) = {
        let r = app.get(&format!("/user/data/download/{}", other.did)).await;
        (r.status, r.json)
    };
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"], "no credentials configured for s3");
    app.stop().await;
}

#[tokio::test]
async fn s3_multipart_upload() {
    let Some(endpoint) = endpoint("WEFT_TEST_S3_ENDPOINT") else {
        return;
    };
    let app = TestApp::start_with(|c| s3_config(c, &endpoint)).await;
    app.grant("mp@x.org", "fence", "file_upload", "/data_file")
        .await;
    app.grant("mp@x.org", "fence", "read-storage", "/programs")
        .await;
    let token = app.token("mp@x.org");
    let v = app
        .call(
            Method::POST,
            "/user/data/multipart/init",
            Some(json!({"file_name": "parts.bin"})),
            Some(&token),
        )
        .await
        .expect(201);
    let guid = v["guid"].as_str().expect("guid").to_owned();
    let upload_id = v["uploadId"].as_str().expect("uploadId").to_owned();
    let key = format!("{guid}/parts.bin");
    // S3's smallest part (but the last) is 5 MiB
    let parts = [object(5 * 1024 * 1024, 6), object(77_777, 7)];
    let mut listed = vec![];
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
        assert!(!etag.is_empty(), "S3 answers an ETag");
        listed.push(json!({"PartNumber": i + 1, "ETag": etag}));
    }
    app.call(
        Method::POST,
        "/user/data/multipart/complete",
        Some(json!({"key": key, "uploadId": upload_id, "parts": listed})),
        Some(&token),
    )
    .await
    .expect(200);
    let stores = weft::open_stores(&app.config).await.expect("stores");
    let report = weft::index_uploads_once(&app.config, &stores)
        .await
        .expect("index-uploads");
    assert_eq!(report.filled, 1, "{report:?}");
    let whole = parts.concat();
    let doc = app.doc(&guid).await;
    assert_eq!(doc["size"], whole.len());
    assert_eq!(doc["hashes"]["md5"], md5_hex(&whole));
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
    assert_eq!(got, whole);
    app.stop().await;
}

#[tokio::test]
async fn azure_upload_index_download() {
    let Some(endpoint) = endpoint("WEFT_TEST_AZURE_ENDPOINT") else {
        return;
    };
    let app = TestApp::start_with(|c| {
        c.storage.azure_containers.insert(
            BUCKET.to_owned(),
            AzureContainer {
                account: AZURITE_ACCOUNT.to_owned(),
                access_key: Some(Secret(AZURITE_KEY.to_owned())),
                endpoint_url: Some(endpoint.clone()),
                allow_http: true,
            },
        );
        c.storage.data_upload_bucket = Some(format!("az://{BUCKET}"));
    })
    .await;
    let bytes = object(400_001, 8);
    let doc = round_trip(
        &app,
        "az",
        "blob.bin",
        &bytes,
        &[("x-ms-blob-type", "BlockBlob")],
    )
    .await;
    // the https spelling of the same blob is signed too
    let did = doc["did"].as_str().expect("did");
    let https = format!("{endpoint}/{BUCKET}/{did}/blob.bin");
    let alias = app
        .create(json!({"urls": [https], "acl": ["*"], "authz": []}))
        .await;
    let r = app.get(&format!("/user/data/download/{}", alias.did)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let signed = r.json["url"].as_str().expect("url");
    assert!(signed.contains("sig="), "a SAS: {signed}");
    let (status, got) = get_bytes(&app, signed).await;
    assert_eq!(status, 200);
    assert_eq!(got, bytes);
    app.stop().await;
}

#[tokio::test]
async fn gcs_upload_index_download() {
    let Some(endpoint) = endpoint("WEFT_TEST_GCS_ENDPOINT") else {
        return;
    };
    // a service-account key file, as Google issues them (the emulator checks no signature,
    // but weft signs V4 URLs with it all the same)
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("sa.json");
    let private = {
        use rsa::pkcs8::EncodePrivateKey as _;
        let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key");
        key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .expect("pem")
            .to_string()
    };
    let sa = json!({"type": "service_account", "client_email": "weft@test.iam.gserviceaccount.com",
                    "private_key": private, "private_key_id": "test"});
    std::fs::write(&key_path, sa.to_string()).expect("writing the key");
    let app = TestApp::start_with(|c| {
        c.storage.gs_buckets.insert(
            BUCKET.to_owned(),
            GsBucket {
                service_account_key: Some(key_path.clone()),
                endpoint_url: Some(endpoint.clone()),
                allow_http: true,
            },
        );
        c.storage.data_upload_bucket = Some(format!("gs://{BUCKET}"));
    })
    .await;
    let bytes = object(250_000, 9);
    round_trip(&app, "gs", "g.bin", &bytes, &[]).await;
    // GCS takes no multipart uploads through weft (S3 and local only)
    app.grant("cloud@x.org", "fence", "file_upload", "/data_file")
        .await;
    let token = app.token("cloud@x.org");
    app.call(
        Method::POST,
        "/user/data/multipart/init",
        Some(json!({"file_name": "x"})),
        Some(&token),
    )
    .await
    .expect_error(400, "multipart");
    app.stop().await;
}
