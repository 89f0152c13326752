//! fence's identity endpoints under `/user/`: keys and OIDC discovery, the user's info with
//! its authz mapping, API keys and their exchange for access tokens.
//!
//! fence answers errors with HTML pages; clients only read the status, so weft answers the
//! same statuses with a JSON `{"error": "..."}` body.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use weft_auth::{AuthError, AuthMethod, Principal as Caller, Purpose};
use weft_core::WeftError;
use weft_identity::TokenError;
use weft_identity::oauth::USER_ALLOWED_SCOPES;

use crate::SharedState;
use crate::error::ApiError;
use crate::extract::{Body, Query, bearer};

type Res = Result<Response, ApiError>;

/// Longest access token from an API key, and the default (fence `MAX_ACCESS_TOKEN_TTL`).
const MAX_ACCESS_TOKEN_TTL: i64 = 3600;
/// Longest API key, and the default (fence `MAX_API_KEY_TTL`).
const MAX_API_KEY_TTL: i64 = 2_592_000;

pub fn router() -> Router<SharedState> {
    let mut r = Router::new()
        .route("/user/.well-known/jwks", get(jwks))
        .route("/.well-known/jwks", get(jwks))
        .route("/user/jwt/keys", get(legacy_keys))
        .route(
            "/user/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/user/user", get(user_info))
        .route("/user/user/", get(user_info));
    // `/credentials/cdis/*` are fence's deprecated aliases of `/credentials/api/*`; the SDK
    // uses the former, gen3-client the latter.
    for kind in ["api", "cdis"] {
        r = r
            .route(
                &format!("/user/credentials/{kind}"),
                get(list_keys).post(create_key),
            )
            .route(
                &format!("/user/credentials/{kind}/"),
                get(list_keys).post(create_key),
            )
            .route(
                &format!("/user/credentials/{kind}/access_token"),
                post(access_token),
            )
            .route(
                &format!("/user/credentials/{kind}/{{jti}}"),
                delete(delete_key),
            );
    }
    r
}

/// The caller's verified token with `scopes`, or their browser session (which has the
/// session scopes, `credentials` included, as fence's); 401 without either or with a bad
/// token.
///
/// A session is a cookie the browser sends by itself, so a request it authenticates that
/// changes something must come from this weft's own pages: its `Origin` must be this
/// weft's (cross-site request forgery).
async fn caller(s: &SharedState, headers: &HeaderMap, scopes: &[&str]) -> Result<Caller, ApiError> {
    caller_with(s, headers, scopes, false).await
}

async fn caller_with(
    s: &SharedState,
    headers: &HeaderMap,
    scopes: &[&str],
    changes: bool,
) -> Result<Caller, ApiError> {
    let Some(token) = bearer(headers) else {
        if let Some((_, sess)) = crate::oauth::session(s, headers).await? {
            if changes {
                let ours = url::Url::parse(&s.config.public_base_url())
                    .map(|u| u.origin().ascii_serialization())
                    .map_err(WeftError::internal)?;
                let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
                if origin != Some(ours.as_str()) {
                    return Err(WeftError::forbidden(
                        "a change made with a browser session must come from this commons' \
                         own pages (Origin header)",
                    )
                    .into());
                }
            }
            let id = Caller::of_identity(s.oauth.session_identity(&sess), AuthMethod::Session);
            if let Some(missing) = scopes.iter().find(|sc| !id.has_scope(sc)) {
                return Err(WeftError::forbidden(format!(
                    "the session lacks the `{missing}` scope"
                ))
                .into());
            }
            return Ok(id);
        }
        return Err(WeftError::unauthenticated("Please log in: this needs an access token").into());
    };
    match weft_auth::verify_bearer(&s.tokens, token, scopes, Purpose::Access).await {
        Ok(id) => Ok(id),
        Err(AuthError::NoSubject) => {
            Err(WeftError::forbidden("the token speaks for no user").into())
        }
        Err(e) if e.is_missing_scope() => Err(WeftError::forbidden(e.to_string()).into()),
        Err(e) => Err(WeftError::unauthenticated(e.to_string()).into()),
    }
}

