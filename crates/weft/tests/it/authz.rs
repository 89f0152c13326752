//! The arborist API under `/authz/`, and the policy engine's enforcement on the index.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{ROOT, TestApp, auth_request, record};

/// An arborist error: `{"error": {"message", "code"}}` with this status, its message
/// containing `needle`.
fn arborist_error(r: &crate::support::Resp, status: u16, needle: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["error"]["code"], status, "{}", r.text);
    let message = r.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {}", r.text);
}

/// A small policy set: `/programs/P/projects/A` and `/B`, a reader role, a policy on A.
async fn seed(app: &TestApp) {
    app.root(
        Method::POST,
        "/authz/resource",
        Some(json!({"name": "programs", "subresources": [
            {"name": "P", "subresources": [
                {"name": "projects", "subresources": [{"name": "A"}, {"name": "B"}]}]}]})),
    )
    .await
    .expect(201);
    app.root(
        Method::POST,
        "/authz/role",
        Some(json!({"id": "reader", "permissions": [
            {"id": "read", "action": {"service": "*", "method": "read"}},
            {"id": "read-storage", "action": {"service": "*", "method": "read-storage"}}]})),
    )
    .await
    .expect(201);
    app.root(
        Method::POST,
        "/authz/policy",
        Some(json!({"id": "A-reader", "role_ids": ["reader"],
                    "resource_paths": ["/programs/P/projects/A"]})),
    )
    .await
    .expect(201);
}

/// `auth/request` as gen3authz sends it: the token in the body, none for anonymous.
async fn decide(app: &TestApp, token: Option<&str>, resource: &str, method: &str) -> bool {
    let mut body = json!({"requests": [{"resource": resource, "action": {"service": "indexd", "method": method}}]});
    if let Some(t) = token {
        body["user"] = json!({"token": t});
    }
    let r = app
        .call(Method::POST, "/authz/auth/request", Some(body), None)
        .await
        .expect(200);
    r["auth"].as_bool().expect("auth is a boolean")
}

