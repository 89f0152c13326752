//! GUID prefixes (`index.guid_prefix`, indexd's `DEFAULT_PREFIX`) and `add_prefix_alias`.

use serde_json::{Value, json};

use crate::support::{TestApp, encode, is_uuid, record};

const PREFIX: &str = "dg.TEST/";

async fn prefixed() -> TestApp {
    TestApp::start_with(|c| c.index.guid_prefix = PREFIX.into()).await
}

#[tokio::test]
async fn minted_dids_carry_the_prefix() {
    let app = prefixed().await;
    let ids = app.create(json!({})).await;
    let uuid = ids
        .did
        .strip_prefix(PREFIX)
        .unwrap_or_else(|| panic!("{} is prefixed", ids.did));
    assert!(is_uuid(uuid));
    assert!(is_uuid(&ids.baseid), "baseids are never prefixed");

    let v = app.get("/index/guid/mint?count=2").await.expect(200);
    for g in v["guids"].as_array().expect("guids") {
        let g = g.as_str().unwrap_or_default();
        assert!(
            g.strip_prefix(PREFIX).is_some_and(is_uuid),
            "{g} is prefixed"
        );
    }
    assert_eq!(
        app.get("/index/guid/prefix").await.expect(200),
        json!({"prefix": PREFIX})
    );

    // blank records too
    let v = app
        .post_json("/index/index/blank/", &json!({}))
        .await
        .expect(201);
    assert!(v["did"].as_str().is_some_and(|d| d.starts_with(PREFIX)));

    // a client-chosen did is kept as given
    let own = format!("dg.OTHER/{uuid}");
    let v = app
        .post_json("/index/index/", &record(json!({"did": own})))
        .await
        .expect(200);
    assert_eq!(v["did"], own);
    app.stop().await;
}

#[tokio::test]
async fn reads_accept_either_spelling_writes_need_the_exact_did() {
    let app = prefixed().await;
    let ids = app.create(json!({})).await;
    let uuid = ids.did.trim_start_matches(PREFIX).to_owned();
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["did"], ids.did);

    // non-strict prefix lookup: the bare uuid finds the prefixed record
    assert_eq!(app.doc(&uuid).await, doc);
    assert_eq!(app.get(&format!("/index/{uuid}")).await.expect(200), doc);
    assert_eq!(
        app.get(&format!("/index/index/{uuid}/versions"))
            .await
            .expect(200)["0"]["did"],
        ids.did
    );
    // …and a percent-encoded slash is the same path
    assert_eq!(app.doc(&encode(&ids.did)).await, doc);

    // and the reverse: a bare did found by its prefixed spelling
    let bare = app
        .create(json!({"did": "7c1d1e3b-5a58-4a53-9f57-1d2b5a1b7c11"}))
        .await;
    assert_eq!(
        app.doc(&format!("{PREFIX}{}", bare.did)).await["did"],
        bare.did
    );

    // PUT and DELETE need the exact did
    app.put_json(
        &format!("/index/index/{uuid}?rev={}", ids.rev),
        &json!({"file_name": "x"}),
    )
    .await
    .expect_error(404, "no record found");
    app.delete(&format!("/index/index/{uuid}?rev={}", ids.rev))
        .await
        .expect_error(404, "no record found");
    let v = app
        .put_json(
            &format!("/index/index/{}?rev={}", ids.did, ids.rev),
            &json!({"file_name": "x"}),
        )
        .await
        .expect(200);
    assert_eq!(v["did"], ids.did);
    app.stop().await;
}

#[tokio::test]
async fn drs_uses_the_compact_identifier() {
    let app = prefixed().await;
    let ids = app.create(json!({})).await;
    let uuid = ids.did.trim_start_matches(PREFIX).to_owned();
    let want_uri = format!("drs://dg.TEST:{uuid}");

    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", ids.did))
        .await
        .expect(200);
    assert_eq!(o["id"], ids.did);
    assert_eq!(o["self_uri"], want_uri);

    // every spelling a client may hold resolves to the same object
    for id in [
        format!("dg.TEST:{uuid}"),
        encode(&format!("dg.TEST:{uuid}")),
        encode(&want_uri),
        uuid.clone(),
        encode(&ids.did),
        encode(&format!("drs://{}/{}", app.host(), ids.did)),
    ] {
        let got = app
            .get(&format!("/ga4gh/drs/v1/objects/{id}"))
            .await
            .expect(200);
        assert_eq!(got, o, "object id {id}");
    }
    let r = app
        .get(&format!(
            "/ga4gh/drs/v1/objects/dg.TEST:{}",
            crate::support::MD5
        ))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["status_code"], 404);
    app.stop().await;
}

#[tokio::test]
async fn add_prefix_alias_keeps_dids_bare() {
    let app = TestApp::start_with(|c| {
        c.index.guid_prefix = PREFIX.into();
        c.index.add_prefix_alias = true;
    })
    .await;
    let ids = app.create(json!({})).await;
    assert!(is_uuid(&ids.did), "the did stays bare: {}", ids.did);
    let alias = format!("{PREFIX}{}", ids.did);
    assert_eq!(
        app.get(&format!("/index/index/{}/aliases", ids.did))
            .await
            .expect(200),
        json!({"aliases": [{"value": alias}]})
    );
    // the global resolver resolves the alias
    let doc = app.get(&format!("/index/{alias}")).await.expect(200);
    assert_eq!(doc["did"], ids.did);
    // minted GUIDs are bare too, while the prefix is still reported
    let v = app.get("/index/guid/mint?count=1").await.expect(200);
    assert!(v["guids"][0].as_str().is_some_and(is_uuid), "{v}");
    assert_eq!(
        app.get("/index/guid/prefix").await.expect(200),
        json!({"prefix": PREFIX})
    );
    // blank records get the alias as well
    let v = app
        .post_json("/index/index/blank/", &json!({}))
        .await
        .expect(201);
    let blank = v["did"].as_str().unwrap_or_default().to_owned();
    assert!(is_uuid(&blank));
    let doc = app
        .get(&format!("/index/{PREFIX}{blank}"))
        .await
        .expect(200);
    assert_eq!(doc["did"], Value::String(blank));
    app.stop().await;
}

#[tokio::test]
async fn listing_ids_try_the_other_spelling() {
    let app = prefixed().await;
    let ids = app.create(json!({})).await;
    let uuid = ids.did.trim_start_matches(PREFIX).to_owned();
    // indexd retries ids it cannot find with the prefix added or removed
    assert_eq!(
        app.list_dids(&format!("ids={uuid}")).await,
        vec![ids.did.clone()]
    );
    assert_eq!(
        app.list_dids(&format!("ids={}", ids.did)).await,
        vec![ids.did.clone()]
    );
    let bare = app
        .create(json!({"did": "7c1d1e3b-5a58-4a53-9f57-1d2b5a1b7c11"}))
        .await;
    let mut want = vec![ids.did.clone(), bare.did.clone()];
    want.sort();
    assert_eq!(
        app.list_dids(&format!("ids={uuid},{PREFIX}{}", bare.did))
            .await,
        want
    );
    app.stop().await;
}