async fn jwks(State(s): State<SharedState>) -> Json<Value> {
    let keys: Vec<Value> = s
        .tokens
        .public_keys()
        .into_iter()
        .map(|k| {
            json!({"kty": "RSA", "alg": "RS256", "use": "sig", "key_ops": ["verify"],
                   "kid": k.kid, "n": k.n, "e": k.e})
        })
        .collect();
    Json(json!({ "keys": keys }))
}

/// fence's legacy form: `{"keys": [[kid, PEM], ...]}`.
async fn legacy_keys(State(s): State<SharedState>) -> Json<Value> {
    let keys: Vec<Value> = s
        .tokens
        .public_keys()
        .into_iter()
        .map(|k| json!([k.kid, k.pem]))
        .collect();
    Json(json!({ "keys": keys }))
}

async fn openid_configuration(State(s): State<SharedState>) -> Json<Value> {
    let iss = s.tokens.issuer();
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth2/authorize"),
        "token_endpoint": format!("{iss}/oauth2/token"),
        "userinfo_endpoint": format!("{iss}/user"),
        "jwks_uri": format!("{iss}/.well-known/jwks"),
        "registration_endpoint": null,
        "scopes_supported": USER_ALLOWED_SCOPES,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "revocation_endpoint": format!("{iss}/oauth2/revoke"),
        "end_session_endpoint": format!("{iss}/logout"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": ["aud", "sub", "iss", "exp", "jti", "auth_time", "azp", "scope", "nonce", "context"],
    }))
}

/// `GET /user/user`: who the token speaks for, with the policy engine's view of them.
///
/// As fence (`login_required({"user"})`, which adds `openid`): the token needs the
/// `openid` and `user` scopes, and any token fault, a missing scope included, is a 401.
async fn user_info(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    const SCOPES: &[&str] = &["openid", "user"];
    let id = match bearer(&headers) {
        None => caller(&s, &headers, SCOPES).await?,
        Some(token) => match weft_auth::verify_bearer(&s.tokens, token, SCOPES, Purpose::Access)
            .await
        {
            Ok(id) => id,
            Err(AuthError::NoSubject) => {
                return Err(WeftError::forbidden("the token speaks for no user").into());
            }
            Err(e) => {
                return Err(
                    WeftError::unauthenticated(format!("failed to validate token: {e}")).into(),
                );
            }
        },
    };
    let Some(name) = id.user.clone() else {
        return Err(WeftError::forbidden("the token speaks for no user").into());
    };
    let claims = id.claims.as_ref();
    let snap = s.authz.fresh().await.map_err(WeftError::from)?;
    let who = weft_authz::Principal::User(name.clone());
    let mapping = snap.mapping(&who, Utc::now());
    let key = weft_authz::model::user_key(&name);
    let stored = snap.model.users.get(&key);
    let groups: Vec<&str> = snap
        .model
        .groups_of(&key)
        .map(|(g, _)| g.name.as_str())
        .collect();
    let resources: Vec<&String> = mapping.keys().collect();
    // fence reads its user record: user.yaml's `admin: true` (usersync) sets it.
    let is_admin = stored.is_some_and(|u| u.admin)
        || claims.is_some_and(|c| c.context.user.as_ref().is_some_and(|u| u.is_admin));
    Ok(Json(json!({
        "username": name,
        "sub": claims.and_then(|c| c.sub.clone()),
        "email": stored.and_then(|u| u.email.clone()),
        "display_name": null,
        "phone_number": null,
        "is_admin": is_admin,
        "idp": null,
        "azp": claims.map_or("", |c| c.azp.as_str()),
        "groups": groups,
        "resources": resources,
        "authz": &*mapping,
        "project_access": {},
        "resources_granted": [],
        "certificates_uploaded": [],
        "message": "",
    }))
    .into_response())
}

/// A body that is JSON or a form (`a=b&c=d`), read into a JSON object.
fn json_or_form(body: &[u8], content_type: Option<&str>) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    if content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        let text = std::str::from_utf8(body)
            .map_err(|_| WeftError::invalid("the form body is not UTF-8"))?;
        let pairs = crate::extract::serde_urlencoded_pairs(text.trim())?;
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            match map.get_mut(&k) {
                Some(Value::Array(a)) => a.push(Value::String(v)),
                Some(old) => {
                    let prev = old.take();
                    *old = Value::Array(vec![prev, Value::String(v)]);
                }
                None => {
                    map.insert(k, Value::String(v));
                }
            }
        }
        return Ok(Value::Object(map));
    }
    serde_json::from_slice(body)
        .map_err(|e| WeftError::invalid(format!("the body is not JSON: {e}")).into())
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

