//! indexd bundles: `POST/GET/DELETE /index/bundle/`, bundle ids on the record routes and the
//! global resolver, `form=bundle|all` listings, and bundles as DRS objects.

use md5::{Digest, Md5};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    Auth, MD5, MD5_B, SHA256, TestApp, encode, is_drs_time, is_indexd_date, is_uuid, mint, no_nulls,
};

/// indexd's default bundle checksum, computed here independently.
fn md5_of_sorted(mut firsts: Vec<&str>) -> String {
    firsts.sort_unstable();
    Md5::digest(firsts.concat().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("an object").keys().cloned().collect();
    k.sort();
    k
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| {
            e["id"]
                .as_str()
                .or(e["did"].as_str())
                .expect("id")
                .to_owned()
        })
        .collect()
}

/// Two records (sizes 10 and 20, md5 `MD5` and `MD5_B`); their dids.
async fn two_records(app: &TestApp) -> (String, String) {
    let a = app
        .create(json!({"size": 10, "file_name": "a.txt"}))
        .await
        .did;
    let b = app
        .create(
            json!({"size": 20, "file_name": "b.txt", "hashes": {"md5": MD5_B, "sha256": SHA256}}),
        )
        .await
        .did;
    (a, b)
}

/// Create a bundle of `members` (admin); its id.
async fn bundle(app: &TestApp, members: &[&str], extra: Value) -> String {
    let mut body = json!({"bundles": members});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let v = app.post_json("/index/bundle/", &body).await.expect(200);
    v["bundle_id"].as_str().expect("bundle_id").to_owned()
}

#[tokio::test]
async fn create_with_defaults_and_get() {
    let app = TestApp::start().await;
    let (a, b) = two_records(&app).await;
    let v = app
        .post_json("/index/bundle/", &json!({"bundles": [a, b]}))
        .await
        .expect(200);
    assert_eq!(keys(&v), ["bundle_id", "contents", "name"]);
    let id = v["bundle_id"].as_str().expect("bundle_id").to_owned();
    assert!(is_uuid(&id), "minted like a did: {id}");
    assert_eq!(v["name"], id, "the name defaults to the id");
    // as indexd, `contents` is the JSON text of the members
    let contents: Value =
        serde_json::from_str(v["contents"].as_str().expect("JSON text")).expect("JSON");
    assert_eq!(ids_of(&contents), [a.clone(), b.clone()]);
    assert_eq!(contents[0]["name"], "a.txt");
    assert_eq!(contents[0]["contents"], json!([]));

    let doc = app.get(&format!("/index/bundle/{id}")).await.expect(200);
    assert_eq!(
        keys(&doc),
        [
            "aliases",
            "checksums",
            "contents",
            "created_time",
            "description",
            "drs_uri",
            "id",
            "name",
            "size",
            "updated_time",
            "version"
        ]
    );
    assert_eq!(doc["id"], id);
    assert_eq!(doc["size"], 30, "the sum of the members' sizes");
    assert_eq!(
        doc["checksums"],
        json!([{"checksum": md5_of_sorted(vec![MD5, MD5_B]), "type": "md5"}]),
        "md5 of the members' first checksums, sorted and concatenated"
    );
    assert_eq!(doc["drs_uri"], format!("drs://{}/{id}", app.host()));
    assert!(is_drs_time(&doc["created_time"]), "{doc}");
    assert!(is_drs_time(&doc["updated_time"]), "{doc}");
    assert_eq!(
        (&doc["description"], &doc["version"], &doc["aliases"]),
        (&json!(""), &json!(""), &json!([]))
    );
    assert!(no_nulls(&doc), "{doc}");
    assert_eq!(
        doc["contents"],
        json!([
            {"id": a, "name": "a.txt", "drs_uri": format!("drs://{}/{a}", app.host())},
            {"id": b, "name": "b.txt", "drs_uri": format!("drs://{}/{b}", app.host())},
        ]),
        "members in order; their own contents only when expanded"
    );
    let expanded = app
        .get(&format!("/index/bundle/{id}?expand=true"))
        .await
        .expect(200);
    assert_eq!(expanded["contents"][0]["contents"], json!([]));
    assert_eq!(expanded["contents"][1]["contents"], json!([]));
    // trailing slash
    assert_eq!(
        app.get(&format!("/index/bundle/{id}/")).await.expect(200),
        doc
    );
    app.stop().await;
}

