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
    // fence: any token fault, a missing scope included, is a 401.
    let no_user_scope = scoped(&app, "una@x.org", &["openid"]);
    let r = app
        .call(Method::GET, "/user/user", None, Some(&no_user_scope))
        .await;
    r.expect_error(401, "token lacks scope user");
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

/// No API key's id holds a NUL (PostgreSQL refuses one in text): revoking one is a 404 on
/// every backend, not a 500.
#[tokio::test]
async fn revoking_a_key_id_with_a_nul_is_a_404() {
    let app = TestApp::start().await;
    let session = scoped(&app, "kim@x.org", &["openid", "credentials"]);
    for kind in ["api", "cdis"] {
        let r = app
            .call(
                Method::DELETE,
                &format!("/user/credentials/{kind}/a%00b"),
                None,
                Some(&session),
            )
            .await;
        assert_eq!(r.status, 404, "{kind}: {}", r.text);
    }
    app.stop().await;
}

#[tokio::test]
async fn user_info_needs_the_openid_scope_as_fence() {
    let app = TestApp::start().await;
    let no_openid = scoped(&app, "una@x.org", &["user", "data"]);
    let r = app
        .call(Method::GET, "/user/user", None, Some(&no_openid))
        .await;
    assert_eq!(
        r.expect_error(401, "token lacks scope openid"),
        "failed to validate token: token lacks scope openid"
    );
    let both = scoped(&app, "una@x.org", &["openid", "user"]);
    let info = app
        .call(Method::GET, "/user/user", None, Some(&both))
        .await
        .expect(200);
    assert_eq!(info["username"], "una@x.org");
    app.stop().await;
}

/// Tokens signed by the server's own key (or made to look so) with one thing wrong each,
/// and the words each surface answers with.
fn faulty_tokens(app: &TestApp) -> Vec<(String, &'static str)> {
    use base64::Engine as _;
    let scopes = vec!["openid".to_owned(), "user".to_owned(), "data".to_owned()];
    let now = chrono::Utc::now().timestamp();
    let signed = |f: &dyn Fn(&mut weft_identity::Claims)| {
        let mut c = app
            .tokens
            .claims(Some("una@x.org"), None, &scopes, 600, "access");
        f(&mut c);
        app.tokens.sign(&c).expect("signing")
    };
    let expired = signed(&|c| {
        c.iat = now - 600;
        c.exp = now - 60;
    });
    let not_yet = signed(&|c| c.nbf = Some(now + 3600));
    let future_iat = signed(&|c| c.iat = now + 3600);
    let other_issuer = signed(&|c| c.iss = "https://elsewhere.org/user".into());
    let good = signed(&|_| {});
    let b64 = |s: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(br#"{"iss":"x","sub":"una@x.org","aud":["gen3"],"iat":0,"exp":99999999999,"jti":"j","scope":["openid"],"pur":"access","context":{"user":{"name":"root"}}}"#),
        parts[2]
    );
    let unknown_kid = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT","kid":"no-such-key"}"#),
        parts[1],
        parts[2]
    );
    vec![
        (expired, "token expired"),
        (not_yet, "token is not valid yet"),
        (future_iat, "token is not valid yet"),
        (
            other_issuer,
            "token issuer https://elsewhere.org/user is not this server",
        ),
        (tampered, "token signature does not verify"),
        (unknown_kid, "unknown signing key"),
        ("not-a-jwt".to_owned(), "token is not a well-formed JWT"),
    ]
}

#[tokio::test]
async fn token_faults_are_said_in_words_on_every_surface() {
    let app = TestApp::start().await;
    for (token, words) in faulty_tokens(&app) {
        // fence
        let r = app
            .call(Method::GET, "/user/user", None, Some(&token))
            .await;
        let msg = r.expect_error(401, words);
        assert!(
            !msg.contains("InvalidToken") && !msg.contains("Error("),
            "{msg}"
        );
        // arborist, the token in the body
        let r = app
            .call(
                Method::POST,
                "/authz/auth/request",
                Some(json!({"user": {"token": token},
                            "request": {"resource": "/a", "action": {"service": "s", "method": "m"}}})),
                None,
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.json["error"]["message"], words, "{}", r.text);
        // an index write
        let r = app
            .call(
                Method::POST,
                "/index/index/",
                Some(json!({"form": "object", "size": 1, "urls": [],
                            "hashes": {"md5": crate::support::MD5}})),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(r.json["error"], format!("Permission denied. {words}"));
    }
    app.stop().await;
}

#[tokio::test]
async fn user_info_says_is_admin_for_user_yaml_admins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("user.yaml");
    std::fs::write(
        &yaml,
        "authz:\n  resources: [{name: open}]\n  roles: []\n  policies: []\n\
         users:\n  Ada@x.org:\n    admin: true\n  bob@x.org: {}\n",
    )
    .expect("writing user.yaml");
    let app = TestApp::start_with(|c| c.usersync = Some(yaml.clone())).await;
    let ada = app.token("ada@x.org");
    let info = app
        .call(Method::GET, "/user/user", None, Some(&ada))
        .await
        .expect(200);
    assert_eq!(info["is_admin"], true, "{info}");
    let bob = app.token("bob@x.org");
    let info = app
        .call(Method::GET, "/user/user", None, Some(&bob))
        .await
        .expect(200);
    assert_eq!(info["is_admin"], false, "{info}");
    app.stop().await;
}
