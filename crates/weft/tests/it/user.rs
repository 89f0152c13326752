//! fence's identity endpoints under `/user/`: keys, discovery, user info, API keys.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::TestApp;

fn scoped(app: &TestApp, user: &str, scopes: &[&str]) -> String {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    app.tokens.issue_access(user, &scopes, 600).expect("token")
}

#[tokio::test]
async fn keys_and_discovery_verify_issued_tokens() {
    let app = TestApp::start().await;
    let jwks = app
        .call(Method::GET, "/user/.well-known/jwks", None, None)
        .await
        .expect(200);
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["e"], "AQAB");
    assert!(key["n"].as_str().unwrap().len() > 300);
    assert_eq!(
        app.call(Method::GET, "/.well-known/jwks", None, None)
            .await
            .expect(200),
        jwks
    );
    // The token's kid is published.
    let token = app.token("a@x.org");
    let header: Value = {
        use base64::Engine as _;
        let h = token.split('.').next().unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(header["kid"], key["kid"]);
    let legacy = app
        .call(Method::GET, "/user/jwt/keys", None, None)
        .await
        .expect(200);
    assert_eq!(legacy["keys"][0][0], key["kid"]);
    assert!(
        legacy["keys"][0][1]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let oidc = app
        .call(
            Method::GET,
            "/user/.well-known/openid-configuration",
            None,
            None,
        )
        .await
        .expect(200);
    assert_eq!(oidc["issuer"], format!("{}/user", app.url));
    assert_eq!(
        oidc["jwks_uri"],
        format!("{}/user/.well-known/jwks", app.url)
    );
    app.stop().await;
}

#[tokio::test]
async fn user_info_carries_the_authz_mapping() {
    let app = TestApp::start().await;
    assert_eq!(
        app.call(Method::GET, "/user/user", None, None).await.status,
        401
    );
    let forged = app
        .call(Method::GET, "/user/user", None, Some("x.y.z"))
        .await;
    assert_eq!(forged.status, 401);
    app.grant("una@x.org", "peregrine", "read", "/programs/U")
        .await;
    let no_user_scope = scoped(&app, "una@x.org", &["openid"]);
    let r = app
        .call(Method::GET, "/user/user", None, Some(&no_user_scope))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let token = app.token("una@x.org");
    let info = app
        .call(Method::GET, "/user/user", None, Some(&token))
        .await
        .expect(200);
    assert_eq!(info["username"], "una@x.org");
    assert_eq!(
        info["authz"]["/programs/U"],
        json!([{"service": "peregrine", "method": "read"}])
    );
    assert_eq!(info["resources"], json!(["/programs/U"]));
    app.stop().await;
}

#[tokio::test]
async fn api_keys_are_created_exchanged_listed_and_revoked() {
    let app = TestApp::start().await;
    let session = scoped(
        &app,
        "kim@x.org",
        &["openid", "user", "credentials", "data"],
    );
    // Making keys needs the `credentials` scope (tokens from API keys do not have it).
    let plain = app.token("kim@x.org");
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api",
            Some(json!({})),
            Some(&plain),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api",
            Some(json!({"scope": ["bogus"]})),
            Some(&session),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let creds = app
        .call(
            Method::POST,
            "/user/credentials/api?expires_in=7200",
            Some(json!({"scope": ["data", "user"]})),
            Some(&session),
        )
        .await
        .expect(200);
    let api_key = creds["api_key"].as_str().unwrap().to_owned();
    let key_id = creds["key_id"].as_str().unwrap().to_owned();

    // The SDK posts the whole credentials.json to the cdis path; gen3-client the key alone.
    let t1 = app
        .call(
            Method::POST,
            "/user/credentials/cdis/access_token",
            Some(creds.clone()),
            None,
        )
        .await
        .expect(200);
    let t2 = app
        .call(
            Method::POST,
            "/user/credentials/api/access_token",
            Some(json!({"api_key": api_key})),
            None,
        )
        .await
        .expect(200);
    let access = t1["access_token"].as_str().unwrap();
    assert!(t2["access_token"].as_str().is_some());
    let info = app
        .call(Method::GET, "/user/user", None, Some(access))
        .await
        .expect(200);
    assert_eq!(info["username"], "kim@x.org");
    // A form body works too.
    let form = app
        .client
        .post(format!("{}/user/credentials/api/access_token", app.url))
        .form(&[("api_key", api_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    // An access token may not outlive its key; an access token is not an API key.
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api/access_token?expires_in=99999",
            Some(json!({"api_key": api_key})),
            None,
        )
        .await;
    assert_eq!(
        r.status, 200,
        "expires_in is capped at the maximum: {}",
        r.text
    );
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api/access_token",
            Some(json!({"api_key": access})),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api/access_token",
            Some(json!({})),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // An API key-derived token cannot make keys.
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api",
            Some(json!({})),
            Some(access),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    let list = app
        .call(Method::GET, "/user/credentials/api", None, Some(&session))
        .await
        .expect(200);
    assert_eq!(list["jtis"][0]["jti"], key_id.as_str());
    let other = scoped(&app, "lee@x.org", &["openid", "credentials"]);
    let r = app
        .call(
            Method::DELETE,
            &format!("/user/credentials/api/{key_id}"),
            None,
            Some(&other),
        )
        .await;
    assert_eq!(r.status, 404, "another user's key: {}", r.text);
    app.call(
        Method::DELETE,
        &format!("/user/credentials/cdis/{key_id}"),
        None,
        Some(&session),
    )
    .await
    .expect(204);
    let r = app
        .call(
            Method::POST,
            "/user/credentials/api/access_token",
            Some(json!({"api_key": api_key})),
            None,
        )
        .await;
    assert_eq!(r.status, 401, "a revoked key: {}", r.text);
    let list = app
        .call(Method::GET, "/user/credentials/api", None, Some(&session))
        .await
        .expect(200);
    assert_eq!(list["jtis"], json!([]));
    app.stop().await;
}
