//! Blank records, the upload flow's placeholders: create, fill once, new blank versions.

use serde_json::json;

use crate::support::{Auth, Ids, MD5, TestApp, is_rev, is_uuid, mint};

#[tokio::test]
async fn blank_create_then_fill() {
    let app = TestApp::start().await;
    let r = app
        .post_json(
            "/index/index/blank/",
            &json!({"uploader": "alice", "file_name": "reads.bam"}),
        )
        .await;
    let v = r.expect(201);
    let ids = Ids::from(&v);
    assert!(is_uuid(&ids.did));
    assert!(is_uuid(&ids.baseid));
    assert!(is_rev(&ids.rev));

    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["uploader"], "alice");
    assert_eq!(doc["file_name"], "reads.bam");
    assert!(doc["size"].is_null(), "{doc}");
    assert!(doc["form"].is_null(), "{doc}");
    assert_eq!(doc["hashes"], json!({}));
    assert_eq!(doc["urls"], json!([]));
    assert_eq!(doc["acl"], json!([]));
    assert_eq!(doc["authz"], json!([]));

    // fill it: size, hashes, urls
    let path = format!("/index/index/blank/{}", ids.did);
    let fill = json!({"size": 42, "hashes": {"md5": MD5}, "urls": ["s3://uploads/reads.bam"]});
    app.put_json(&format!("{path}?rev=00000000"), &fill)
        .await
        .expect_error(409, "revision mismatch");
    app.put_json(&path, &fill)
        .await
        .expect_error(409, "revision mismatch");
    let v = app
        .put_json(&format!("{path}?rev={}", ids.rev), &fill)
        .await
        .expect(200);
    let filled = Ids::from(&v);
    assert_eq!(filled.did, ids.did);
    assert_eq!(filled.baseid, ids.baseid);
    assert_ne!(filled.rev, ids.rev);
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["rev"], filled.rev);
    assert_eq!(doc["size"], 42);
    assert_eq!(doc["hashes"], json!({"md5": MD5}));
    assert_eq!(doc["urls"], json!(["s3://uploads/reads.bam"]));
    assert_eq!(doc["urls_metadata"], json!({"s3://uploads/reads.bam": {}}));
    assert_eq!(doc["form"], "object");
    assert_eq!(doc["uploader"], "alice");

    // a filled record cannot be filled again
    app.put_json(&format!("{path}?rev={}", filled.rev), &fill)
        .await
        .expect_error(400, "update api is not supported for non-empty record!");
    assert_eq!(app.doc(&ids.did).await["rev"], filled.rev);
    app.stop().await;
}

#[tokio::test]
async fn blank_create_bodies() {
    let app = TestApp::start().await;
    // an empty body is an empty request
    let r = app
        .request(
            reqwest::Method::POST,
            "/index/index/blank/",
            None,
            Auth::Admin,
        )
        .await;
    let ids = Ids::from(&r.expect(201));
    let doc = app.doc(&ids.did).await;
    assert!(doc["uploader"].is_null());
    // no trailing slash
    app.post_json("/index/index/blank", &json!({"uploader": "u"}))
        .await
        .expect(201);
    // authz is kept
    let v = app
        .post_json("/index/index/blank/", &json!({"authz": ["/programs/p"]}))
        .await
        .expect(201);
    let doc = app.doc(v["did"].as_str().unwrap_or_default()).await;
    assert_eq!(doc["authz"], json!(["/programs/p"]));
    // a did cannot be chosen; unknown fields are refused
    app.post_json("/index/index/blank/", &json!({"did": mint(&app).await}))
        .await
        .expect_error(400, "did");
    app.post_json("/index/index/blank/", &json!({"size": 3}))
        .await
        .expect_error(400, "size");
    let r = app
        .post_json_auth("/index/index/blank/", &json!({}), Auth::None)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(app.list_dids("").await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn blank_versions_carry_acl_and_authz_over() {
    let app = TestApp::start().await;
    let v = app
        .post_json(
            "/index/index/blank/",
            &json!({"authz": ["/programs/p"], "file_name": "a"}),
        )
        .await
        .expect(201);
    let first = Ids::from(&v);

    let v = app
        .post_json(
            &format!("/index/index/blank/{}", first.did),
            &json!({"file_name": "b"}),
        )
        .await
        .expect(201);
    let second = Ids::from(&v);
    assert_ne!(second.did, first.did);
    assert_eq!(second.baseid, first.baseid);
    let doc = app.doc(&second.did).await;
    assert_eq!(doc["authz"], json!(["/programs/p"]), "carried over");
    assert_eq!(doc["file_name"], "b");
    assert!(doc["size"].is_null());

    // with authz given, it replaces; with a did given, that did is used
    let did = mint(&app).await;
    let v = app
        .post_json(
            &format!("/index/index/blank/{}", second.did),
            &json!({"did": did, "authz": ["/programs/q"]}),
        )
        .await
        .expect(201);
    assert_eq!(v["did"], did);
    assert_eq!(v["baseid"], first.baseid);
    assert_eq!(app.doc(&did).await["authz"], json!(["/programs/q"]));

    let vs = app
        .get(&format!("/index/index/{}/versions", first.did))
        .await
        .expect(200);
    assert_eq!(vs.as_object().map(|o| o.len()), Some(3));

    // errors
    app.post_json(
        &format!("/index/index/blank/{}", mint(&app).await),
        &json!({}),
    )
    .await
    .expect_error(404, "no record found");
    app.post_json(
        &format!("/index/index/blank/{}", first.did),
        &json!({"did": did}),
    )
    .await
    .expect_error(409, "already exists");
    app.post_json(
        &format!("/index/index/blank/{}", first.did),
        &json!({"did": "not-a-guid"}),
    )
    .await
    .expect_error(400, "not a valid GUID");
    app.stop().await;
}

#[tokio::test]
async fn blank_update_validates_its_body() {
    let app = TestApp::start().await;
    let v = app
        .post_json("/index/index/blank/", &json!({}))
        .await
        .expect(201);
    let ids = Ids::from(&v);
    let path = format!("/index/index/blank/{}?rev={}", ids.did, ids.rev);
    for (body, needle) in [
        (json!({"size": -1, "hashes": {"md5": MD5}}), "size"),
        (json!({"size": 1, "hashes": {"md5": "xyz"}}), "md5"),
        (json!({"size": 1, "hashes": {}}), "hashes"),
        (json!({"hashes": {"md5": MD5}}), "size"),
        (
            json!({"size": 1, "hashes": {"md5": MD5}, "file_name": "x"}),
            "file_name",
        ),
    ] {
        app.put_json(&path, &body).await.expect_error(400, needle);
    }
    app.put_json(
        &format!("/index/index/blank/{}?rev=abc", mint(&app).await),
        &json!({"size": 1, "hashes": {"md5": MD5}}),
    )
    .await
    .expect_error(404, "no record found");
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["rev"], ids.rev, "failed updates change nothing");
    assert!(doc["size"].is_null());
    // with authz: it replaces the record's authz
    let v = app
        .put_json(
            &path,
            &json!({"size": 1, "hashes": {"md5": MD5}, "authz": ["/programs/z"]}),
        )
        .await
        .expect(200);
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["rev"], v["rev"]);
    assert_eq!(doc["authz"], json!(["/programs/z"]));
    assert_eq!(doc["urls"], json!([]), "urls are optional");
    app.stop().await;
}
