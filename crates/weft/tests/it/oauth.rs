//! weft as an OAuth2/OIDC provider and client: clients, the authorization-code flow with
//! PKCE, refresh tokens and their revocation, client credentials, sessions, logout, and one
//! weft logging its users in through another. Attacks: replayed codes, wrong verifiers,
//! open redirects, forged consent, cross-site session use.

#![allow(clippy::unwrap_used)] // a failed step should panic with its cause

use std::collections::HashMap;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use weft_identity::oauth::NewClient;

use crate::support::{Resp, TestApp, browser, mock_login};

const ALICE: &str = "alice@example.org";

/// A client registered as `weft client create` does; returns (id, secret).
async fn register(app: &TestApp, new: NewClient) -> (String, Option<String>) {
    let stores = weft::open_stores(&app.config).await.unwrap();
    let oauth = weft::oauth(&app.config, &stores, &app.tokens);
    let (c, secret) = oauth.create_client(new).await.unwrap();
    (c.client_id, secret)
}

fn new_client(name: &str, redirect: &str) -> NewClient {
    NewClient {
        name: name.into(),
        redirect_uris: vec![redirect.into()],
        allowed_scopes: vec![],
        grant_types: vec![],
        auto_approve: true,
        public: false,
        owner: None,
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// A provider with the development login as `alice`.
async fn provider() -> TestApp {
    TestApp::start_with(|c| c.login.mock_user = Some(ALICE.into())).await
}

/// A provider with `new` registered and a browser logged in there; returns the client's
/// id and secret too.
async fn logged_in_with(new: NewClient) -> (TestApp, String, Option<String>, reqwest::Client) {
    let app = provider().await;
    let (id, secret) = register(&app, new).await;
    let b = browser();
    mock_login(&app, &b).await;
    (app, id, secret, b)
}

/// Run the authorization request; returns the code sent to the redirect URI.
async fn authorize(app: &TestApp, b: &reqwest::Client, params: &[(&str, &str)]) -> String {
    let r = b
        .get(format!("{}/user/oauth2/authorize", app.url))
        .query(params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let to = location(&r);
    let q = query_of(&to);
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    q.get("code")
        .unwrap_or_else(|| panic!("no code in {to}"))
        .clone()
}

async fn token(app: &TestApp, id: &str, secret: Option<&str>, form: &[(&str, &str)]) -> Resp {
    let mut req = app
        .client
        .post(format!("{}/user/oauth2/token", app.url))
        .form(form);
    if let Some(s) = secret {
        req = req.basic_auth(id, Some(s));
    }
    Resp::read(req.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_with_pkce_then_refresh_and_revoke() {
    let app = provider().await;
    let cb = "http://127.0.0.1:9/cb";
    let (id, secret) = register(&app, new_client("portal", cb)).await;
    let secret = secret.unwrap();
    let b = browser();

    // Not logged in: off to the (only) login provider, with a way back.
    let r = b
        .get(format!("{}/user/oauth2/authorize", app.url))
        .query(&[("client_id", id.as_str()), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("{}/user/login/mock?redirect=", app.url)),
        "{to}"
    );

    mock_login(&app, &b).await;
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge = s256(verifier);
    let params = [
        ("client_id", id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", cb),
        ("scope", "openid user data"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let code = authorize(&app, &b, &params).await;

    // A wrong verifier spends nothing... but a code is single-use, so use a fresh one.
    let bad = token(
        &app,
        &id,
        Some(&secret),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", cb),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-00",
            ),
        ],
    )
    .await
    .expect(400);
    assert_eq!(bad["error"], "invalid_grant");

    let code = authorize(&app, &b, &params).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
        ("code_verifier", verifier),
    ];
    let t = token(&app, &id, Some(&secret), &form).await.expect(200);
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "openid user data");
    let access = t["access_token"].as_str().unwrap();
    let ac = claims(access);
    assert_eq!(ac["context"]["user"]["name"], ALICE);
    assert_eq!(ac["azp"], id.as_str());
    assert_eq!(ac["iss"], format!("{}/user", app.url));
    assert!(ac["aud"].as_array().unwrap().contains(&json!(id)));
    let idt = claims(t["id_token"].as_str().unwrap());
    assert_eq!(idt["nonce"], "n-1");
    assert_eq!(idt["aud"], json!([id]));
    assert_eq!(idt["email"], ALICE);
    assert_eq!(idt["sub"], ALICE);

    // The access token works on the user endpoint.
    let me = app
        .call(Method::GET, "/user/user", None, Some(access))
        .await
        .expect(200);
    assert_eq!(me["username"], ALICE);

    // Refresh: a new access token, the same refresh token.
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let r = token(
        &app,
        &id,
        Some(&secret),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await
    .expect(200);
    assert_eq!(r["refresh_token"], refresh.as_str());
    assert_ne!(r["access_token"], t["access_token"]);
    // A wider scope than granted is refused.
    let wide = token(
        &app,
        &id,
        Some(&secret),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "openid admin"),
        ],
    )
    .await
    .expect(400);
    assert_eq!(wide["error"], "invalid_scope");
    // A refresh token is not an access token.
    app.call(Method::GET, "/user/user", None, Some(&refresh))
        .await
        .expect(401);

    // Revoked: refreshing fails.
    let rv = app
        .client
        .post(format!("{}/user/oauth2/revoke", app.url))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(rv.status(), 200);
    let gone = token(
        &app,
        &id,
        Some(&secret),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await
    .expect(400);
    assert_eq!(gone["error"], "invalid_grant");
    assert!(
        gone["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_code_is_refused_and_revokes_its_refresh_token() {
    let cb = "https://app.example/cb";
    let (app, id, secret, b) = logged_in_with(new_client("replay", cb)).await;
    let secret = secret.unwrap();
    let code = authorize(
        &app,
        &b,
        &[
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", cb),
            ("scope", "openid user"),
            ("state", "st-1"),
        ],
    )
    .await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
    ];
    let first = token(&app, &id, Some(&secret), &form).await.expect(200);
    let refresh = first["refresh_token"].as_str().unwrap();
    let again = token(&app, &id, Some(&secret), &form).await.expect(400);
    assert_eq!(again["error"], "invalid_grant");
    assert!(
        again["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    let r = token(
        &app,
        &id,
        Some(&secret),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await
    .expect(400);
    assert_eq!(r["error"], "invalid_grant", "{r}");

    // Wrong secret, unknown client, no authentication at all.
    let r = token(&app, &id, Some("nope"), &form).await.expect(401);
    assert_eq!(r["error"], "invalid_client");
    let r = token(&app, "no-such-client", Some("x"), &form)
        .await
        .expect(401);
    assert_eq!(r["error"], "invalid_client");
    let r = token(&app, &id, None, &form).await.expect(401);
    assert_eq!(r["error"], "invalid_client");
    // An unknown grant type, a JSON body.
    let r = token(&app, &id, Some(&secret), &[("grant_type", "password")])
        .await
        .expect(400);
    assert_eq!(r["error"], "unsupported_grant_type");
    let r = app
        .client
        .post(format!("{}/user/oauth2/token", app.url))
        .basic_auth(&id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let r = Resp::read(r).await.expect(400);
    assert_eq!(r["error"], "invalid_request");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_clients_must_use_pkce() {
    let cb = "http://localhost:7/cb";
    let mut c = new_client("notebook", cb);
    c.public = true;
    let (app, id, secret, b) = logged_in_with(c).await;
    assert_eq!(secret, None);
    // Without a challenge: the error goes back to the (registered) redirect URI.
    let r = b
        .get(format!("{}/user/oauth2/authorize", app.url))
        .query(&[
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("state", "st-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let q = query_of(&location(&r));
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "st-1");

    let verifier = "public-client-verifier-public-client-verifier-01";
    let challenge = s256(verifier);
    let code = authorize(
        &app,
        &b,
        &[
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("state", "st-1"),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let t = token(
        &app,
        &id,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", id.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", cb),
            ("code_verifier", verifier),
        ],
    )
    .await
    .expect(200);
    assert!(t["access_token"].is_string());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_as_the_gen3_sdk_asks() {
    let app = provider().await;
    let mut c = new_client("robot", "https://robot.example/cb");
    c.grant_types = vec!["client_credentials".into()];
    let (id, secret) = register(&app, c).await;
    let secret = secret.unwrap();
    // gen3 SDK: grant_type and scope in the query, client credentials in Basic auth.
    let r = app
        .client
        .post(format!(
            "{}/user/oauth2/token?grant_type=client_credentials&scope=openid%20user",
            app.url
        ))
        .basic_auth(&id, Some(&secret))
        .send()
        .await
        .unwrap();
    let t = Resp::read(r).await.expect(200);
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 1200);
    let c = claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["azp"], id.as_str());
    assert!(c.get("sub").is_none() || c["sub"].is_null());
    assert!(c["context"].get("user").is_none());
    assert_eq!(c["scope"], json!(["openid", "user"]));
    // The token verifies, but speaks for no user.
    app.call(Method::GET, "/user/user", None, t["access_token"].as_str())
        .await
        .expect_error(403, "no user");
    // A scope outside the client's.
    let r = token(
        &app,
        &id,
        Some(&secret),
        &[("grant_type", "client_credentials"), ("scope", "admin")],
    )
    .await
    .expect(400);
    assert_eq!(r["error"], "invalid_scope");
    // This client may not use the authorization-code grant.
    let r = token(
        &app,
        &id,
        Some(&secret),
        &[("grant_type", "authorization_code"), ("code", "x")],
    )
    .await
    .expect(400);
    assert_eq!(r["error"], "unauthorized_client");
    app.stop().await;
}

/// No client's id holds a NUL (PostgreSQL refuses one in text): such an id is an unknown
/// client on every backend, not a 500 (found by schemathesis on PostgreSQL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_with_a_nul_is_an_unknown_client() {
    let app = provider().await;
    let nul = "robot\u{0}x";
    for path in ["/user/oauth2/token", "/user/oauth2/revoke"] {
        let form = [
            ("grant_type", "client_credentials"),
            ("token", "t"),
            ("client_id", nul),
            ("client_secret", "s"),
        ];
        let r = app
            .client
            .post(format!("{}{path}", app.url))
            .form(&form)
            .send()
            .await
            .unwrap();
        let r = Resp::read(r).await;
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert_eq!(r.json["error"], "invalid_client", "{path}");
    }
    let r = token(
        &app,
        nul,
        Some("s"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 401, "Basic: {}", r.text);
    let r = browser()
        .get(format!("{}/user/oauth2/authorize", app.url))
        .query(&[("client_id", nul), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    let r = Resp::read(r).await;
    assert_eq!(r.status, 401, "authorize: {}", r.text);
    assert_eq!(r.json["error"], "invalid_client");
    app.stop().await;
}

/// A nonce or code challenge with a NUL goes back to the client as `invalid_request`
/// (PostgreSQL refuses to store one: it was a 500 there); a login `redirect` or logout
/// `next` with a control character is refused (it was a 302 without a Location).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_authorization_and_redirect_parameters() {
    let cb = "https://app.example/cb";
    let (app, id, _, b) = logged_in_with(new_client("portal", cb)).await;
    let challenge = format!("{}\u{0}", "a".repeat(43));
    for (k, v) in [("nonce", "n\u{0}"), ("code_challenge", challenge.as_str())] {
        let r = b
            .get(format!("{}/user/oauth2/authorize", app.url))
            .query(&[
                ("client_id", id.as_str()),
                ("response_type", "code"),
                ("state", "st-1"),
                (k, v),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{k}");
        let q = query_of(&location(&r));
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("invalid_request"),
            "{k}: {q:?}"
        );
        assert_eq!(q["state"], "st-1");
    }
    for path in [
        "/user/login/mock?redirect=/a%00b",
        "/user/login/mock?redirect=/a%0Ab",
        "/user/logout?next=/a%0Db",
    ] {
        let r = b.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_open_redirects() {
    let cb = "https://app.example/cb";
    let (app, id, _, b) = logged_in_with(new_client("portal", cb)).await;
    // An unregistered redirect URI is answered here, never followed.
    for evil in [
        "https://evil.example/cb",
        "https://app.example/cb/../evil",
        "https://app.example/cb?x=1",
    ] {
        let r = b
            .get(format!("{}/user/oauth2/authorize", app.url))
            .query(&[
                ("client_id", id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", evil),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{evil}");
        assert!(r.headers().get("location").is_none());
        let body = Resp::read(r).await.json;
        assert_eq!(body["error"], "invalid_request");
    }
    // Unknown client: 401, no redirect.
    let r = b
        .get(format!("{}/user/oauth2/authorize", app.url))
        .query(&[
            ("client_id", "nobody"),
            ("response_type", "code"),
            ("redirect_uri", cb),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Login and logout redirects: a path here or a registered client's origin only.
    for bad in [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        for path in ["/user/login/mock?redirect=", "/user/logout?next="] {
            let r = b
                .get(format!(
                    "{}{path}{}",
                    app.url,
                    url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>()
                ))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{path}{bad}");
        }
    }
    for good in ["/user/user", "https://app.example/after"] {
        let r = b
            .get(format!("{}/user/logout", app.url))
            .query(&[("next", good)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{good}");
        assert!(location(&r).ends_with(good.trim_start_matches("https://app.example")));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_page_and_its_form() {
    let cb = "https://app.example/cb";
    let mut c = new_client("asks-first", cb);
    c.auto_approve = false;
    let (app, id, _, b) = logged_in_with(c).await;
    let params = [
        ("client_id", id.as_str()),
        ("response_type", "code"),
        ("scope", "openid user"),
        ("state", "st-1"),
    ];
    let r = b
        .get(format!("{}/user/oauth2/authorize", app.url))
        .query(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Authorize asks-first?"), "{page}");
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let post = |extra: Vec<(&'static str, String)>| {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        form.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        b.post(format!("{}/user/oauth2/authorize", app.url))
            .form(&form)
            .send()
    };
    // Forged (no or wrong csrf): refused.
    let r = post(vec![("confirm", "yes".into()), ("csrf", "forged".into())])
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Declined: access_denied to the client.
    let r = post(vec![("confirm", "no".into()), ("csrf", csrf.clone())])
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(query_of(&location(&r))["error"], "access_denied");
    // Allowed: fence answers a confirmed POST with the redirect as JSON.
    let r = post(vec![("confirm", "yes".into()), ("csrf", csrf)])
        .await
        .unwrap();
    let body = Resp::read(r).await.expect(200);
    let to = body["redirect"].as_str().unwrap();
    assert!(to.starts_with(cb));
    assert!(query_of(to).contains_key("code"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_reach_user_endpoints_but_not_across_sites() {
    let app = provider().await;
    let b = browser();
    let r = b
        .get(format!("{}/user/user", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    mock_login(&app, &b).await;
    let me = Resp::read(
        b.get(format!("{}/user/user", app.url))
            .send()
            .await
            .unwrap(),
    )
    .await
    .expect(200);
    assert_eq!(me["username"], ALICE);
    // A session may create API keys (it has `credentials`), from this weft's pages only.
    let r = b
        .post(format!("{}/user/credentials/api", app.url))
        .json(&json!({"scope": ["data"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no Origin: refused");
    let r = b
        .post(format!("{}/user/credentials/api", app.url))
        .header("origin", "https://evil.example")
        .json(&json!({"scope": ["data"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "another site: refused");
    let r = b
        .post(format!("{}/user/credentials/api", app.url))
        .header("origin", &app.url)
        .json(&json!({"scope": ["data"]}))
        .send()
        .await
        .unwrap();
    let key = Resp::read(r).await.expect(200);
    assert!(key["api_key"].is_string());
    // Logged out: the session is gone on the server too.
    let r = b
        .get(format!("{}/user/logout", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = b
        .get(format!("{}/user/user", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The login providers, as fence lists them.
    let l = app.get("/user/login").await.expect(200);
    assert_eq!(l["default_provider"]["id"], "mock");
    assert_eq!(
        l["providers"][0]["url"],
        format!("{}/user/login/mock", app.url)
    );
    app.stop().await;
}

/// One weft (A) logs its users in through another (B), as one commons trusts another's
/// identity in a mesh: A's `/user/login/weftb` → B's authorize → B's login → back to A's
/// callback, which redeems the code at B, verifies B's ID token (B's JWKS, nonce, PKCE),
/// creates the user in A and starts a session there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_weft_logs_in_through_another() {
    // B on `localhost`, A on `127.0.0.1`: browsers keep cookies per host, not per port.
    let b_app = TestApp::start_at(
        "localhost",
        None,
        |c| c.login.mock_user = Some(ALICE.into()),
        None,
    )
    .await;
    let a_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a_url = format!(
        "http://127.0.0.1:{}",
        a_listener.local_addr().unwrap().port()
    );
    let mut c = new_client("commons-a", &format!("{a_url}/user/login/weftb/login"));
    c.allowed_scopes = vec!["openid".into(), "user".into()];
    let (id, secret) = register(&b_app, c).await;
    let b_issuer = format!("{}/user", b_app.url);
    let a_app = TestApp::start_at(
        "127.0.0.1",
        Some(a_listener),
        |c| {
            c.login.oidc.insert(
                "weftb".into(),
                weft_config::OidcProviderConfig {
                    issuer: b_issuer.clone(),
                    client_id: id.clone(),
                    client_secret: secret.clone().map(weft_config::Secret),
                    scopes: vec!["openid".into(), "email".into(), "user".into()],
                    username_claim: "email".into(),
                    display_name: Some("Commons B".into()),
                },
            );
        },
        None,
    )
    .await;
    assert_eq!(a_app.url, a_url);

    // A browser that follows redirects and keeps cookies.
    let follow = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = follow
        .get(format!("{a_url}/user/login/weftb"))
        .query(&[("redirect", "/user/user")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().as_str(), format!("{a_url}/user/user"));
    let me = Resp::read(r).await.expect(200);
    assert_eq!(me["username"], ALICE);

    // The user now exists in A's policy engine.
    let u = a_app
        .root(Method::GET, &format!("/authz/user/{ALICE}"), None)
        .await
        .expect(200);
    assert_eq!(u["name"], ALICE);

    // A callback that does not belong to this browser's login is refused.
    let stranger = browser_without_cookies();
    let r = stranger
        .get(format!("{a_url}/user/login/weftb/login"))
        .query(&[("code", "x"), ("state", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The state must match the browser's own login.
    let manual = browser();
    let r = manual
        .get(format!("{a_url}/user/login/weftb"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("{}/user/oauth2/authorize?", b_app.url)),
        "{to}"
    );
    let q = query_of(&to);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q.contains_key("nonce"));
    let r = manual
        .get(format!("{a_url}/user/login/weftb/login"))
        .query(&[("code", "x"), ("state", "not-the-state")])
        .send()
        .await
        .unwrap();
    let e = Resp::read(r).await.expect_error(400, "state");
    assert!(e.contains("does not match"), "{e}");

    a_app.stop().await;
    b_app.stop().await;
}

fn browser_without_cookies() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
