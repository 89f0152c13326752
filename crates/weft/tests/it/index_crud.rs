//! Records: create, read, update, delete, the global resolver, bulk documents, and who may
//! write.

use serde_json::{Value, json};

use crate::support::{
    Auth, Ids, MD5, MD5_B, SHA256, TestApp, dids, is_indexd_date, is_rev, is_uuid, mint, record,
    sorted,
};

/// The keys indexd's `to_document_dict` always emits.
const DOC_KEYS: &[&str] = &[
    "acl",
    "authz",
    "baseid",
    "content_created_date",
    "content_updated_date",
    "created_date",
    "description",
    "did",
    "file_name",
    "form",
    "hashes",
    "metadata",
    "rev",
    "size",
    "updated_date",
    "uploader",
    "urls",
    "urls_metadata",
    "version",
];

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn create_without_did_mints_one() {
    let app = TestApp::start().await;
    let v = app
        .post_json("/index/index/", &record(json!({})))
        .await
        .expect(200);
    assert_eq!(keys(&v), ["baseid", "did", "rev"]);
    let ids = Ids::from(&v);
    assert!(is_uuid(&ids.did), "{}", ids.did);
    assert!(is_uuid(&ids.baseid), "{}", ids.baseid);
    assert_ne!(ids.did, ids.baseid);
    assert!(is_rev(&ids.rev), "{}", ids.rev);

    let doc = app.doc(&ids.did).await;
    assert_eq!(keys(&doc), DOC_KEYS);
    assert_eq!(doc["did"], ids.did);
    assert_eq!(doc["baseid"], ids.baseid);
    assert_eq!(doc["rev"], ids.rev);
    assert_eq!(doc["form"], "object");
    assert_eq!(doc["size"], 123);
    assert_eq!(doc["file_name"], "key.txt");
    assert_eq!(doc["urls"], json!(["s3://bucket/key.txt"]));
    assert_eq!(doc["urls_metadata"], json!({"s3://bucket/key.txt": {}}));
    assert_eq!(doc["acl"], json!(["*"]));
    assert_eq!(doc["authz"], json!([]));
    assert_eq!(doc["hashes"], json!({"md5": MD5}));
    assert_eq!(doc["metadata"], json!({}));
    for k in [
        "version",
        "uploader",
        "description",
        "content_created_date",
        "content_updated_date",
    ] {
        assert!(doc[k].is_null(), "{k} is null: {doc}");
    }
    for k in ["created_date", "updated_date"] {
        let d = doc[k].as_str().expect("date string");
        assert!(is_indexd_date(d), "{k} = {d}");
    }
    assert_eq!(doc["created_date"], doc["updated_date"]);
    app.stop().await;
}

#[tokio::test]
async fn create_with_did_baseid_and_every_field() {
    let app = TestApp::start().await;
    let did = format!("my.prefix/{}", mint(&app).await);
    let baseid = mint(&app).await;
    let body = record(json!({
        "did": did,
        "baseid": baseid,
        "form": "container",
        "size": 0,
        "urls": ["s3://b/k", "gs://g/k", "https://example.org/k"],
        "urls_metadata": {"s3://b/k": {"state": "validated"}},
        "hashes": {"md5": MD5, "sha256": SHA256},
        "file_name": "k",
        "version": "1.0",
        "uploader": "alice",
        "description": "a thing",
        "metadata": {"project": "p1"},
        "acl": ["phs1", "phs2", "phs1"],
        "authz": ["/programs/a", "/programs/a"],
        "content_created_date": "2020-01-02T03:04:05Z",
    }));
    let v = app.post_json("/index/index/", &body).await.expect(200);
    assert_eq!(v, json!({"did": did, "rev": v["rev"], "baseid": baseid}));
    assert!(is_rev(v["rev"].as_str().unwrap_or_default()));

    let doc = app.doc(&did).await;
    assert_eq!(doc["did"], did);
    assert_eq!(doc["baseid"], baseid);
    assert_eq!(doc["form"], "container");
    assert_eq!(doc["size"], 0);
    assert_eq!(
        doc["urls"],
        json!(["s3://b/k", "gs://g/k", "https://example.org/k"]),
        "insertion order kept"
    );
    assert_eq!(
        doc["urls_metadata"],
        json!({"s3://b/k": {"state": "validated"}, "gs://g/k": {}, "https://example.org/k": {}})
    );
    assert_eq!(doc["hashes"], json!({"md5": MD5, "sha256": SHA256}));
    assert_eq!(doc["acl"], json!(["phs1", "phs2"]), "deduplicated");
    assert_eq!(doc["authz"], json!(["/programs/a"]), "deduplicated");
    assert_eq!(doc["version"], "1.0");
    assert_eq!(doc["uploader"], "alice");
    assert_eq!(doc["description"], "a thing");
    assert_eq!(doc["metadata"], json!({"project": "p1"}));
    assert_eq!(doc["content_created_date"], "2020-01-02T03:04:05.000000");
    assert_eq!(
        doc["content_updated_date"], "2020-01-02T03:04:05.000000",
        "defaults to content_created_date"
    );
    app.stop().await;
}