#[tokio::test]
async fn resources_nest_and_answer_as_arborist() {
    let app = TestApp::start().await;
    seed(&app).await;
    let r = app
        .root(Method::GET, "/authz/resource/programs/P", None)
        .await
        .expect(200);
    assert_eq!(r["path"], "/programs/P");
    assert_eq!(r["name"], "P");
    assert_eq!(r["subresources"], json!(["/programs/P/projects"]));
    let tag = r["tag"].as_str().expect("tag").to_owned();
    let by_tag = app
        .root(Method::GET, &format!("/authz/resource/tag/{tag}"), None)
        .await
        .expect(200);
    assert_eq!(by_tag["path"], "/programs/P");

    // Duplicate: 409 with the existing resource beside the error.
    let dup = app
        .root(
            Method::POST,
            "/authz/resource/programs/P/projects",
            Some(json!({"name": "A"})),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    assert_eq!(dup.json["error"]["code"], 409);
    assert_eq!(dup.json["exists"]["path"], "/programs/P/projects/A");

    // Missing parent without ?p is an error; with ?p the parents appear.
    let r = app
        .root(
            Method::POST,
            "/authz/resource/x/y",
            Some(json!({"name": "z"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("parent")
    );
    app.root(
        Method::POST,
        "/authz/resource/x/y?p",
        Some(json!({"name": "z"})),
    )
    .await
    .expect(201);
    app.root(Method::GET, "/authz/resource/x/y", None)
        .await
        .expect(200);

    // Trailing slashes are ignored; deleting takes the subtree.
    app.root(Method::DELETE, "/authz/resource/x/", None)
        .await
        .expect(204);
    let r = app.root(Method::GET, "/authz/resource/x/y/z", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json["error"]["code"], 404);
    let all = app
        .root(Method::GET, "/authz/resource/", None)
        .await
        .expect(200);
    let paths: Vec<&str> = all["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/programs/P/projects/B"));
    assert!(!paths.iter().any(|p| p.starts_with("/x")));
    app.stop().await;
}

#[tokio::test]
async fn roles_and_policies_validate_and_round_trip() {
    let app = TestApp::start().await;
    seed(&app).await;
    let roles = app.root(Method::GET, "/authz/role", None).await.expect(200);
    assert_eq!(roles["roles"][0]["id"], "reader");
    assert_eq!(
        roles["roles"][0]["permissions"][0]["action"]["service"],
        "*"
    );

    // A policy naming a missing role or resource: 400, nothing stored.
    let r = app
        .root(
            Method::POST,
            "/authz/policy",
            Some(json!({"id": "bad", "role_ids": ["nope"],
            "resource_paths": ["/programs/P"]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .root(
            Method::POST,
            "/authz/policy",
            Some(json!({"id": "bad", "role_ids": ["reader"],
            "resource_paths": ["/nowhere"]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        app.root(Method::GET, "/authz/policy/bad", None)
            .await
            .status,
        404
    );
    // Unknown fields are rejected, as arborist does.
    let r = app
        .root(
            Method::POST,
            "/authz/role",
            Some(json!({"id": "r2", "permissions": [], "colour": 1})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // No permissions.
    let r = app
        .root(
            Method::POST,
            "/authz/role",
            Some(json!({"id": "r2", "permissions": []})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Malformed JSON.
    let r = app
        .client
        .post(format!("{}/authz/role", app.url))
        .bearer_auth(app.token(ROOT))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON"));

    let expanded = app
        .root(Method::GET, "/authz/policy?expand", None)
        .await
        .expect(200);
    assert_eq!(expanded["policies"][0]["roles"][0]["id"], "reader");
    let p = app
        .root(Method::GET, "/authz/policy/A-reader", None)
        .await
        .expect(200);
    assert_eq!(p["resource_paths"], json!(["/programs/P/projects/A"]));

    // PUT updates; the id in the URL wins.
    let r = app
        .root(Method::PUT, "/authz/policy/A-reader", Some(json!({"role_ids": ["reader"],
            "resource_paths": ["/programs/P/projects/A", "/programs/P/projects/B"], "description": "d"})))
        .await
        .expect(201);
    assert_eq!(r["updated"]["id"], "A-reader");
    let r = app
        .root(
            Method::PUT,
            "/authz/policy/ghost",
            Some(json!({"role_ids": ["reader"],
            "resource_paths": ["/programs/P"]})),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Bulk upsert creates and updates.
    let r = app
        .root(Method::PUT, "/authz/bulk/policy", Some(json!([
            {"id": "P-reader", "role_ids": ["reader"], "resource_paths": ["/programs/P"]},
            {"id": "A-reader", "role_ids": ["reader"], "resource_paths": ["/programs/P/projects/A"]}])))
        .await
        .expect(201);
    assert_eq!(r["updated"].as_array().unwrap().len(), 2);

    // Deleting a role takes it out of policies.
    app.root(Method::DELETE, "/authz/role/reader", None)
        .await
        .expect(204);
    let p = app
        .root(Method::GET, "/authz/policy/A-reader", None)
        .await
        .expect(200);
    assert_eq!(p["role_ids"], json!([]));
    app.root(Method::DELETE, "/authz/policy/A-reader", None)
        .await
        .expect(204);
    assert_eq!(
        app.root(Method::DELETE, "/authz/policy/A-reader", None)
            .await
            .status,
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn decisions_follow_grants_groups_and_expiry() {
    let app = TestApp::start().await;
    seed(&app).await;
    let alice = app.token("Alice@x.org");
    app.root(
        Method::POST,
        "/authz/user",
        Some(json!({"name": "alice@x.org", "email": "a@x.org"})),
    )
    .await
    .expect(201);
    assert!(!decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);

    app.root(
        Method::POST,
        "/authz/user/alice@x.org/policy",
        Some(json!({"policy": "A-reader"})),
    )
    .await
    .expect(204);
    // Names match case-insensitively; children are covered; siblings are not.
    assert!(decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);
    assert!(
        decide(
            &app,
            Some(&alice),
            "/programs/P/projects/A/files/f1",
            "read"
        )
        .await
    );
    assert!(!decide(&app, Some(&alice), "/programs/P/projects/B", "read").await);
    assert!(!decide(&app, Some(&alice), "/programs/P/projects/A", "write").await);
    // Several requests: all must pass.
    let both = json!({"user": {"token": alice}, "requests": [
        {"resource": "/programs/P/projects/A", "action": {"service": "x", "method": "read"}},
        {"resource": "/programs/P/projects/B", "action": {"service": "x", "method": "read"}}]});
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(both),
            Some(&alice),
        )
        .await
        .expect(200);
    assert_eq!(r, json!({"auth": false}));
    // Token in the body instead of the header.
    let body = json!({"user": {"token": alice}, "request":
        {"resource": "/programs/P/projects/A", "action": {"service": "x", "method": "read-storage"}}});
    let r = app
        .call(Method::POST, "/authz/auth/request", Some(body), None)
        .await
        .expect(200);
    assert_eq!(r, json!({"auth": true}));
    // Constraints: empty ones are what arborist's own clients send; others are refused
    // rather than ignored.
    let with = |c: Value| {
        json!({"user": {"token": alice}, "requests": [{"resource": "/programs/P/projects/A",
            "action": {"service": "x", "method": "read"}, "constraints": c}]})
    };
    for empty in [json!({}), Value::Null] {
        let r = app
            .call(Method::POST, "/authz/auth/request", Some(with(empty)), None)
            .await
            .expect(200);
        assert_eq!(r, json!({"auth": true}));
    }
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(with(json!({"site": "x"}))),
            None,
        )
        .await;
    arborist_error(&r, 400, "`constraints` are not supported");
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(with(json!(["site"]))),
            None,
        )
        .await;
    arborist_error(&r, 400, "`constraints` must be an object");
    // Tags name resources too.
    let tag = app
        .root(Method::GET, "/authz/resource/programs/P/projects/A", None)
        .await
        .expect(200)["tag"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(decide(&app, Some(&alice), &tag, "read").await);

    // Mapping for the caller and by name.
    let m = app
        .call(Method::GET, "/authz/auth/mapping", None, Some(&alice))
        .await
        .expect(200);
    assert_eq!(
        m["/programs/P/projects/A"],
        json!([{"service": "*", "method": "read"}, {"service": "*", "method": "read-storage"}])
    );
    assert!(m.get("/programs/P/projects/B").is_none());
    let m2 = app
        .root(
            Method::POST,
            "/authz/auth/mapping",
            Some(json!({"username": "ALICE@x.org"})),
        )
        .await
        .expect(200);
    assert_eq!(m, m2);
    // Someone else's mapping is administration.
    let bob = app.token("bob@x.org");
    let r = app
        .call(
            Method::POST,
            "/authz/auth/mapping",
            Some(json!({"username": "alice@x.org"})),
            Some(&bob),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let res = app
        .call(Method::GET, "/authz/auth/resources", None, Some(&alice))
        .await
        .expect(200);
    assert_eq!(res["resources"], json!(["/programs/P/projects/A"]));

    // Revoke, then an expired grant, then group membership.
    app.root(
        Method::DELETE,
        "/authz/user/alice@x.org/policy/A-reader",
        None,
    )
    .await
    .expect(204);
    assert!(!decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);
    app.root(
        Method::POST,
        "/authz/user/alice@x.org/policy",
        Some(json!({"policy": "A-reader", "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await
    .expect(204);
    assert!(!decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);
    let u = app
        .root(Method::GET, "/authz/user/alice@x.org", None)
        .await
        .expect(200);
    assert_eq!(
        u["policies"],
        json!([{"policy": "A-reader", "expires_at": "2001-01-01T00:00:00Z"}])
    );
    let r = app
        .root(
            Method::POST,
            "/authz/user/alice@x.org/policy",
            Some(json!({"policy": "A-reader", "expires_at": "next tuesday"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    app.root(
        Method::POST,
        "/authz/user/alice@x.org/policy",
        Some(json!({"policy": "A-reader", "expires_at": "2999-01-01T00:00:00Z"})),
    )
    .await
    .expect(204);
    assert!(decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);
    app.root(Method::DELETE, "/authz/user/alice@x.org/policy", None)
        .await
        .expect(204);
    assert!(!decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);

    app.root(
        Method::POST,
        "/authz/group",
        Some(json!({"name": "readers", "users": [], "policies": ["A-reader"]})),
    )
    .await
    .expect(201);
    app.root(
        Method::POST,
        "/authz/group/readers/user",
        Some(json!({"username": "alice@x.org"})),
    )
    .await
    .expect(204);
    assert!(decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);
    let g = app
        .root(Method::GET, "/authz/group/readers", None)
        .await
        .expect(200);
    assert_eq!(
        g,
        json!({"name": "readers", "users": ["alice@x.org"], "policies": ["A-reader"]})
    );
    let u = app
        .root(Method::GET, "/authz/user/alice@x.org", None)
        .await
        .expect(200);
    assert_eq!(u["groups"], json!(["readers"]));
    app.root(
        Method::DELETE,
        "/authz/group/readers/user/alice@x.org",
        None,
    )
    .await
    .expect(204);
    assert!(!decide(&app, Some(&alice), "/programs/P/projects/A", "read").await);

    // Built-in groups: anonymous opens to everyone, no users may be added.
    let r = app
        .root(
            Method::POST,
            "/authz/group/anonymous/user",
            Some(json!({"username": "alice@x.org"})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        app.root(Method::DELETE, "/authz/group/logged-in", None)
            .await
            .status,
        400
    );
    assert!(!decide(&app, None, "/programs/P/projects/A", "read").await);
    app.root(
        Method::POST,
        "/authz/group/anonymous/policy",
        Some(json!({"policy": "A-reader"})),
    )
    .await
    .expect(204);
    assert!(decide(&app, None, "/programs/P/projects/A", "read").await);
    assert!(decide(&app, Some(&bob), "/programs/P/projects/A", "read").await);
    let anon = app
        .call(Method::GET, "/authz/mapping", None, None)
        .await
        .expect(200);
    assert!(anon.get("/programs/P/projects/A").is_some());
    app.stop().await;
}

#[tokio::test]
async fn proxy_clients_and_user_admin() {
    let app = TestApp::start().await;
    seed(&app).await;
    app.grant("carol@x.org", "svc", "get", "/programs/P").await;
    let carol = app.token("carol@x.org");
    let ok = app
        .call(
            Method::GET,
            "/authz?resource=/programs/P/projects/A&service=svc&method=get",
            None,
            Some(&carol),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let no = app
        .call(
            Method::GET,
            "/authz/auth/proxy?resource=/elsewhere&service=svc&method=get",
            None,
            Some(&carol),
        )
        .await;
    assert_eq!(no.status, 403, "{}", no.text);
    let anon = app
        .call(
            Method::GET,
            "/authz/auth/proxy?resource=/programs/P&service=svc&method=get",
            None,
            None,
        )
        .await;
    assert_eq!(anon.status, 401, "{}", anon.text);
    let missing = app
        .call(
            Method::GET,
            "/authz/auth/proxy?resource=/programs/P",
            None,
            Some(&carol),
        )
        .await;
    assert_eq!(missing.status, 400);

    // Users: list, rename, resources by action, delete.
    let users = app.root(Method::GET, "/authz/user", None).await.expect(200);
    assert!(
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "carol@x.org")
    );
    let r = app
        .root(
            Method::GET,
            "/authz/user/carol@x.org/resources?service=svc&method=get",
            None,
        )
        .await
        .expect(200);
    assert!(
        r["resources"]
            .as_array()
            .unwrap()
            .contains(&json!("/programs/P/projects/A"))
    );
    let r = app
        .root(
            Method::GET,
            "/authz/user/carol@x.org/resources?service=svc&method=put",
            None,
        )
        .await
        .expect(200);
    assert_eq!(r["resources"], json!([]));
    app.root(
        Method::PATCH,
        "/authz/user/carol@x.org",
        Some(json!({"email": "c@x.org"})),
    )
    .await
    .expect(204);
    assert_eq!(
        app.root(Method::GET, "/authz/user/carol@x.org", None)
            .await
            .expect(200)["email"],
        "c@x.org"
    );
    // A body that is not an object is refused, not read as "change nothing".
    for body in [json!([]), json!(["x"]), json!("c@x.org")] {
        let r = app
            .root(Method::PATCH, "/authz/user/carol@x.org", Some(body))
            .await;
        arborist_error(
            &r,
            400,
            "could not parse user from JSON: expected an object",
        );
    }
    let r = app
        .root(Method::POST, "/authz/policy", Some(json!([])))
        .await;
    arborist_error(&r, 400, "expected an object");
    assert_eq!(
        app.root(
            Method::POST,
            "/authz/user",
            Some(json!({"name": "CAROL@x.org"}))
        )
        .await
        .status,
        409
    );
    app.root(Method::DELETE, "/authz/user/carol@x.org", None)
        .await
        .expect(204);
    assert_eq!(
        app.root(Method::GET, "/authz/user/carol@x.org", None)
            .await
            .status,
        404
    );

    // Clients: a token through a client needs the user and the client allowed.
    app.root(
        Method::POST,
        "/authz/client",
        Some(json!({"clientID": "cli", "policies": []})),
    )
    .await
    .expect(201);
    app.root(
        Method::POST,
        "/authz/client/cli/policy",
        Some(json!({"policy": "A-reader"})),
    )
    .await
    .expect(204);
    let c = app
        .root(Method::GET, "/authz/client/cli", None)
        .await
        .expect(200);
    assert_eq!(c, json!({"clientID": "cli", "policies": ["A-reader"]}));
    let m = app
        .root(
            Method::POST,
            "/authz/auth/mapping",
            Some(json!({"clientID": "cli"})),
        )
        .await
        .expect(200);
    assert!(m.get("/programs/P/projects/A").is_some());
    app.root(Method::DELETE, "/authz/client/cli/policy", None)
        .await
        .expect(204);
    app.root(Method::DELETE, "/authz/client/cli", None)
        .await
        .expect(204);
    assert_eq!(
        app.root(Method::GET, "/authz/client/cli", None)
            .await
            .status,
        404
    );

    let h = app
        .call(Method::GET, "/authz/health", None, None)
        .await
        .expect(200);
    assert_eq!(h, json!("Healthy"));
    let nf = app
        .call(Method::GET, "/authz/nothing/here", None, None)
        .await;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json["error"]["code"], 404);
    app.stop().await;
}

#[tokio::test]
async fn the_policy_api_is_deny_by_default() {
    let app = TestApp::start().await;
    seed(&app).await;
    // No token: 401; a token without rights: 403; a forged token: 401.
    for (token, status) in [
        (None, 401),
        (Some(app.token("nobody@x.org")), 403),
        (Some("a.b.c".to_owned()), 401),
    ] {
        for (m, path, body) in [
            (Method::GET, "/authz/policy", None),
            (Method::GET, "/authz/user", None),
            (
                Method::POST,
                "/authz/role",
                Some(json!({"id": "r", "permissions": [
                {"id": "p", "action": {"service": "*", "method": "*"}}]})),
            ),
            (
                Method::POST,
                "/authz/user/x/policy",
                Some(json!({"policy": "A-reader"})),
            ),
            (Method::DELETE, "/authz/resource/programs", None),
        ] {
            let r = app.call(m.clone(), path, body, token.as_deref()).await;
            assert_eq!(r.status, status, "{m} {path}: {}", r.text);
            assert!(r.json["error"]["message"].is_string(), "{}", r.text);
        }
    }
    // Granting `arborist` `read` on /services/arborist/policy lets one read policies only.
    app.grant(
        "auditor@x.org",
        "arborist",
        "read",
        "/services/arborist/policy",
    )
    .await;
    let auditor = app.token("auditor@x.org");
    app.call(Method::GET, "/authz/policy", None, Some(&auditor))
        .await
        .expect(200);
    assert_eq!(
        app.call(Method::GET, "/authz/user", None, Some(&auditor))
            .await
            .status,
        403
    );
    let r = app
        .call(
            Method::DELETE,
            "/authz/policy/A-reader",
            None,
            Some(&auditor),
        )
        .await;
    assert_eq!(r.status, 403);
    // Nothing changed.
    app.root(Method::GET, "/authz/policy/A-reader", None)
        .await
        .expect(200);
    app.stop().await;
}

#[tokio::test]
async fn index_writes_follow_the_policy_engine() {
    let app = TestApp::start().await;
    let writer = app.token("writer@x.org");
    let body = record(json!({"authz": ["/programs/P/projects/A"]}));
    let r = app
        .call(
            Method::POST,
            "/index/index/",
            Some(body.clone()),
            Some(&writer),
        )
        .await;
    r.expect_error(403, "Permission denied");

    app.grant("writer@x.org", "indexd", "create", "/programs/P/projects/A")
        .await;
    let created = app
        .call(
            Method::POST,
            "/index/index/",
            Some(body.clone()),
            Some(&writer),
        )
        .await
        .expect(200);
    let did = created["did"].as_str().unwrap().to_owned();
    let rev = created["rev"].as_str().unwrap().to_owned();
    // Another project is still out of reach; so is update without the update method.
    let other = record(json!({"authz": ["/programs/P/projects/B"]}));
    let r = app
        .call(Method::POST, "/index/index/", Some(other), Some(&writer))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .call(
            Method::PUT,
            &format!("/index/index/{did}?rev={rev}"),
            Some(json!({"file_name": "f"})),
            Some(&writer),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    app.grant("writer@x.org", "indexd", "update", "/programs/P")
        .await;
    app.call(
        Method::PUT,
        &format!("/index/index/{did}?rev={rev}"),
        Some(json!({"file_name": "f"})),
        Some(&writer),
    )
    .await
    .expect(200);
    // The admin override on /services/indexd/admin covers any record.
    app.grant("boss@x.org", "indexd", "*", "/services/indexd/admin")
        .await;
    let boss = app.token("boss@x.org");
    let any = record(json!({"authz": ["/programs/Z"]}));
    app.call(Method::POST, "/index/index/", Some(any), Some(&boss))
        .await
        .expect(200);
    app.stop().await;
}

#[tokio::test]
async fn a_grant_on_one_instance_is_enforced_by_another_within_a_second() {
    let app = TestApp::start().await;
    seed(&app).await;
    let (twin_url, stop, server) = app.twin().await;
    let dave = app.token("dave@x.org");
    let ask = |url: String, token: String| {
        let client = app.client.clone();
        async move {
            auth_request(
                &client,
                &url,
                &token,
                "/programs/P/projects/A",
                "indexd",
                "read",
            )
            .await
        }
    };
    assert!(!ask(twin_url.clone(), dave.clone()).await);
    app.root(
        Method::POST,
        "/authz/user",
        Some(json!({"name": "dave@x.org"})),
    )
    .await
    .expect(201);
    app.root(
        Method::POST,
        "/authz/user/dave@x.org/policy",
        Some(json!({"policy": "A-reader"})),
    )
    .await
    .expect(204);
    let granted = std::time::Instant::now();
    let mut seen = false;
    while granted.elapsed() < std::time::Duration::from_secs(1) {
        if ask(twin_url.clone(), dave.clone()).await {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        seen,
        "the other instance did not see the grant within a second"
    );
    // And a revoke travels the same way.
    app.root(
        Method::DELETE,
        "/authz/user/dave@x.org/policy/A-reader",
        None,
    )
    .await
    .expect(204);
    let revoked = std::time::Instant::now();
    let mut gone = false;
    while revoked.elapsed() < std::time::Duration::from_secs(1) {
        if !ask(twin_url.clone(), dave.clone()).await {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "the other instance still allowed after the revoke");
    let _ = stop.send(());
    let _ = server.await;
    app.stop().await;
}

#[tokio::test]
async fn arborist_edge_cases() {
    let app = TestApp::start().await;
    seed(&app).await;
    app.grant("erin@x.org", "indexd", "read", "/programs/P")
        .await;
    let erin = app.token("erin@x.org");
    // No `user` in the body: the Authorization header's token decides; without one, anonymous.
    let body = json!({"requests": [{"resource": "/programs/P", "action": {"service": "indexd", "method": "read"}}]});
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(body.clone()),
            Some(&erin),
        )
        .await
        .expect(200);
    assert_eq!(r, json!({"auth": true}));
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(body.clone()),
            None,
        )
        .await
        .expect(200);
    assert_eq!(r, json!({"auth": false}));
    assert!(decide(&app, Some(&erin), "/programs/P", "read").await);
    // No request at all is a 400; a forged token in the body a 401.
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(json!({"requests": []})),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let forged = json!({"user": {"token": "x.y.z"}, "requests": body["requests"]});
    let r = app
        .call(Method::POST, "/authz/auth/request", Some(forged), None)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // `user.policies` restricts the decision to those policies the user holds.
    app.grant("erin@x.org", "indexd", "write", "/programs/P")
        .await;
    let restricted = json!({"user": {"token": erin, "policies": ["indexd-read-.programs.P"]},
        "requests": [{"resource": "/programs/P/projects/A", "action": {"service": "indexd", "method": "write"}}]});
    let r = app
        .call(Method::POST, "/authz/auth/request", Some(restricted), None)
        .await
        .expect(200);
    assert_eq!(r, json!({"auth": false}));
    // PUT without merge and without subresources: the children go, as in arborist.
    app.root(
        Method::PUT,
        "/authz/resource/programs/P/projects",
        Some(json!({"name": "A", "description": "d"})),
    )
    .await
    .expect(201);
    app.root(
        Method::PUT,
        "/authz/resource/programs/P",
        Some(json!({"name": "projects", "description": "only"})),
    )
    .await
    .expect(201);
    let p = app
        .root(Method::GET, "/authz/resource/programs/P/projects", None)
        .await
        .expect(200);
    assert_eq!(p["subresources"], json!([]));
    assert_eq!(p["description"], "only");
    // A method a path does not serve: 405 with arborist's error body.
    let r = app.root(Method::PATCH, "/authz/policy", None).await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert_eq!(r.json["error"]["code"], 405);
    app.stop().await;
}

#[tokio::test]
async fn remaining_endpoints_answer_as_arborist() {
    let app = TestApp::start().await;
    seed(&app).await;
    app.root(
        Method::POST,
        "/authz/policy",
        Some(json!({"id": "B-reader", "role_ids": ["reader"],
        "resource_paths": ["/programs/P/projects/B"]})),
    )
    .await
    .expect(201);
    app.root(
        Method::POST,
        "/authz/user",
        Some(json!({"name": "fay@x.org"})),
    )
    .await
    .expect(201);
    // Bulk grant, then resources by token (POST) and through the public alias (GET).
    app.root(Method::POST, "/authz/user/fay@x.org/bulk/policy",
        Some(json!([{"policy": "A-reader"}, {"policy": "B-reader", "expires_at": "2999-01-01T00:00:00Z"}])))
        .await
        .expect(204);
    let fay = app.token("fay@x.org");
    let r = app
        .call(
            Method::POST,
            "/authz/auth/resources",
            Some(json!({"user": {"token": fay}})),
            None,
        )
        .await
        .expect(200);
    assert_eq!(
        r["resources"],
        json!(["/programs/P/projects/A", "/programs/P/projects/B"])
    );
    let r = app
        .call(Method::GET, "/authz/resources", None, Some(&fay))
        .await
        .expect(200);
    assert_eq!(
        r["resources"],
        json!(["/programs/P/projects/A", "/programs/P/projects/B"])
    );
    let tags = app
        .call(Method::GET, "/authz/auth/resources?tags", None, Some(&fay))
        .await
        .expect(200);
    assert_eq!(tags["resources"].as_array().unwrap().len(), 2);
    assert!(!tags["resources"][0].as_str().unwrap().starts_with('/'));

    // Decisions about another user by name: administration.
    let by_name = json!({"user": {"user_id": "fay@x.org"}, "requests": [
        {"resource": "/programs/P/projects/A", "action": {"service": "s", "method": "read"}}]});
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(by_name.clone()),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let gus = app.token("gus@x.org");
    let r = app
        .call(
            Method::POST,
            "/authz/auth/request",
            Some(by_name.clone()),
            Some(&gus),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .root(Method::POST, "/authz/auth/request", Some(by_name))
        .await
        .expect(200);
    assert_eq!(r, json!({"auth": true}));

    // PUT /group overwrites members and policies; revoke a group policy.
    app.root(
        Method::PUT,
        "/authz/group",
        Some(json!({"name": "g", "users": ["fay@x.org"], "policies": ["A-reader"]})),
    )
    .await
    .expect(201);
    app.root(
        Method::PUT,
        "/authz/group",
        Some(json!({"name": "g", "users": [], "policies": ["A-reader", "B-reader"]})),
    )
    .await
    .expect(201);
    let g = app
        .root(Method::GET, "/authz/group/g", None)
        .await
        .expect(200);
    assert_eq!(
        g,
        json!({"name": "g", "users": [], "policies": ["A-reader", "B-reader"]})
    );
    app.root(Method::DELETE, "/authz/group/g/policy/A-reader", None)
        .await
        .expect(204);
    assert_eq!(
        app.root(Method::GET, "/authz/group/g", None)
            .await
            .expect(200)["policies"],
        json!(["B-reader"])
    );
    let r = app
        .root(
            Method::POST,
            "/authz/group",
            Some(json!({"name": "h", "users": ["nobody"], "policies": []})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    app.root(Method::DELETE, "/authz/group/g", None)
        .await
        .expect(204);
    assert_eq!(
        app.root(Method::GET, "/authz/group/g", None).await.status,
        404
    );
    let groups = app
        .root(Method::GET, "/authz/group", None)
        .await
        .expect(200);
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["anonymous", "logged-in"]);

    // A client's single policy revoke; rename a user (grants follow).
    app.root(
        Method::POST,
        "/authz/client",
        Some(json!({"clientID": "c", "policies": ["A-reader", "B-reader"]})),
    )
    .await
    .expect(201);
    app.root(Method::DELETE, "/authz/client/c/policy/A-reader", None)
        .await
        .expect(204);
    assert_eq!(
        app.root(Method::GET, "/authz/client", None)
            .await
            .expect(200)["clients"],
        json!([{"clientID": "c", "policies": ["B-reader"]}])
    );
    app.root(
        Method::PATCH,
        "/authz/user/fay@x.org",
        Some(json!({"name": "fay2@x.org"})),
    )
    .await
    .expect(204);
    assert_eq!(
        app.root(Method::GET, "/authz/user/fay@x.org", None)
            .await
            .status,
        404
    );
    let u = app
        .root(Method::GET, "/authz/user/fay2@x.org", None)
        .await
        .expect(200);
    assert_eq!(u["policies"].as_array().unwrap().len(), 2);
    // Roles: PUT creates (201) then updates (200); a mismatched id is a 400.
    let role = json!({"id": "rx", "permissions": [{"id": "p", "action": {"service": "s", "method": "m"}}]});
    app.root(Method::PUT, "/authz/role/rx", Some(role.clone()))
        .await
        .expect(201);
    let r = app
        .root(Method::PUT, "/authz/role/rx", Some(role))
        .await
        .expect(200);
    assert_eq!(r["updated"]["id"], "rx");
    let r = app
        .root(
            Method::PUT,
            "/authz/role/ry",
            Some(json!({"id": "rz", "permissions": [
        {"id": "p", "action": {"service": "s", "method": "m"}}]})),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    app.stop().await;
}