fn expires_in(q: &weft_indexd::query::Params, max: i64) -> Result<i64, WeftError> {
    match q.get("expires_in") {
        None | Some("") => Ok(max),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(|n| n.min(max))
            .ok_or_else(|| {
                WeftError::invalid(format!("expires_in must be a positive integer, not {v:?}"))
            }),
    }
}

#[derive(Deserialize)]
struct CreateKeyIn {
    #[serde(default)]
    scope: Option<ScopeIn>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopeIn {
    One(String),
    Many(Vec<String>),
}

/// `POST /user/credentials/api`: a new API key for the caller (token with `credentials`).
async fn create_key(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    let id = caller_with(&s, &headers, &["credentials"], true).await?;
    let Some(name) = id.user.clone() else {
        return Err(WeftError::forbidden("the token speaks for no user").into());
    };
    let body = body?;
    let input: CreateKeyIn = serde_json::from_value(json_or_form(&body.0, content_type(&headers))?)
        .map_err(|e| WeftError::invalid(format!("invalid API key request: {e}")))?;
    let requested: Vec<String> = match input.scope {
        None => Vec::new(),
        Some(ScopeIn::One(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(ScopeIn::Many(v)) => v,
    };
    if let Some(bad) = requested
        .iter()
        .find(|s| !USER_ALLOWED_SCOPES.contains(&s.as_str()))
    {
        return Err(WeftError::invalid(format!("scope `{bad}` is not allowed")).into());
    }
    // fence: requested ∪ {fence, openid} ∪ the caller's scopes, within the allowed ones.
    let mut scopes: Vec<String> = Vec::new();
    for s in requested
        .iter()
        .map(String::as_str)
        .chain(["fence", "openid"])
        .chain(id.scopes.iter().map(String::as_str))
    {
        if USER_ALLOWED_SCOPES.contains(&s) && !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_owned());
        }
    }
    let ttl = expires_in(&q, MAX_API_KEY_TTL)?;
    let (api_key, key_id) = s
        .tokens
        .issue_api_key(&name, &scopes, ttl)
        .await
        .map_err(WeftError::internal)?;
    Ok(Json(json!({"key_id": key_id, "api_key": api_key})).into_response())
}

async fn list_keys(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let id = caller(&s, &headers, &["credentials"]).await?;
    let name = id.user.unwrap_or_default();
    let keys = s
        .tokens
        .api_keys(&name)
        .await
        .map_err(WeftError::internal)?;
    let jtis: Vec<Value> = keys
        .into_iter()
        .map(|k| json!({"jti": k.jti, "exp": k.expires_at}))
        .collect();
    Ok(Json(json!({ "jtis": jtis })).into_response())
}

async fn delete_key(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(jti): Path<String>,
) -> Res {
    let id = caller_with(&s, &headers, &["credentials"], true).await?;
    let name = id.user.unwrap_or_default();
    if s.tokens
        .revoke_api_key(&name, &jti)
        .await
        .map_err(WeftError::internal)?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(WeftError::not_found(format!("no API key {jti}")).into())
    }
}

/// `POST /user/credentials/{api,cdis}/access_token`: an API key for an access token.
async fn access_token(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    let body = body?;
    let input = json_or_form(&body.0, content_type(&headers))?;
    let api_key = input
        .get("api_key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| WeftError::invalid("Please provide an api_key in payload"))?;
    let ttl = expires_in(&q, MAX_ACCESS_TOKEN_TTL)?;
    match s.tokens.exchange_api_key(api_key, ttl).await {
        Ok(token) => Ok(Json(json!({ "access_token": token })).into_response()),
        Err(e @ TokenError::OutlivesKey) => Err(WeftError::invalid(e.to_string()).into()),
        Err(e) => Err(WeftError::unauthenticated(e.to_string()).into()),
    }
}
