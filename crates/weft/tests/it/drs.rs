//! GA4GH DRS 1.5: service-info, objects (single, bulk, list), authorizations, access.

use reqwest::Method;
use serde_json::json;

use crate::support::{
    Auth, Ids, MD5, MD5_B, SHA256, TestApp, encode, is_drs_time, mint, no_nulls, record, sorted,
};

/// A DRS error body: `{"msg": "...", "status_code": n}`.
#[track_caller]
fn drs_error(r: crate::support::Resp, status: u16) -> String {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(
        r.content_type.starts_with("application/json"),
        "{}",
        r.content_type
    );
    assert_eq!(r.json["status_code"], status, "{}", r.text);
    let msg = r.json["msg"]
        .as_str()
        .unwrap_or_else(|| panic!("no msg in {}", r.text))
        .to_owned();
    assert!(!msg.is_empty());
    msg
}

#[tokio::test]
async fn service_info() {
    let app = TestApp::start().await;
    app.create(json!({"size": 10})).await;
    let v = app.get("/ga4gh/drs/v1/service-info").await.expect(200);
    assert_eq!(
        v,
        json!({
            "id": "1.0.0.127",
            "name": "DRS System",
            "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"},
            "description": v["description"],
            "organization": {"name": "weft", "url": app.url},
            "version": "1.5.0",
        }),
        "exactly the service-info keys; id is the reversed host name"
    );
    assert!(v["description"].as_str().is_some_and(|d| !d.is_empty()));
    app.stop().await;

    let app = TestApp::start_with(|c| {
        c.drs.organization_name = "Example Org".into();
        c.drs.organization_url = Some("https://example.org".into());
    })
    .await;
    let v = app.get("/ga4gh/drs/v1/service-info").await.expect(200);
    assert_eq!(
        v["organization"],
        json!({"name": "Example Org", "url": "https://example.org"})
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_limit_is_configurable() {
    let app = TestApp::start_with(|c| c.drs.max_bulk_request_length = 3).await;
    let ids = app.create(json!({})).await;
    let v = app
        .post_json(
            "/ga4gh/drs/v1/objects",
            &json!({"bulk_object_ids": [ids.did, "b", "c"]}),
        )
        .await
        .expect(200);
    assert_eq!(v["summary"]["requested"], 3);
    let r = app
        .post_json(
            "/ga4gh/drs/v1/objects",
            &json!({"bulk_object_ids": [ids.did, "b", "c", "d"]}),
        )
        .await;
    let msg = drs_error(r, 413);
    assert!(msg.contains('3'), "{msg}");
    app.stop().await;
}

#[tokio::test]
async fn object_fields() {
    let app = TestApp::start().await;
    let ids = app
        .create(json!({
            "urls": ["s3://bucket/a.bam", "https://example.org/a.bam", "gs://g/a.bam"],
            "urls_metadata": {"gs://g/a.bam": {"region": "us-east1"}},
            "hashes": {"md5": MD5, "sha256": SHA256},
            "size": 77, "file_name": "a.bam", "description": "reads",
            "authz": ["/programs/x"],
        }))
        .await;
    let doc = app.doc(&ids.did).await;
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", ids.did))
        .await
        .expect(200);
    assert_eq!(o["id"], ids.did);
    assert_eq!(o["name"], "a.bam");
    assert_eq!(
        o["self_uri"],
        format!("drs://{}/{}", app.host(), ids.did),
        "hostname form without a prefix"
    );
    assert_eq!(o["size"], 77);
    assert_eq!(o["description"], "reads");
    assert_eq!(o["mime_type"], "application/json");
    assert_eq!(o["version"], ids.rev, "rev when there is no version label");
    assert_eq!(o["form"], "object");
    assert_eq!(o["aliases"], json!([]));
    for k in [
        "created_time",
        "updated_time",
        "index_created_time",
        "index_updated_time",
    ] {
        assert!(is_drs_time(&o[k]), "{k} = {}", o[k]);
    }
    let created = doc["created_date"].as_str().unwrap_or_default();
    assert_eq!(
        o["created_time"],
        format!("{created}Z"),
        "falls back to the record's creation time, never null"
    );
    assert_eq!(o["index_created_time"], format!("{created}Z"));
    let mut sums: Vec<(String, String)> = o["checksums"]
        .as_array()
        .expect("checksums")
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default().to_owned(),
                c["checksum"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    sums.sort();
    assert_eq!(
        sums,
        [
            ("md5".to_owned(), MD5.to_owned()),
            ("sha256".to_owned(), SHA256.to_owned())
        ]
    );
    let methods = o["access_methods"].as_array().expect("access_methods");
    assert_eq!(
        methods,
        &vec![
            json!({"type": "s3", "access_id": "s3", "access_url": {"url": "s3://bucket/a.bam"}}),
            json!({"type": "https", "access_id": "https",
                   "access_url": {"url": "https://example.org/a.bam"}}),
            json!({"type": "gs", "access_id": "gs", "access_url": {"url": "gs://g/a.bam"},
                   "region": "us-east1"}),
        ],
        "one per URL, in order, only schema keys"
    );

    // POST form answers the same
    let p = app
        .post_json(&format!("/ga4gh/drs/v1/objects/{}", ids.did), &json!({}))
        .await
        .expect(200);
    assert_eq!(p, o);
    // trailing slash
    let t = app
        .get(&format!("/ga4gh/drs/v1/objects/{}/", ids.did))
        .await
        .expect(200);
    assert_eq!(t, o);
    app.stop().await;
}

#[tokio::test]
async fn object_times_and_versions() {
    let app = TestApp::start().await;
    let ids = app
        .create(json!({
            "content_created_date": "2021-03-04T05:06:07Z",
            "content_updated_date": "2021-03-05T00:00:00.5",
            "version": "v9",
        }))
        .await;
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", ids.did))
        .await
        .expect(200);
    assert_eq!(o["created_time"], "2021-03-04T05:06:07.000000Z");
    assert_eq!(o["updated_time"], "2021-03-05T00:00:00.500000Z");
    assert_eq!(o["version"], "v9");
    assert!(o.get("description").is_none(), "unset strings are left out");
    assert!(no_nulls(&o), "DRS objects hold no nulls: {o}");

    // a blank record is still a valid DRS object: times set, size 0, no checksums
    let v = app
        .post_json("/index/index/blank/", &json!({"file_name": "up.bin"}))
        .await
        .expect(201);
    let blank = Ids::from(&v);
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", blank.did))
        .await
        .expect(200);
    assert!(is_drs_time(&o["created_time"]), "{o}");
    assert!(is_drs_time(&o["updated_time"]), "{o}");
    assert_eq!(o["size"], 0);
    assert_eq!(o["checksums"], json!([]));
    assert_eq!(o["access_methods"], json!([]));
    assert_eq!(o["name"], "up.bin");

    // a baseid resolves to the newest version
    let v = app
        .post_json(&format!("/index/index/{}", ids.did), &record(json!({})))
        .await
        .expect(200);
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", ids.baseid))
        .await
        .expect(200);
    assert_eq!(o["id"], v["did"]);
    app.stop().await;
}

#[tokio::test]
async fn objects_by_drs_uri() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let o = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", ids.did))
        .await
        .expect(200);
    let uri = format!("drs://{}/{}", app.host(), ids.did);
    assert_eq!(o["self_uri"], uri);
    let got = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", encode(&uri)))
        .await
        .expect(200);
    assert_eq!(got, o);
    // a did with a slash, URL-encoded or not
    let slashed = format!("dg.X/{}", mint(&app).await);
    app.create(json!({"did": slashed})).await;
    for id in [slashed.clone(), encode(&slashed)] {
        let got = app
            .get(&format!("/ga4gh/drs/v1/objects/{id}"))
            .await
            .expect(200);
        assert_eq!(got["id"], slashed);
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_objects_are_drs_404s() {
    let app = TestApp::start().await;
    let missing = mint(&app).await;
    for (method, path) in [
        (Method::GET, format!("/ga4gh/drs/v1/objects/{missing}")),
        (Method::POST, format!("/ga4gh/drs/v1/objects/{missing}")),
        (Method::OPTIONS, format!("/ga4gh/drs/v1/objects/{missing}")),
        (
            Method::GET,
            format!("/ga4gh/drs/v1/objects/{missing}/access/s3"),
        ),
    ] {
        let r = app.request(method.clone(), &path, None, Auth::None).await;
        assert_eq!(
            r.json,
            json!({"msg": "no record found", "status_code": 404})
        );
        drs_error(r, 404);
    }
    app.stop().await;
}

#[tokio::test]
async fn bulk_objects() {
    let app = TestApp::start().await;
    let a = app.create(json!({})).await;
    let b = app
        .create(json!({"hashes": {"md5": MD5_B}, "authz": ["/programs/x"]}))
        .await;
    let missing = mint(&app).await;
    let body = json!({"bulk_object_ids": [a.did, missing, b.did, "also-missing"]});
    let v = app
        .post_json_auth("/ga4gh/drs/v1/objects", &body, Auth::None)
        .await
        .expect(200);
    assert_eq!(
        v["summary"],
        json!({"requested": 4, "resolved": 2, "unresolved": 2})
    );
    assert_eq!(
        v["unresolved_drs_objects"],
        json!([{"error_code": 404, "object_ids": [missing, "also-missing"]}])
    );
    let resolved = v["resolved_drs_objects"].as_array().expect("resolved");
    let mut got: Vec<String> = resolved
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, sorted(vec![a.did.clone(), b.did.clone()]));
    let single = app
        .get(&format!("/ga4gh/drs/v1/objects/{}", a.did))
        .await
        .expect(200);
    assert!(
        resolved.contains(&single),
        "resolved entries are full DRS objects"
    );

    // all resolved
    let v = app
        .post_json(
            "/ga4gh/drs/v1/objects/",
            &json!({"bulk_object_ids": [a.did]}),
        )
        .await
        .expect(200);
    assert_eq!(
        v["summary"],
        json!({"requested": 1, "resolved": 1, "unresolved": 0})
    );
    assert_eq!(v["unresolved_drs_objects"], json!([]));

    // OPTIONS: the same envelope around Authorizations objects
    let r = app
        .request(
            Method::OPTIONS,
            "/ga4gh/drs/v1/objects",
            Some(body.to_string().into_bytes()),
            Auth::None,
        )
        .await;
    let v = r.expect(200);
    assert_eq!(
        v["summary"],
        json!({"requested": 4, "resolved": 2, "unresolved": 2})
    );
    let auths = v["resolved_drs_objects"].as_array().expect("resolved");
    let auth_b = auths
        .iter()
        .find(|x| x["drs_object_id"] == b.did)
        .expect("b's authorizations");
    assert_eq!(auth_b["supported_types"], json!(["BearerAuth"]));
    assert_eq!(
        auth_b["bearer_auth_issuers"],
        json!([format!("{}/user", app.url)])
    );
    let auth_a = auths
        .iter()
        .find(|x| x["drs_object_id"] == a.did)
        .expect("a's authorizations");
    assert_eq!(auth_a["supported_types"], json!([]));

    // bad requests
    for bad in [
        json!({}),
        json!({"bulk_object_ids": []}),
        json!({"bulk_object_ids": "x"}),
        json!({"ids": [a.did]}),
        json!([a.did]),
    ] {
        let r = app.post_json("/ga4gh/drs/v1/objects", &bad).await;
        drs_error(r, 400);
    }
    let too_many: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();
    let r = app
        .post_json(
            "/ga4gh/drs/v1/objects",
            &json!({"bulk_object_ids": too_many}),
        )
        .await;
    drs_error(r, 413);
    app.stop().await;
}

#[tokio::test]
async fn object_authorizations() {
    let app = TestApp::start().await;
    let public = app.create(json!({})).await;
    let controlled = app
        .create(json!({"authz": ["/programs/x/projects/y"]}))
        .await;
    let open = app.create(json!({"authz": ["/open/data"]})).await;
    let opts = |did: String| {
        let app = &app;
        async move {
            app.request(
                Method::OPTIONS,
                &format!("/ga4gh/drs/v1/objects/{did}"),
                None,
                Auth::None,
            )
            .await
            .expect(200)
        }
    };
    assert_eq!(
        opts(public.did.clone()).await,
        json!({
            "drs_object_id": public.did,
            "supported_types": [],
            "passport_auth_issuers": [],
            "bearer_auth_issuers": [],
        })
    );
    let issuer = format!("{}/user", app.url);
    assert_eq!(
        opts(controlled.did.clone()).await,
        json!({
            "drs_object_id": controlled.did,
            "supported_types": ["BearerAuth"],
            "passport_auth_issuers": [],
            "bearer_auth_issuers": [issuer],
        })
    );
    let v = opts(open.did.clone()).await;
    assert_eq!(v["supported_types"], json!(["None", "BearerAuth"]));
    app.stop().await;
}

#[tokio::test]
async fn list_objects() {
    let app = TestApp::start().await;
    let mut all = Vec::new();
    for i in 0..5 {
        all.push(app.create(json!({"size": i})).await.did);
    }
    let v = app.get("/ga4gh/drs/v1/objects").await.expect(200);
    let objs = v["drs_objects"].as_array().expect("drs_objects");
    let got: Vec<String> = objs
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(got, sorted(all.clone()));
    assert!(objs.iter().all(|o| o["self_uri"].is_string()
        && o["checksums"].is_array()
        && o["created_time"].is_string()));

    let v = app.get("/ga4gh/drs/v1/objects?limit=2").await.expect(200);
    let first: Vec<String> = v["drs_objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|o| o["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(first, sorted(all.clone())[..2]);
    let v = app
        .get(&format!(
            "/ga4gh/drs/v1/objects/?limit=2&start={}",
            encode(&first[1])
        ))
        .await
        .expect(200);
    assert_eq!(v["drs_objects"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["drs_objects"][0]["id"], sorted(all.clone())[2]);
    let v = app
        .get("/ga4gh/drs/v1/objects?limit=2&page=2")
        .await
        .expect(200);
    assert_eq!(v["drs_objects"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["drs_objects"][0]["id"], all[4], "page orders by update");

    let r = app.get("/ga4gh/drs/v1/objects?limit=5000").await;
    drs_error(r, 400);
    app.stop().await;
}

#[tokio::test]
async fn access_public_and_controlled() {
    let app = TestApp::start().await;
    let public = app
        .create(json!({"urls": ["s3://open/a", "https://example.org/a"]}))
        .await;
    let controlled = app
        .create(json!({"acl": ["phs1"], "authz": ["/programs/x"],
                       "urls": ["https://example.org/closed/b", "s3://closed/b"]}))
        .await;

    // https URLs are handed out as stored (as fence does); s3 needs credentials weft
    // does not have yet
    let v = app
        .get(&format!(
            "/ga4gh/drs/v1/objects/{}/access/https",
            public.did
        ))
        .await
        .expect(200);
    assert_eq!(v, json!({"url": "https://example.org/a"}));
    let msg = drs_error(
        app.get(&format!("/ga4gh/drs/v1/objects/{}/access/s3", public.did))
            .await,
        400,
    );
    assert!(msg.contains("no credentials configured for s3"), "{msg}");
    let v = app
        .post_json_auth(
            &format!("/ga4gh/drs/v1/objects/{}/access/https", public.did),
            &json!({}),
            Auth::None,
        )
        .await
        .expect(200);
    assert_eq!(v, json!({"url": "https://example.org/a"}), "POST form");

    let path = format!("/ga4gh/drs/v1/objects/{}/access/https", controlled.did);
    let r = app.get(&path).await;
    drs_error(r, 401);
    let r = app.get_auth(&path, Auth::Bearer).await;
    drs_error(r, 401);
    // Basic auth is indexd's; data access needs a token the policy engine allows.
    let r = app.get_auth(&path, Auth::WrongPassword).await;
    drs_error(r, 401);
    let r = app.get_auth(&path, Auth::Admin).await;
    drs_error(r, 401);
    let authz = controlled_authz(&app, &controlled.did).await;
    let reader = app.token("reader@x.org");
    let r = app.call(Method::GET, &path, None, Some(&reader)).await;
    drs_error(r, 403);
    app.grant("reader@x.org", "fence", "read-storage", &authz)
        .await;
    let v = app
        .call(Method::GET, &path, None, Some(&reader))
        .await
        .expect(200);
    assert_eq!(v, json!({"url": "https://example.org/closed/b"}));
    let s3 = format!("/ga4gh/drs/v1/objects/{}/access/s3", controlled.did);
    let msg = drs_error(app.call(Method::GET, &s3, None, Some(&reader)).await, 400);
    assert!(msg.contains("no credentials configured for s3"), "{msg}");
    let r = app
        .call(
            Method::GET,
            &format!("{path}?expires_in=soon"),
            None,
            Some(&reader),
        )
        .await;
    drs_error(r, 400);

    // unknown access id, missing access id
    let msg = drs_error(
        app.get(&format!("/ga4gh/drs/v1/objects/{}/access/gs", public.did))
            .await,
        404,
    );
    assert!(msg.contains("gs"), "{msg}");
    let msg = drs_error(
        app.get(&format!("/ga4gh/drs/v1/objects/{}/access/", public.did))
            .await,
        400,
    );
    assert!(msg.contains("access_id"), "{msg}");
    drs_error(
        app.get(&format!("/ga4gh/drs/v1/objects/{}/access", public.did))
            .await,
        400,
    );
    app.stop().await;
}

#[tokio::test]
async fn drs_errors_use_the_drs_body_even_before_the_handler() {
    let app = TestApp::start_with(|c| c.max_body_bytes = 256).await;
    let big = json!({"bulk_object_ids": vec!["x".repeat(40); 20]});
    let r = app.post_json("/ga4gh/drs/v1/objects", &big).await;
    drs_error(r, 413);
    let r = app
        .send_raw(Method::POST, "/ga4gh/drs/v1/objects", b"{not json")
        .await;
    drs_error(r, 400);
    let r = app.get("/ga4gh/drs/v1/objects?limit=%zz").await;
    drs_error(r, 400);
    app.stop().await;
}

/// The first `authz` path of a record.
async fn controlled_authz(app: &TestApp, did: &str) -> String {
    let doc = app.doc(did).await;
    doc["authz"][0]
        .as_str()
        .expect("the controlled record has an authz path")
        .to_owned()
}