#[tokio::test]
async fn duplicate_did_is_a_conflict() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let msg = app
        .post_json(
            "/index/index/",
            &record(json!({"did": ids.did, "file_name": "other"})),
        )
        .await
        .expect_error(409, "already exists");
    assert!(msg.contains(&ids.did), "{msg}");
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["file_name"], "key.txt", "the original is untouched");
    assert_eq!(doc["rev"], ids.rev);
    app.stop().await;
}

#[tokio::test]
async fn unknown_records_are_404() {
    let app = TestApp::start().await;
    let missing = mint(&app).await;
    for path in [
        format!("/index/index/{missing}"),
        format!("/index/index/{missing}/versions"),
        format!("/index/index/{missing}/latest"),
        format!("/index/index/{missing}/aliases"),
        format!("/index/{missing}"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.json, json!({"error": "no record found"}), "{path}");
    }
    let r = app
        .put_json(&format!("/index/index/{missing}?rev=12345678"), &json!({}))
        .await;
    r.expect_error(404, "no record found");
    app.delete(&format!("/index/index/{missing}?rev=12345678"))
        .await
        .expect_error(404, "no record found");
    app.stop().await;
}

#[tokio::test]
async fn update_with_the_current_rev() {
    let app = TestApp::start().await;
    let ids = app
        .create(json!({"urls_metadata": {"s3://bucket/key.txt": {"a": "1"}}}))
        .await;
    let before = app.doc(&ids.did).await;
    let change = json!({
        "file_name": "renamed.txt",
        "urls": ["s3://bucket/key.txt", "gs://other/key.txt"],
        "acl": ["phs9"],
        "authz": ["/programs/p/projects/q"],
        "version": "2",
        "uploader": "bob",
        "description": "updated",
        "metadata": {"k": "v"},
        "content_created_date": "2021-01-01T00:00:00",
        "content_updated_date": "2021-06-01T00:00:00",
    });
    let v = app
        .put_json(
            &format!("/index/index/{}?rev={}", ids.did, ids.rev),
            &change,
        )
        .await
        .expect(200);
    let new = Ids::from(&v);
    assert_eq!(new.did, ids.did);
    assert_eq!(new.baseid, ids.baseid);
    assert!(is_rev(&new.rev));
    assert_ne!(new.rev, ids.rev, "a new rev on every change");

    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["rev"], new.rev);
    assert_eq!(doc["file_name"], "renamed.txt");
    assert_eq!(
        doc["urls"],
        json!(["s3://bucket/key.txt", "gs://other/key.txt"])
    );
    assert_eq!(
        doc["urls_metadata"],
        json!({"s3://bucket/key.txt": {"a": "1"}, "gs://other/key.txt": {}}),
        "metadata of kept URLs survives"
    );
    assert_eq!(doc["acl"], json!(["phs9"]));
    assert_eq!(doc["authz"], json!(["/programs/p/projects/q"]));
    assert_eq!(doc["version"], "2");
    assert_eq!(doc["uploader"], "bob");
    assert_eq!(doc["description"], "updated");
    assert_eq!(doc["metadata"], json!({"k": "v"}));
    assert_eq!(doc["content_created_date"], "2021-01-01T00:00:00.000000");
    assert_eq!(doc["content_updated_date"], "2021-06-01T00:00:00.000000");
    // unchanged fields and dates
    assert_eq!(doc["size"], 123);
    assert_eq!(doc["hashes"], json!({"md5": MD5}));
    assert_eq!(doc["created_date"], before["created_date"]);
    let (c, u) = (
        doc["created_date"].as_str().unwrap_or_default(),
        doc["updated_date"].as_str().unwrap_or_default(),
    );
    assert!(is_indexd_date(u));
    assert!(u > c, "updated_date moves forward: {c} -> {u}");

    // nulls clear nullable fields; lists replace wholesale
    let v = app
        .put_json(
            &format!("/index/index/{}?rev={}", ids.did, new.rev),
            &json!({"file_name": null, "description": null, "urls": []}),
        )
        .await
        .expect(200);
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["rev"], v["rev"]);
    assert!(doc["file_name"].is_null());
    assert!(doc["description"].is_null());
    assert_eq!(doc["urls"], json!([]));
    assert_eq!(doc["urls_metadata"], json!({}));
    assert_eq!(doc["version"], "2", "absent fields are kept");
    app.stop().await;
}