#[tokio::test]
async fn create_with_every_field() {
    let app = TestApp::start().await;
    let (a, b) = two_records(&app).await;
    let id = format!("dg.ANY/{}", mint(&app).await);
    let sha1 = "85136c79cbf9fe36bb9d05d0639c70c265c18d37";
    let v = app
        .post_json(
            "/index/bundle/",
            &json!({
                "bundle_id": id, "name": "my bundle", "bundles": [b, a], "size": 12345,
                "checksums": [{"type": "sha1", "checksum": sha1}, {"type": "md5", "checksum": MD5}],
                "description": "cool", "version": "v13", "aliases": ["123", "456"],
            }),
        )
        .await
        .expect(200);
    assert_eq!(v["bundle_id"], id);
    assert_eq!(v["name"], "my bundle");
    let doc = app
        .get(&format!("/index/bundle/{}", encode(&id)))
        .await
        .expect(200);
    assert_eq!(doc["size"], 12345);
    assert_eq!(
        doc["checksums"],
        json!([{"checksum": sha1, "type": "sha1"}, {"checksum": MD5, "type": "md5"}])
    );
    assert_eq!(
        (&doc["description"], &doc["version"], &doc["aliases"]),
        (&json!("cool"), &json!("v13"), &json!(["123", "456"]))
    );
    assert_eq!(ids_of(&doc["contents"]), [b.clone(), a.clone()]);
    // members named by baseid resolve to the record they name
    let ids = app.create(json!({"size": 1})).await;
    let by_base = bundle(&app, &[&ids.baseid], json!({})).await;
    let doc = app
        .get(&format!("/index/bundle/{by_base}"))
        .await
        .expect(200);
    assert_eq!(ids_of(&doc["contents"]), vec![ids.did.clone()]);
    assert_eq!(doc["size"], 1);
    app.stop().await;
}

#[tokio::test]
async fn nested_bundles() {
    let app = TestApp::start().await;
    let (a, b) = two_records(&app).await;
    let inner = bundle(&app, &[&a], json!({"name": "inner"})).await;
    let outer = bundle(&app, &[&inner, &b], json!({"name": "outer"})).await;

    let inner_doc = app.get(&format!("/index/bundle/{inner}")).await.expect(200);
    let inner_sum = inner_doc["checksums"][0]["checksum"]
        .as_str()
        .expect("checksum")
        .to_owned();
    assert_eq!(inner_sum, md5_of_sorted(vec![MD5]));

    let doc = app.get(&format!("/index/bundle/{outer}")).await.expect(200);
    assert_eq!(doc["size"], 30);
    assert_eq!(
        doc["checksums"][0]["checksum"],
        md5_of_sorted(vec![&inner_sum, MD5_B]),
        "a nested bundle contributes its own first checksum"
    );
    assert_eq!(ids_of(&doc["contents"]), [inner.clone(), b.clone()]);
    assert_eq!(doc["contents"][0]["name"], "inner");
    assert!(doc["contents"][0].get("contents").is_none());

    let deep = app
        .get(&format!("/index/bundle/{outer}?expand=true"))
        .await
        .expect(200);
    assert_eq!(
        deep["contents"][0]["contents"],
        json!([{"id": a, "name": "a.txt", "drs_uri": format!("drs://{}/{a}", app.host()), "contents": []}])
    );
    assert_eq!(deep["contents"][1]["contents"], json!([]));
    // only true expands, as in indexd
    let flat = app
        .get(&format!("/index/bundle/{outer}?expand=false"))
        .await
        .expect(200);
    assert_eq!(flat, doc);

    // the record routes and the global resolver answer bundle ids with indexd's document
    let index_doc = app.get(&format!("/index/index/{outer}")).await.expect(200);
    assert_eq!(
        keys(&index_doc),
        [
            "aliases",
            "bundle_data",
            "checksum",
            "created_time",
            "description",
            "form",
            "id",
            "name",
            "size",
            "updated_time",
            "version"
        ]
    );
    assert_eq!(index_doc["form"], "bundle");
    assert!(is_indexd_date(
        index_doc["created_time"].as_str().expect("time")
    ));
    let checksum: Value =
        serde_json::from_str(index_doc["checksum"].as_str().expect("JSON text")).expect("JSON");
    assert_eq!(
        checksum,
        json!([{"type": "md5", "checksum": md5_of_sorted(vec![&inner_sum, MD5_B])}])
    );
    assert_eq!(index_doc["aliases"], "[]");
    assert_eq!(
        index_doc["bundle_data"], deep["contents"],
        "bundle_data holds every member, fully expanded"
    );
    assert_eq!(
        app.get(&format!("/index/{outer}")).await.expect(200),
        index_doc
    );
    // and /bundle/ answers record ids in the bundle shape, as indexd does
    let rec = app.get(&format!("/index/bundle/{a}")).await.expect(200);
    assert_eq!(rec["id"], a);
    assert_eq!(rec["contents"], json!([]));
    assert_eq!(rec["checksums"], json!([{"checksum": MD5, "type": "md5"}]));
    assert_eq!(rec["size"], 10);
    app.stop().await;
}

