//! Record aliases: list, add, replace, delete one or all, clashes, and the global resolver.

use serde_json::{Value, json};

use crate::support::{Auth, TestApp, mint};

fn aliases(names: &[&str]) -> Value {
    json!({"aliases": names.iter().map(|n| json!({"value": n})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn alias_lifecycle() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let path = format!("/index/index/{}/aliases", ids.did);

    assert_eq!(app.get(&path).await.expect(200), aliases(&[]));

    let v = app
        .post_json(&path, &aliases(&["ark:/1/b", "ark:/1/a"]))
        .await
        .expect(200);
    let mut got: Vec<String> = v["aliases"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["value"].as_str().unwrap_or_default().to_owned())
        .collect();
    got.sort();
    assert_eq!(got, ["ark:/1/a", "ark:/1/b"]);

    // POST adds
    let v = app.post_json(&path, &aliases(&["c"])).await.expect(200);
    assert_eq!(v["aliases"].as_array().map(Vec::len), Some(3), "{v}");
    assert_eq!(app.get(&path).await.expect(200), v);

    // every alias resolves through the global resolver
    let doc = app.doc(&ids.did).await;
    for a in ["ark:/1/a", "ark:/1/b", "c"] {
        let r = app.get(&format!("/index/{a}")).await.expect(200);
        assert_eq!(r, doc, "alias {a}");
    }
    // but not through the record route (indexd's record GET ignores aliases)
    app.get("/index/index/c")
        .await
        .expect_error(404, "no record found");

    // PUT replaces
    let v = app.put_json(&path, &aliases(&["d"])).await.expect(200);
    assert_eq!(v, aliases(&["d"]));
    app.get("/index/c")
        .await
        .expect_error(404, "no record found");
    assert_eq!(app.get("/index/d").await.expect(200)["did"], ids.did);

    // DELETE one
    app.post_json(&path, &aliases(&["e"])).await.expect(200);
    let r = app.delete(&format!("{path}/d")).await;
    assert_eq!(r.expect(200), json!("Aliases deleted successfully"));
    assert_eq!(app.get(&path).await.expect(200), aliases(&["e"]));
    app.get("/index/d")
        .await
        .expect_error(404, "no record found");
    app.delete(&format!("{path}/d"))
        .await
        .expect_error(404, "not found");

    // DELETE all
    app.post_json(&path, &aliases(&["f"])).await.expect(200);
    let r = app.delete(&path).await;
    assert_eq!(r.expect(200), json!("Aliases deleted successfully"));
    assert_eq!(app.get(&path).await.expect(200), aliases(&[]));
    app.get("/index/f")
        .await
        .expect_error(404, "no record found");
    app.stop().await;
}

#[tokio::test]
async fn alias_clashes_are_conflicts_and_change_nothing() {
    let app = TestApp::start().await;
    let a = app.create(json!({})).await;
    let b = app.create(json!({})).await;
    let pa = format!("/index/index/{}/aliases", a.did);
    let pb = format!("/index/index/{}/aliases", b.did);
    app.post_json(&pa, &aliases(&["taken"])).await.expect(200);

    let msg = app
        .post_json(&pb, &aliases(&["fresh", "taken"]))
        .await
        .expect_error(409, "already exists");
    assert!(msg.contains("taken"), "{msg}");
    assert_eq!(
        app.get(&pb).await.expect(200),
        aliases(&[]),
        "all or nothing"
    );
    app.get("/index/fresh")
        .await
        .expect_error(404, "no record found");

    app.post_json(&pb, &aliases(&["mine"])).await.expect(200);
    app.put_json(&pb, &aliases(&["other", "taken"]))
        .await
        .expect_error(409, "already exists");
    assert_eq!(
        app.get(&pb).await.expect(200),
        aliases(&["mine"]),
        "a failed replace keeps the old aliases"
    );
    assert_eq!(app.get("/index/taken").await.expect(200)["did"], a.did);
    app.stop().await;
}

#[tokio::test]
async fn alias_errors() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let path = format!("/index/index/{}/aliases", ids.did);
    let missing = format!("/index/index/{}/aliases", mint(&app).await);
    app.get(&missing).await.expect_error(404, "no record found");
    app.post_json(&missing, &aliases(&["x"]))
        .await
        .expect_error(404, "no record found");
    app.put_json(&missing, &aliases(&["x"]))
        .await
        .expect_error(404, "no record found");
    app.delete(&missing)
        .await
        .expect_error(404, "no record found");
    app.post_json(&path, &json!({"aliases": ["plain-string"]}))
        .await
        .expect_error(400, "invalid request body");
    app.post_json(&path, &json!({"names": []}))
        .await
        .expect_error(400, "names");
    app.post_json(&path, &aliases(&[""]))
        .await
        .expect_error(400, "empty");
    let r = app
        .post_json_auth(&path, &aliases(&["x"]), Auth::None)
        .await;
    assert_eq!(r.status, 401);
    app.post_json(&path, &aliases(&["kept"])).await.expect(200);
    let r = app.delete_auth(&path, Auth::None).await;
    assert_eq!(r.status, 401);
    let r = app
        .delete_auth(&format!("{path}/kept"), Auth::WrongPassword)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.get(&path).await.expect(200), aliases(&["kept"]));
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_record_frees_its_aliases() {
    let app = TestApp::start().await;
    let a = app.create(json!({})).await;
    let b = app.create(json!({})).await;
    app.post_json(
        &format!("/index/index/{}/aliases", a.did),
        &aliases(&["reusable"]),
    )
    .await
    .expect(200);
    app.delete(&format!("/index/index/{}?rev={}", a.did, a.rev))
        .await
        .expect(200);
    app.get("/index/reusable")
        .await
        .expect_error(404, "no record found");
    let v = app
        .post_json(
            &format!("/index/index/{}/aliases", b.did),
            &aliases(&["reusable"]),
        )
        .await
        .expect(200);
    assert_eq!(v, aliases(&["reusable"]));
    assert_eq!(app.get("/index/reusable").await.expect(200)["did"], b.did);
    app.stop().await;
}