#[tokio::test]
async fn update_needs_the_current_rev() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let body = json!({"file_name": "changed"});
    let r = app
        .put_json(&format!("/index/index/{}?rev=00000000", ids.did), &body)
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json, json!({"error": "revision mismatch"}));
    let r = app
        .put_json(&format!("/index/index/{}", ids.did), &body)
        .await;
    assert_eq!(r.status, 409, "missing rev: {}", r.text);
    assert_eq!(r.json, json!({"error": "revision mismatch"}));

    // a stale rev after a successful update
    let v = app
        .put_json(&format!("/index/index/{}?rev={}", ids.did, ids.rev), &body)
        .await
        .expect(200);
    app.put_json(
        &format!("/index/index/{}?rev={}", ids.did, ids.rev),
        &json!({"file_name": "again"}),
    )
    .await
    .expect_error(409, "revision mismatch");
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["file_name"], "changed");
    assert_eq!(doc["rev"], v["rev"]);
    app.stop().await;
}

#[tokio::test]
async fn delete_needs_the_current_rev() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let path = format!("/index/index/{}", ids.did);
    app.delete(&path)
        .await
        .expect_error(400, "no revision specified");
    let r = app.delete(&format!("{path}?rev=00000000")).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json, json!({"error": "revision mismatch"}));
    app.doc(&ids.did).await;

    let r = app.delete(&format!("{path}?rev={}", ids.rev)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, "", "indexd answers an empty 200");
    let r = app.get(&path).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({"error": "no record found"}));
    app.delete(&format!("{path}?rev={}", ids.rev))
        .await
        .expect_error(404, "no record found");
    assert!(app.list_dids("").await.is_empty());
    // the did is free again
    let again = app
        .create(json!({"did": ids.did, "file_name": "again"}))
        .await;
    assert_eq!(again.did, ids.did);
    assert_ne!(again.rev, ids.rev);
    assert_eq!(app.doc(&ids.did).await["file_name"], "again");
    app.stop().await;
}