#[tokio::test]
async fn create_errors() {
    let app = TestApp::start().await;
    let (a, b) = two_records(&app).await;
    let post = |body: Value| {
        let app = &app;
        async move { app.post_json("/index/bundle/", &body).await }
    };
    post(json!({"bundles": []}))
        .await
        .expect_error(400, "Bundle data required.");
    post(json!({"bundles": [a, b, a]}))
        .await
        .expect_error(400, "Duplicate GUID in bundles.");
    let own = mint(&app).await;
    post(json!({"bundles": [a, own], "bundle_id": own}))
        .await
        .expect_error(400, "Bundle refers to itself.");
    post(json!({})).await.expect_error(400, "bundles");
    post(json!({"bundles": [a], "colour": "red"}))
        .await
        .expect_error(400, "colour");
    post(json!({"bundles": [a], "size": -1}))
        .await
        .expect_error(400, "size");
    post(json!({"bundles": [a], "checksums": [{"type": "md42", "checksum": "a"}]}))
        .await
        .expect_error(400, "invalid hash types");
    post(json!({"bundles": [a], "checksums": [{"type": "md5", "checksum": "a"}]}))
        .await
        .expect_error(400, "invalid hash values");
    let r = app
        .send_raw(Method::POST, "/index/bundle/", b"{not json")
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let missing = mint(&app).await;
    post(json!({"bundles": [a, missing]}))
        .await
        .expect_error(404, "no record found");
    // authorization comes first, as in indexd
    app.post_json_auth("/index/bundle/", &json!({"bundles": [a]}), Auth::None)
        .await
        .expect_error(401, "Permission denied");
    app.post_json_auth("/index/bundle/", &json!({}), Auth::None)
        .await
        .expect_error(401, "Permission denied");
    app.post_json_auth(
        "/index/bundle/",
        &json!({"bundles": [a]}),
        Auth::WrongPassword,
    )
    .await
    .expect_error(403, "mismatch");
    // ids are unique among bundles and records
    let id = bundle(&app, &[&a], json!({})).await;
    post(json!({"bundles": [b], "bundle_id": id}))
        .await
        .expect_error(409, "already exists");
    post(json!({"bundles": [b], "bundle_id": a}))
        .await
        .expect_error(409, "already exists");
    // a blank record has no size or checksum to default from
    let v = app
        .post_json("/index/index/blank/", &json!({}))
        .await
        .expect(201);
    let blank = v["did"].as_str().expect("did").to_owned();
    post(json!({"bundles": [blank]}))
        .await
        .expect_error(400, "no size");
    post(json!({"bundles": [blank], "size": 5}))
        .await
        .expect_error(400, "no checksum");
    bundle(
        &app,
        &[&blank],
        json!({"size": 5, "checksums": [{"type": "md5", "checksum": MD5}]}),
    )
    .await;
    // nothing of the failed attempts was stored
    let v = app.get("/index/bundle/").await.expect(200);
    assert_eq!(v["records"].as_array().map(Vec::len), Some(2));
    app.get(&format!("/index/bundle/{missing}"))
        .await
        .expect_error(404, "no record found");
    app.stop().await;
}

