//! Versions: new versions sharing a baseid, `/versions`, `/latest`, and setting acl/authz on
//! all versions at once.

use serde_json::json;

use crate::support::{Auth, Ids, MD5_B, TestApp, is_rev, is_uuid, mint, record};

#[tokio::test]
async fn new_versions_share_the_baseid() {
    let app = TestApp::start().await;
    let v1 = app
        .create(json!({"version": "1", "file_name": "v1.txt"}))
        .await;
    let v = app
        .post_json(
            &format!("/index/index/{}", v1.did),
            &record(json!({"file_name": "v2.txt", "hashes": {"md5": MD5_B}, "version": null})),
        )
        .await
        .expect(200);
    let v2 = Ids::from(&v);
    assert!(is_uuid(&v2.did));
    assert_ne!(v2.did, v1.did);
    assert_eq!(v2.baseid, v1.baseid);
    assert!(is_rev(&v2.rev));

    // a third version with a chosen did; a given baseid is ignored
    let did3 = mint(&app).await;
    let v = app
        .post_json(
            &format!("/index/index/{}", v2.did),
            &record(json!({"did": did3, "baseid": mint(&app).await, "file_name": "v3.txt"})),
        )
        .await
        .expect(200);
    let v3 = Ids::from(&v);
    assert_eq!(v3.did, did3);
    assert_eq!(v3.baseid, v1.baseid);

    // /versions: an object keyed "0", "1", … oldest first; by did or baseid
    for id in [&v1.did, &v2.did, &v1.baseid] {
        let vs = app
            .get(&format!("/index/index/{id}/versions"))
            .await
            .expect(200);
        let obj = vs.as_object().expect("an object, not a list");
        assert_eq!(
            obj.keys().cloned().collect::<Vec<_>>(),
            ["0", "1", "2"],
            "{vs}"
        );
        assert_eq!(vs["0"]["did"], v1.did);
        assert_eq!(vs["1"]["did"], v2.did);
        assert_eq!(vs["2"]["did"], v3.did);
        assert_eq!(vs["1"]["file_name"], "v2.txt");
        assert_eq!(vs["0"], app.doc(&v1.did).await, "full documents");
    }

    // /latest: newest by creation; has_version=true skips unversioned ones
    let latest = app
        .get(&format!("/index/index/{}/latest", v1.did))
        .await
        .expect(200);
    assert_eq!(latest["did"], v3.did);
    let latest = app
        .get(&format!("/index/index/{}/latest?has_version=true", v1.did))
        .await
        .expect(200);
    assert_eq!(latest["did"], v1.did, "v2 and v3 have no version label");
    let latest = app
        .get(&format!("/index/index/{}/latest", v1.baseid))
        .await
        .expect(200);
    assert_eq!(latest["did"], v3.did);

    // the record route resolves a baseid to its newest version
    let doc = app
        .get(&format!("/index/index/{}", v1.baseid))
        .await
        .expect(200);
    assert_eq!(doc["did"], v3.did);
    app.stop().await;
}

#[tokio::test]
async fn latest_with_has_version_and_none_versioned_is_404() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    app.get(&format!("/index/index/{}/latest?has_version=true", ids.did))
        .await
        .expect_error(404, "no record found");
    app.stop().await;
}

#[tokio::test]
async fn new_version_errors_leave_nothing_behind() {
    let app = TestApp::start().await;
    let a = app.create(json!({})).await;
    let b = app.create(json!({})).await;
    // did taken
    app.post_json(
        &format!("/index/index/{}", a.did),
        &record(json!({"did": b.did})),
    )
    .await
    .expect_error(409, "already exists");
    // the old did must exist exactly
    app.post_json(
        &format!("/index/index/{}", mint(&app).await),
        &record(json!({})),
    )
    .await
    .expect_error(404, "no record found");
    // invalid body
    app.post_json(
        &format!("/index/index/{}", a.did),
        &record(json!({"size": -5})),
    )
    .await
    .expect_error(400, "size");
    let vs = app
        .get(&format!("/index/index/{}/versions", a.did))
        .await
        .expect(200);
    assert_eq!(vs.as_object().map(|o| o.len()), Some(1), "{vs}");
    assert_eq!(app.list_dids("").await.len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn put_versions_sets_acl_and_authz_everywhere() {
    let app = TestApp::start().await;
    let v1 = app.create(json!({"acl": ["a"], "authz": ["/x"]})).await;
    let v = app
        .post_json(&format!("/index/index/{}", v1.did), &record(json!({})))
        .await
        .expect(200);
    let v2 = Ids::from(&v);
    let other = app.create(json!({"acl": ["keep"]})).await;

    let body = json!({"acl": ["phs1"], "authz": ["/programs/p", "/programs/p"]});
    let out = app
        .put_json(&format!("/index/index/{}/versions", v2.did), &body)
        .await
        .expect(200);
    let list = out.as_array().expect("a list");
    assert_eq!(list.len(), 2);
    let mut got: Vec<String> = list
        .iter()
        .map(|e| e["did"].as_str().unwrap_or_default().to_owned())
        .collect();
    got.sort();
    let mut want = vec![v1.did.clone(), v2.did.clone()];
    want.sort();
    assert_eq!(got, want);
    for e in list {
        let ids = Ids::from(e);
        assert_eq!(ids.baseid, v1.baseid);
        assert!(is_rev(&ids.rev));
        let doc = app.doc(&ids.did).await;
        assert_eq!(doc["rev"], ids.rev, "a new rev per version");
        assert_eq!(doc["acl"], json!(["phs1"]));
        assert_eq!(doc["authz"], json!(["/programs/p"]));
    }
    assert_ne!(app.doc(&v1.did).await["rev"], v1.rev);
    assert_eq!(app.doc(&other.did).await["acl"], json!(["keep"]));

    // only acl: authz stays
    app.put_json(
        &format!("/index/index/{}/versions", v1.did),
        &json!({"acl": []}),
    )
    .await
    .expect(200);
    let doc = app.doc(&v2.did).await;
    assert_eq!(doc["acl"], json!([]));
    assert_eq!(doc["authz"], json!(["/programs/p"]));

    app.put_json(
        &format!("/index/index/{}/versions", mint(&app).await),
        &json!({"acl": []}),
    )
    .await
    .expect_error(404, "no record found");
    app.put_json(
        &format!("/index/index/{}/versions", v1.did),
        &json!({"file_name": "x"}),
    )
    .await
    .expect_error(400, "file_name");
    let r = app
        .put_json_auth(
            &format!("/index/index/{}/versions", v1.did),
            &json!({"acl": ["nope"]}),
            Auth::None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(app.doc(&v1.did).await["acl"], json!([]));
    app.stop().await;
}