#[tokio::test]
async fn writes_need_credentials() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let rec = app.doc(&ids.did).await;
    let doc_path = format!("/index/index/{}?rev={}", ids.did, ids.rev);
    let body = record(json!({}));

    for (auth, status, msg) in [
        (Auth::None, 401, "Permission denied."),
        (Auth::Bearer, 401, "Permission denied."),
        (Auth::WrongPassword, 403, "username / password mismatch"),
    ] {
        let r = app.post_json_auth("/index/index/", &body, auth).await;
        assert_eq!(r.status, status, "create with {auth:?}: {}", r.text);
        r.expect_error(status, msg);

        let r = app
            .put_json_auth(&doc_path, &json!({"file_name": "x"}), auth)
            .await;
        assert_eq!(r.status, status, "update with {auth:?}: {}", r.text);
        r.expect_error(status, msg);

        let r = app.delete_auth(&doc_path, auth).await;
        assert_eq!(r.status, status, "delete with {auth:?}: {}", r.text);
        r.expect_error(status, msg);

        let r = app
            .post_json_auth(&format!("/index/index/{}", ids.did), &body, auth)
            .await;
        assert_eq!(r.status, status, "new version with {auth:?}: {}", r.text);
        let r = app
            .post_json_auth("/index/index/blank/", &json!({}), auth)
            .await;
        assert_eq!(r.status, status, "blank with {auth:?}: {}", r.text);
        let r = app
            .post_json_auth(
                &format!("/index/index/{}/aliases", ids.did),
                &json!({"aliases": [{"value": "x"}]}),
                auth,
            )
            .await;
        assert_eq!(r.status, status, "aliases with {auth:?}: {}", r.text);
        let r = app
            .put_json_auth(
                &format!("/index/index/{}/versions", ids.did),
                &json!({"acl": []}),
                auth,
            )
            .await;
        assert_eq!(r.status, status, "versions with {auth:?}: {}", r.text);
    }
    // an unknown user is refused like a wrong password
    let r = app
        .client
        .post(format!("{}/index/index/", app.url))
        .basic_auth("mallory", Some("secret"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 403);
    // a malformed basic header counts as no credentials
    let r = app
        .client
        .post(format!("{}/index/index/", app.url))
        .header("authorization", "Basic !!!not-base64")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 401);

    // nothing changed, nothing was added; reads never need credentials
    assert_eq!(app.doc(&ids.did).await, rec);
    assert_eq!(app.list_dids("").await, vec![ids.did.clone()]);
    let r = app
        .get_auth(&format!("/index/index/{}", ids.did), Auth::WrongPassword)
        .await;
    assert_eq!(r.status, 200, "reads ignore credentials");
    app.stop().await;
}

#[tokio::test]
async fn trailing_slashes_and_no_slash() {
    let app = TestApp::start().await;
    let v = app
        .post_json("/index/index", &record(json!({})))
        .await
        .expect(200);
    let did = v["did"].as_str().expect("did").to_owned();
    let doc = app.get(&format!("/index/index/{did}/")).await.expect(200);
    assert_eq!(doc["did"], did);
    let list = app.get("/index/index").await.expect(200);
    assert_eq!(dids(&list["records"]), vec![did.clone()]);
    let v = app.get("/index/urls?size=123").await.expect(200);
    assert_eq!(v["urls"][0]["url"], "s3://bucket/key.txt");
    let v = app
        .post_json("/index/bulk/documents/", &json!([did]))
        .await
        .expect(200);
    assert_eq!(dids(&v), vec![did]);
    app.stop().await;
}

#[tokio::test]
async fn global_resolver_finds_dids_and_baseids() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let doc = app.get(&format!("/index/{}", ids.did)).await.expect(200);
    assert_eq!(doc, app.doc(&ids.did).await);
    let doc = app.get(&format!("/index/{}", ids.baseid)).await.expect(200);
    assert_eq!(doc["did"], ids.did);
    let r = app.get(&format!("/index/{}", mint(&app).await)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({"error": "no record found"}));
    // ?no_dist is accepted (no remote lookup is configured anyway)
    let doc = app
        .get(&format!("/index/{}?no_dist", ids.did))
        .await
        .expect(200);
    assert_eq!(doc["did"], ids.did);
    app.stop().await;
}