#[tokio::test]
async fn delete() {
    let app = TestApp::start().await;
    let (a, _) = two_records(&app).await;
    let id = bundle(&app, &[&a], json!({})).await;
    let path = format!("/index/bundle/{id}");
    app.delete_auth(&path, Auth::None)
        .await
        .expect_error(401, "Permission denied");
    let r = app.delete(&path).await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    app.get(&path).await.expect_error(404, "no record found");
    app.delete(&path).await.expect_error(404, "No bundle found");
    // records are not deleted through /bundle/
    app.delete(&format!("/index/bundle/{a}"))
        .await
        .expect_error(404, "No bundle found");
    app.get(&format!("/index/index/{a}")).await.expect(200);
    let r = app.delete("/index/bundle/").await;
    assert_eq!(r.status, 405, "{}", r.text);
    app.stop().await;
}

#[tokio::test]
async fn listings() {
    let app = TestApp::start().await;
    let (a, b) = two_records(&app).await;
    let b1 = bundle(&app, &[&a], json!({})).await;
    let b2 = bundle(&app, &[&b, &b1], json!({})).await;
    let mut records = vec![a.clone(), b.clone()];
    records.sort();
    let mut bundles = vec![b1.clone(), b2.clone()];
    bundles.sort();
    let mut all = [records.clone(), bundles.clone()].concat();
    all.sort();

    // GET /bundle/ lists bundles unless form says otherwise
    let v = app.get("/index/bundle/").await.expect(200);
    assert_eq!(ids_of(&v["records"]), bundles);
    let first = &v["records"][0];
    assert_eq!(first["form"], "bundle");
    assert!(first.get("bundle_data").is_none(), "{first}");
    assert!(first["checksum"].is_string() && first["aliases"].is_string());
    let v = app.get("/index/bundle/?form=object").await.expect(200);
    assert_eq!(ids_of(&v["records"]), records);
    let v = app.get("/index/bundle?form=all").await.expect(200);
    assert_eq!(ids_of(&v["records"]), all);

    // GET /index/ with form
    let v = app.get("/index/index/?form=bundle").await.expect(200);
    assert_eq!(ids_of(&v["records"]), bundles);
    let v = app.get("/index/index/?form=all").await.expect(200);
    assert_eq!(ids_of(&v["records"]), all, "merged in id order");
    let v = app.get("/index/index/").await.expect(200);
    assert_eq!(ids_of(&v["records"]), records, "records only by default");

    // keyset paging runs across both kinds
    let mut seen = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let path = match &start {
            None => "/index/index/?form=all&limit=3".to_owned(),
            Some(s) => format!("/index/index/?form=all&limit=3&start={}", encode(s)),
        };
        let page = ids_of(&app.get(&path).await.expect(200)["records"]);
        seen.extend(page.clone());
        if page.len() < 3 {
            break;
        }
        start = page.last().cloned();
    }
    assert_eq!(seen, all);
    // page numbers order by update time: records first here, then the bundles
    let v = app
        .get("/index/index/?form=all&limit=3&page=1")
        .await
        .expect(200);
    assert_eq!(ids_of(&v["records"]), vec![b2.clone()]);
    let v = app.get("/index/bundle/?limit=1&page=1").await.expect(200);
    assert_eq!(ids_of(&v["records"]), vec![b2.clone()]);
    // ids select among bundles too
    let v = app
        .get(&format!("/index/index/?form=all&ids={b1},{a}"))
        .await
        .expect(200);
    let mut want = vec![a.clone(), b1.clone()];
    want.sort();
    assert_eq!(ids_of(&v["records"]), want);
    app.stop().await;
}

