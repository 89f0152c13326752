//! MDS's objects API under `/mds/objects`: an index record (through fence's upload flow)
//! and its metadata made, read, versioned and deleted together.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::uploads::{get_bytes, object, put};

const PROJECT: &str = "/programs/p/projects/objects";
const OWNER: &str = "owner@weft.test";

async fn app_with_owner() -> (TestApp, String) {
    let app = TestApp::start().await;
    for method in [
        "create",
        "write-storage",
        "read-storage",
        "update",
        "delete",
    ] {
        app.grant(OWNER, "fence", method, PROJECT).await;
        app.grant(OWNER, "indexd", method, PROJECT).await;
    }
    let token = app.token(OWNER);
    (app, token)
}

fn upload_body(file: &str, aliases: &[&str]) -> Value {
    json!({
        "file_name": file,
        "authz": {"version": 0, "resource_paths": [PROJECT]},
        "aliases": aliases,
        "metadata": {"study": "S1", "n": 3},
    })
}

async fn counts(app: &TestApp) -> (usize, usize) {
    let records = app.list_dids("").await.len();
    let metadata = app.get("/mds/metadata?limit=100").await.json;
    (records, metadata.as_array().map_or(0, Vec::len))
}

#[tokio::test]
async fn upload_fill_read_version_download_delete() {
    let (app, t) = app_with_owner().await;
    let t = Some(t.as_str());
    let r = app
        .call(
            Method::POST,
            "/mds/objects/upload",
            Some(upload_body("a b.txt", &["alias-b", "alias-a"])),
            t,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let guid = r.json["guid"].as_str().unwrap().to_owned();
    assert_eq!(r.json["aliases"], json!(["alias-a", "alias-b"]));
    assert_eq!(
        r.json["authz"],
        json!({"version": 0, "resource_paths": [PROJECT]})
    );
    assert_eq!(
        r.json["metadata"],
        json!({"study": "S1", "n": 3, "_upload_status": "not_uploaded"})
    );
    let upload_url = r.json["upload_url"].as_str().unwrap().to_owned();
    assert!(upload_url.contains("/user/data/local/"), "{upload_url}");
    // the metadata is there, and the blank index record with its aliases
    assert_eq!(
        app.get(&format!("/mds/metadata/{guid}")).await.json,
        r.json["metadata"]
    );
    let blank = app.doc(&guid).await;
    assert_eq!(blank["authz"], json!([PROJECT]));
    assert_eq!(blank["file_name"], "a b.txt");
    assert_eq!(blank["size"], Value::Null);
    let aliases = app.get(&format!("/index/index/{guid}/aliases")).await.json;
    assert_eq!(aliases["aliases"].as_array().unwrap().len(), 2, "{aliases}");
    // the bytes go to the upload URL; the object then has size and hashes
    let bytes = object(5000, 9);
    let (status, _, body) = put(&app, &upload_url, bytes.clone(), &[]).await;
    assert_eq!(status, 200, "{body}");
    let r = app.get(&format!("/mds/objects/{guid}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["record"]["did"], guid.as_str());
    assert_eq!(r.json["record"]["size"], 5000);
    assert_eq!(r.json["metadata"]["study"], "S1");
    // download: a signed URL for the bytes
    let r = app
        .call(
            Method::GET,
            &format!("/mds/objects/{guid}/download"),
            None,
            t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, got) = get_bytes(&app, r.json["url"].as_str().unwrap()).await;
    assert_eq!((status, got), (200, bytes));
    let r = app.get(&format!("/mds/objects/{guid}/download")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // a new version: another blank record with the same baseid, and its own metadata
    let r = app
        .call(
            Method::POST,
            &format!("/mds/objects/{guid}"),
            Some(json!({"file_name": "v2.txt", "metadata": {"v": 2}})),
            t,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v2 = r.json["guid"].as_str().unwrap().to_owned();
    assert_ne!(v2, guid);
    assert!(r.json["upload_url"].as_str().unwrap().contains(&v2));
    assert_eq!(app.doc(&v2).await["baseid"], blank["baseid"]);
    assert_eq!(
        app.get(&format!("/mds/metadata/{v2}")).await.json,
        json!({"v": 2, "_upload_status": "not_uploaded"})
    );
    let latest = app.get(&format!("/mds/objects/{guid}/latest")).await;
    assert_eq!(latest.json["record"]["did"], v2.as_str(), "{}", latest.text);
    // delete: the record (and with the flag its file) and the metadata go
    let r = app
        .call(
            Method::DELETE,
            &format!("/mds/objects/{guid}?delete_file_locations=yes"),
            None,
            t,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .call(
            Method::DELETE,
            &format!("/mds/objects/{guid}?delete_file_locations"),
            None,
            t,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.get(&format!("/mds/objects/{guid}")).await.status, 404);
    assert_eq!(app.get(&format!("/mds/metadata/{guid}")).await.status, 404);
    let r = app
        .call(Method::DELETE, &format!("/mds/objects/{v2}"), None, t)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(counts(&app).await, (0, 0));
    app.stop().await;
}

#[tokio::test]
async fn the_sdk_path_and_metadata_only_objects() {
    let (app, t) = app_with_owner().await;
    // Gen3Object.create_object POSTs to /mds/objects
    let r = app
        .call(
            Method::POST,
            "/mds/objects",
            Some(upload_body("x.bin", &[])),
            Some(&t),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["aliases"], json!([]));
    // metadata without an index record still reads as an object
    app.grant("curator@weft.test", "mds_gateway", "access", "/mds_gateway")
        .await;
    let c = app.token("curator@weft.test");
    app.call(
        Method::POST,
        "/mds/metadata/only-md",
        Some(json!({"k": 1})),
        Some(&c),
    )
    .await
    .expect(201);
    let r = app.get("/mds/objects/only-md").await;
    assert_eq!(r.json, json!({"record": {}, "metadata": {"k": 1}}));
    let r = app.get("/mds/objects/nothing-here").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.json["detail"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn refusals_and_bad_input_leave_nothing_behind() {
    let (app, t) = app_with_owner().await;
    let t = Some(t.as_str());
    let r = app
        .call(
            Method::POST,
            "/mds/objects/upload",
            Some(upload_body("a", &[])),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let stranger = app.token("stranger@weft.test");
    let r = app
        .call(
            Method::POST,
            "/mds/objects/upload",
            Some(upload_body("a", &[])),
            Some(&stranger),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    for body in [
        json!({"file_name": "a", "authz": {"version": 1, "resource_paths": [PROJECT]}}),
        json!({"file_name": "a", "authz": {"version": 0, "resource_paths": PROJECT}}),
        json!({"file_name": "a"}),
        json!({"authz": {"version": 0, "resource_paths": [PROJECT]}}),
        upload_body("a", &["upload"]),
        json!([1]),
    ] {
        let r = app
            .call(Method::POST, "/mds/objects/upload", Some(body.clone()), t)
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.json["detail"].is_string(), "{}", r.text);
    }
    assert_eq!(counts(&app).await, (0, 0));
    // an alias another record holds: 409, and the blank record made for it is undone
    app.call(
        Method::POST,
        "/mds/objects/upload",
        Some(upload_body("a", &["taken"])),
        t,
    )
    .await
    .expect(201);
    let r = app
        .call(
            Method::POST,
            "/mds/objects/upload",
            Some(upload_body("b", &["taken"])),
            t,
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(counts(&app).await, (1, 1));
    // deleting needs the index's permission; the metadata stays when refused
    let only = app.list_dids("").await.remove(0);
    let r = app
        .call(
            Method::DELETE,
            &format!("/mds/objects/{only}"),
            None,
            Some(&stranger),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(counts(&app).await, (1, 1));
    app.stop().await;
}