#[tokio::test]
async fn bulk_documents() {
    let app = TestApp::start().await;
    let a = app.create(json!({})).await;
    let b = app
        .create(json!({"hashes": {"md5": MD5_B}, "size": 7}))
        .await;
    let missing = mint(&app).await;
    let v = app
        .post_json(
            "/index/bulk/documents",
            &json!([a.did, missing, b.did, a.did]),
        )
        .await
        .expect(200);
    assert_eq!(
        sorted(dids(&v)),
        sorted(vec![a.did.clone(), b.did.clone()]),
        "missing ids are left out, repeats once"
    );
    let docs = v.as_array().expect("list");
    let bdoc = docs.iter().find(|d| d["did"] == b.did).expect("b");
    assert_eq!(bdoc, &app.doc(&b.did).await, "full documents");

    // no credentials needed; exact dids only (a baseid is not a did)
    let r = app
        .post_json_auth("/index/bulk/documents", &json!([a.baseid]), Auth::None)
        .await;
    assert_eq!(r.expect(200), json!([]));

    app.post_json("/index/bulk/documents", &json!([]))
        .await
        .expect_error(400, "non-empty");
    app.post_json("/index/bulk/documents", &json!({"ids": [a.did]}))
        .await
        .expect_error(400, "list");
    app.post_json("/index/bulk/documents", &json!("x"))
        .await
        .expect_error(400, "list");
    app.stop().await;
}

/// Every write checks credentials before it reads its body: a caller without valid
/// credentials gets indexd's 401, whatever the body, and learns nothing about it.
#[tokio::test]
async fn writes_check_credentials_before_the_body() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let did = &ids.did;
    let rev = &ids.rev;
    let malformed = b"{not json".to_vec();
    let writes: Vec<(reqwest::Method, String)> = vec![
        (reqwest::Method::POST, "/index/index/".into()),
        (reqwest::Method::POST, format!("/index/index/{did}")),
        (
            reqwest::Method::PUT,
            format!("/index/index/{did}?rev={rev}"),
        ),
        (reqwest::Method::POST, "/index/index/blank/".into()),
        (reqwest::Method::POST, format!("/index/index/blank/{did}")),
        (
            reqwest::Method::PUT,
            format!("/index/index/blank/{did}?rev={rev}"),
        ),
        (reqwest::Method::POST, format!("/index/index/{did}/aliases")),
        (reqwest::Method::PUT, format!("/index/index/{did}/aliases")),
        (reqwest::Method::PUT, format!("/index/index/{did}/versions")),
    ];
    for (method, path) in &writes {
        for auth in [Auth::None, Auth::Bearer] {
            let r = app
                .request(method.clone(), path, Some(malformed.clone()), auth)
                .await;
            r.expect_error(401, "Permission denied.");
        }
        // With credentials the body is read, and found wanting.
        let r = app
            .request(method.clone(), path, Some(malformed.clone()), Auth::Admin)
            .await;
        assert_eq!(r.status, 400, "{method} {path} as admin: {}", r.text);
    }
    // fence's data routes and MDS's objects API: the same order.
    let forged = Some("some.jwt.token");
    for path in [
        "/user/data/upload",
        "/user/data/multipart/init",
        "/user/data/multipart/upload",
        "/user/data/multipart/complete",
        "/mds/objects/upload",
        &format!("/mds/objects/{did}"),
    ] {
        for token in [None, forged] {
            let mut req = app
                .client
                .post(format!("{}{path}", app.url))
                .header("content-type", "application/json")
                .body(malformed.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = crate::support::Resp::read(req.send().await.expect("request")).await;
            assert_eq!(r.status, 401, "POST {path} with {token:?}: {}", r.text);
        }
    }
    assert_eq!(app.list_dids("").await, vec![ids.did.clone()]);
    app.stop().await;
}