#[tokio::test]
async fn drs_bundle_objects() {
    let app = TestApp::start().await;
    let (a, b) = two_records(&app).await;
    let inner = bundle(&app, &[&a], json!({"name": "inner"})).await;
    let outer = bundle(
        &app,
        &[&inner, &b],
        json!({"name": "outer", "version": "v2", "aliases": ["al"]}),
    )
    .await;
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{outer}"))
        .await
        .expect(200);
    assert_eq!(o["id"], outer);
    assert_eq!(o["name"], "outer");
    assert_eq!(o["form"], "bundle");
    assert_eq!(o["size"], 30);
    assert_eq!(o["version"], "v2");
    assert_eq!(o["aliases"], json!(["al"]));
    assert_eq!(o["self_uri"], format!("drs://{}/{outer}", app.host()));
    assert!(o.get("access_methods").is_none(), "{o}");
    assert!(
        is_drs_time(&o["created_time"]) && is_drs_time(&o["updated_time"]),
        "{o}"
    );
    assert!(no_nulls(&o), "{o}");
    assert_eq!(
        o["contents"],
        json!([
            {"name": "inner", "id": inner, "drs_uri": [format!("drs://{}/{inner}", app.host())]},
            {"name": "b.txt", "id": b, "drs_uri": [format!("drs://{}/{b}", app.host())]},
        ])
    );
    let deep = app
        .get(&format!("/ga4gh/drs/v1/objects/{outer}?expand=true"))
        .await
        .expect(200);
    assert_eq!(ids_of(&deep["contents"][0]["contents"]), vec![a.clone()]);
    assert_eq!(deep["contents"][1]["contents"], json!([]));

    // authorizations of a bundle: none to present; no bytes to access
    let auth = app
        .request(
            Method::OPTIONS,
            &format!("/ga4gh/drs/v1/objects/{outer}"),
            None,
            Auth::None,
        )
        .await
        .expect(200);
    assert_eq!(auth["supported_types"], json!([]));
    let r = app
        .get(&format!("/ga4gh/drs/v1/objects/{outer}/access/s3"))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["status_code"], 404);

    // listed with the records by default, as indexd does
    let v = app.get("/ga4gh/drs/v1/objects").await.expect(200);
    let mut all = vec![a.clone(), b.clone(), inner.clone(), outer.clone()];
    all.sort();
    assert_eq!(ids_of(&v["drs_objects"]), all);
    let listed = v["drs_objects"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["id"] == outer)
        .expect("the bundle is listed");
    assert_eq!(listed["contents"], o["contents"]);
    let v = app
        .get("/ga4gh/drs/v1/objects?form=bundle")
        .await
        .expect(200);
    let mut bundles = vec![inner.clone(), outer.clone()];
    bundles.sort();
    assert_eq!(ids_of(&v["drs_objects"]), bundles);
    let v = app
        .get("/ga4gh/drs/v1/objects?form=object")
        .await
        .expect(200);
    let mut records = vec![a.clone(), b.clone()];
    records.sort();
    assert_eq!(ids_of(&v["drs_objects"]), records);
    app.stop().await;
}

#[tokio::test]
async fn prefixed_bundle_ids() {
    const PREFIX: &str = "dg.TEST/";
    let app = TestApp::start_with(|c| c.index.guid_prefix = PREFIX.into()).await;
    let a = app.create(json!({})).await.did;
    let id = bundle(&app, &[&a], json!({})).await;
    let uuid = id
        .strip_prefix(PREFIX)
        .unwrap_or_else(|| panic!("{id} is prefixed"));
    // found in the other spelling too, as records are
    let doc = app.get(&format!("/index/bundle/{uuid}")).await.expect(200);
    assert_eq!(doc["id"], id);
    assert_eq!(doc["drs_uri"], format!("drs://dg.TEST:{uuid}"));
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", encode(&id)))
        .await
        .expect(200);
    assert_eq!(o["self_uri"], format!("drs://dg.TEST:{uuid}"));
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/dg.TEST:{uuid}"))
        .await
        .expect(200);
    assert_eq!(o["id"], id);
    // members named in the other spelling are stored as the record's did
    let a_uuid = a.strip_prefix(PREFIX).expect("prefixed did");
    let other = bundle(&app, &[a_uuid], json!({})).await;
    let doc = app.get(&format!("/index/bundle/{other}")).await.expect(200);
    assert_eq!(ids_of(&doc["contents"]), vec![a.clone()]);
    app.stop().await;
}

#[tokio::test]
async fn deleted_members_leave_contents() {
    let app = TestApp::start().await;
    let (a, b) = two_records(&app).await;
    let id = bundle(&app, &[&a, &b], json!({})).await;
    let doc = app.doc(&a).await;
    let rev = doc["rev"].as_str().expect("rev");
    app.delete(&format!("/index/index/{a}?rev={rev}"))
        .await
        .expect(200);
    let doc = app.get(&format!("/index/bundle/{id}")).await.expect(200);
    assert_eq!(ids_of(&doc["contents"]), vec![b.clone()]);
    assert_eq!(doc["size"], 30, "size and checksum are the bundle's own");
    app.stop().await;
}
