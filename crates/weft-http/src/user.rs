//! fence's identity endpoints under `/user/`: keys and OIDC discovery, the user's info with
//! its authz mapping, API keys and their exchange for access tokens.
//!
//! fence answers errors with HTML pages; clients only read the status, so weft answers the
//! same statuses with a JSON `{"error": "..."}` body.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};
use weft_auth::{AuthError, AuthMethod, Principal as Caller, Purpose};
use weft_core::WeftError;
use weft_identity::TokenError;
use weft_identity::oauth::USER_ALLOWED_SCOPES;

use crate::error::ApiError;
use crate::extract::{Body, Query, bearer};
use crate::oauth::SessionCookie;
use crate::schemas::IndexdError;

type Res = Result<Response, ApiError>;

/// fence's identity API's part of the OpenAPI document (the login and OAuth2 flows are
/// `crate::oauth`'s).
#[derive(OpenApi)]
#[openapi(
    paths(
        jwks,
        jwks_root,
        legacy_keys,
        openid_configuration,
        openid_configuration_root,
        user_info,
        list_keys,
        create_key,
        delete_key,
        access_token,
        list_keys_cdis,
        create_key_cdis,
        delete_key_cdis,
        access_token_cdis,
    ),
    // CreateKeyIn by name: the body is optional, which a `ref` says without making it nullable.
    components(schemas(IndexdError, CreateKeyIn)),
    modifiers(&SessionCookie)
)]
pub(crate) struct Api;

/// The error answers of a request that needs the caller's token or session.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum CallerErrors {
    #[response(
        status = 401,
        description = "No token or session, or the token does not verify"
    )]
    Unauthorized(IndexdError),
    #[response(
        status = 403,
        description = "The token lacks the `credentials` scope or speaks for no user, or a \
                       change made with a session comes from another origin"
    )]
    Forbidden(IndexdError),
}

/// Longest access token from an API key, and the default (fence `MAX_ACCESS_TOKEN_TTL`).
const MAX_ACCESS_TOKEN_TTL: i64 = 3600;
/// Longest API key, and the default (fence `MAX_API_KEY_TTL`).
const MAX_API_KEY_TTL: i64 = 2_592_000;

/// What fence's identity API's handlers reach.
pub struct UserState {
    pub authz: std::sync::Arc<weft_authz::AuthzService>,
    pub tokens: std::sync::Arc<weft_identity::Tokens>,
    pub oauth: std::sync::Arc<weft_identity::oauth::OAuth>,
    /// This commons' public base URL.
    pub base_url: String,
}

type SharedState = std::sync::Arc<UserState>;

/// fence's identity API's routes.
pub(crate) fn routes() -> crate::routes::Routes<SharedState> {
    let mut r = crate::routes::Routes::new()
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
        if let Some((_, sess)) = crate::oauth::session(&s.oauth, headers).await? {
            if changes {
                let ours = url::Url::parse(&s.base_url)
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

/// A JSON Web Key Set (RFC 7517): the keys that verify this weft's tokens.
#[derive(Serialize, ToSchema)]
pub(crate) struct Jwks {
    keys: Vec<Jwk>,
}

/// One RSA verification key (RFC 7517, RFC 7518 §6.3).
#[derive(Serialize, ToSchema)]
pub(crate) struct Jwk {
    /// `RSA`.
    kty: &'static str,
    /// `RS256`.
    alg: &'static str,
    /// `sig`.
    #[serde(rename = "use")]
    usage: &'static str,
    /// `["verify"]`.
    key_ops: Vec<&'static str>,
    /// The key id tokens name in their header.
    kid: String,
    /// The modulus, base64url without padding.
    n: String,
    /// The exponent, base64url without padding.
    e: String,
}

#[utoipa::path(get, path = "/user/.well-known/jwks", tag = "user",
    summary = "Token verification keys (JWKS)",
    responses((status = 200, description = "The key set", body = Jwks)))]
async fn jwks(State(s): State<SharedState>) -> Json<Jwks> {
    let keys = s
        .tokens
        .public_keys()
        .into_iter()
        .map(|k| Jwk {
            kty: "RSA",
            alg: "RS256",
            usage: "sig",
            key_ops: vec!["verify"],
            kid: k.kid,
            n: k.n,
            e: k.e,
        })
        .collect();
    Json(Jwks { keys })
}

// The root aliases are served by the same handlers.
#[utoipa::path(get, path = "/.well-known/jwks", tag = "user",
    summary = "Token verification keys (JWKS, root alias)",
    responses((status = 200, description = "The key set", body = Jwks)))]
#[allow(dead_code)]
fn jwks_root() {}

/// fence's legacy key list: `{"keys": [[kid, PEM], ...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct LegacyKeys {
    /// `[kid, public key as SubjectPublicKeyInfo PEM]` per key. Documented as lists of
    /// strings: schemathesis does not read the pair's 3.1 form (`prefixItems`).
    #[schema(value_type = Vec<Vec<String>>)]
    keys: Vec<(String, String)>,
}

#[utoipa::path(get, path = "/user/jwt/keys", tag = "user",
    summary = "Token verification keys, fence's legacy [[kid, PEM]] form",
    responses((status = 200, description = "The keys", body = LegacyKeys)))]
async fn legacy_keys(State(s): State<SharedState>) -> Json<LegacyKeys> {
    let keys = s
        .tokens
        .public_keys()
        .into_iter()
        .map(|k| (k.kid, k.pem))
        .collect();
    Json(LegacyKeys { keys })
}

/// OpenID Connect discovery metadata (OpenID Connect Discovery 1.0 §3, RFC 8414).
#[derive(Serialize, ToSchema)]
pub(crate) struct OpenIdConfiguration {
    /// `<base URL>/user`.
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    /// Always null: clients are registered with `weft client create`.
    #[schema(required)]
    registration_endpoint: Option<String>,
    scopes_supported: Vec<&'static str>,
    response_types_supported: Vec<&'static str>,
    grant_types_supported: Vec<&'static str>,
    code_challenge_methods_supported: Vec<&'static str>,
    revocation_endpoint: String,
    end_session_endpoint: String,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    claims_supported: Vec<&'static str>,
}

#[utoipa::path(get, path = "/user/.well-known/openid-configuration", tag = "user",
    summary = "OpenID Connect discovery",
    responses((status = 200, description = "The provider metadata", body = OpenIdConfiguration)))]
async fn openid_configuration(State(s): State<SharedState>) -> Json<OpenIdConfiguration> {
    let iss = s.tokens.issuer();
    Json(OpenIdConfiguration {
        issuer: iss.to_owned(),
        authorization_endpoint: format!("{iss}/oauth2/authorize"),
        token_endpoint: format!("{iss}/oauth2/token"),
        userinfo_endpoint: format!("{iss}/user"),
        jwks_uri: format!("{iss}/.well-known/jwks"),
        registration_endpoint: None,
        scopes_supported: USER_ALLOWED_SCOPES.to_vec(),
        response_types_supported: vec!["code"],
        grant_types_supported: vec!["authorization_code", "refresh_token", "client_credentials"],
        code_challenge_methods_supported: vec!["S256", "plain"],
        revocation_endpoint: format!("{iss}/oauth2/revoke"),
        end_session_endpoint: format!("{iss}/logout"),
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["RS256"],
        token_endpoint_auth_methods_supported: vec![
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        claims_supported: vec![
            "aud",
            "sub",
            "iss",
            "exp",
            "jti",
            "auth_time",
            "azp",
            "scope",
            "nonce",
            "context",
        ],
    })
}

#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "user",
    summary = "OpenID Connect discovery (root alias)",
    responses((status = 200, description = "The provider metadata", body = OpenIdConfiguration)))]
#[allow(dead_code)]
fn openid_configuration_root() {}

/// fence's user info: who the token speaks for, with the policy engine's view of them.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserInfo<'a> {
    username: String,
    /// The token's `sub` claim.
    #[schema(required)]
    sub: Option<String>,
    /// The email the policy engine has for the user.
    #[schema(required)]
    email: Option<String>,
    /// Always null.
    #[schema(required)]
    display_name: Option<String>,
    /// Always null.
    #[schema(required)]
    phone_number: Option<String>,
    is_admin: bool,
    /// Always null.
    #[schema(required)]
    idp: Option<String>,
    /// The client the token was issued to; empty for tokens weft issued itself.
    azp: String,
    /// The user's groups in the policy engine.
    groups: Vec<String>,
    /// The resource paths of `authz`.
    resources: Vec<String>,
    /// Resource path to the actions granted on it (the policy engine's auth mapping).
    #[schema(value_type = BTreeMap<String, Vec<AuthzAction>>)]
    authz: &'a weft_authz::engine::Mapping,
    /// Always empty.
    project_access: BTreeMap<String, Vec<String>>,
    /// Always empty.
    resources_granted: Vec<String>,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    certificates_uploaded: Vec<Value>,
    /// Always empty.
    message: String,
}

/// `{service, method}` granted on a resource; either may be `*`.
#[derive(ToSchema)]
#[allow(dead_code)] // only in the document: weft_authz::Action is serialized
pub(crate) struct AuthzAction {
    service: String,
    method: String,
}

/// `GET /user/user`: who the token speaks for, with the policy engine's view of them.
///
/// As fence (`login_required({"user"})`, which adds `openid`): the token needs the
/// `openid` and `user` scopes, and any token fault, a missing scope included, is a 401.
#[utoipa::path(get, path = "/user/user", tag = "user",
    summary = "The token's user, with its authz mapping",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The user", body = UserInfo<'_>),
        (status = 401, description = "No token or session, or the token does not verify or lacks the `openid` or `user` scope", body = IndexdError),
        (status = 403, description = "The token speaks for no user (a client's own token)", body = IndexdError)))]
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
    let groups = snap
        .model
        .groups_of(&key)
        .map(|(g, _)| g.name.clone())
        .collect();
    let resources = mapping.keys().cloned().collect();
    // fence reads its user record: user.yaml's `admin: true` (usersync) sets it.
    let is_admin = stored.is_some_and(|u| u.admin)
        || claims.is_some_and(|c| c.context.user.as_ref().is_some_and(|u| u.is_admin));
    Ok(Json(UserInfo {
        sub: claims.and_then(|c| c.sub.clone()),
        email: stored.and_then(|u| u.email.clone()),
        display_name: None,
        phone_number: None,
        is_admin,
        idp: None,
        azp: claims.map_or_else(String::new, |c| c.azp.clone()),
        groups,
        resources,
        authz: &mapping,
        project_access: BTreeMap::new(),
        resources_granted: Vec::new(),
        certificates_uploaded: Vec::new(),
        message: String::new(),
        username: name,
    })
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

/// What a new API key may do: scopes beyond `fence` and `openid` (which it always has);
/// the caller's own scopes are added. JSON or a form (`scope=a&scope=b`).
#[derive(Deserialize, ToSchema)]
pub(crate) struct CreateKeyIn {
    /// Scopes: space-separated, or a list. Each must be one of fence's user scopes.
    #[serde(default)]
    scope: Option<ScopeIn>,
}

#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum ScopeIn {
    One(String),
    Many(Vec<String>),
}

/// `?expires_in=`: the lifetime asked for.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ExpiresIn {
    /// Seconds, a positive integer; longer than the maximum (and the default) means the
    /// maximum: 30 days for an API key, an hour (and the key's own end) for an access
    /// token.
    #[param(minimum = 1)]
    expires_in: Option<i64>,
}

/// A new API key: gen3's `credentials.json`.
#[derive(Serialize, ToSchema)]
pub(crate) struct NewApiKey {
    /// The key's `jti`.
    key_id: String,
    /// The key, a JWT.
    api_key: String,
}

/// `POST /user/credentials/api`: a new API key for the caller (token with `credentials`).
#[utoipa::path(post, path = "/user/credentials/api", tag = "user",
    summary = "Create an API key (credentials.json)", params(ExpiresIn),
    request_body(description = "Optional: no body asks for the default scopes",
        content((ref("#/components/schemas/CreateKeyIn") = "application/json"),
            (ref("#/components/schemas/CreateKeyIn") = "application/x-www-form-urlencoded"))),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The key", body = NewApiKey),
        (status = 400, description = "Malformed body, a scope that is not allowed, or a bad expires_in", body = IndexdError),
        CallerErrors,
        (status = 413, description = "Body over max_body_bytes", body = IndexdError)))]
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
    Ok(Json(NewApiKey { key_id, api_key }).into_response())
}

/// The caller's live API keys.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeys {
    jtis: Vec<ApiKeyId>,
}

/// One API key: its id and end.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApiKeyId {
    jti: String,
    /// When it expires, Unix seconds.
    exp: i64,
}

#[utoipa::path(get, path = "/user/credentials/api", tag = "user",
    summary = "The caller's API keys", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Unexpired, unrevoked keys", body = ApiKeys), CallerErrors))]
async fn list_keys(State(s): State<SharedState>, headers: HeaderMap) -> Res {
    let id = caller(&s, &headers, &["credentials"]).await?;
    let name = id.user.unwrap_or_default();
    let keys = s
        .tokens
        .api_keys(&name)
        .await
        .map_err(WeftError::internal)?;
    let jtis = keys
        .into_iter()
        .map(|k| ApiKeyId {
            jti: k.jti,
            exp: k.expires_at,
        })
        .collect();
    Ok(Json(ApiKeys { jtis }).into_response())
}

#[utoipa::path(delete, path = "/user/credentials/api/{jti}", tag = "user",
    summary = "Revoke an API key", params(("jti" = String, Path, description = "The key's id (`key_id`)")),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Revoked"), CallerErrors,
        (status = 404, description = "The caller has no such key", body = IndexdError)))]
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

/// An API key to exchange; other fields (`key_id` of a `credentials.json`) are ignored.
/// JSON or a form.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // only in the document: the handler reads the field from the JSON
pub(crate) struct ApiKeyExchange {
    api_key: String,
}

/// A new access token.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccessToken {
    /// A JWT with the API key's scopes.
    access_token: String,
}

/// `POST /user/credentials/{api,cdis}/access_token`: an API key for an access token.
#[utoipa::path(post, path = "/user/credentials/api/access_token", tag = "user",
    summary = "Exchange an API key for an access token", params(ExpiresIn),
    request_body(content((ApiKeyExchange = "application/json"),
        (ApiKeyExchange = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The access token", body = AccessToken),
        (status = 400, description = "Malformed body, no api_key, a bad expires_in, or an expires_in past the key's end", body = IndexdError),
        (status = 401, description = "The API key does not verify, expired or was revoked", body = IndexdError),
        (status = 413, description = "Body over max_body_bytes", body = IndexdError)))]
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
        Ok(access_token) => Ok(Json(AccessToken { access_token }).into_response()),
        Err(e @ TokenError::OutlivesKey) => Err(WeftError::invalid(e.to_string()).into()),
        Err(e) => Err(WeftError::unauthenticated(e.to_string()).into()),
    }
}

// `/credentials/cdis/*`, fence's deprecated aliases, are served by the same handlers.
#[utoipa::path(get, path = "/user/credentials/cdis", tag = "user",
    summary = "The caller's API keys (deprecated alias)", security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "Unexpired, unrevoked keys", body = ApiKeys), CallerErrors))]
#[deprecated]
#[allow(dead_code)]
fn list_keys_cdis() {}

#[utoipa::path(post, path = "/user/credentials/cdis", tag = "user",
    summary = "Create an API key (deprecated alias)", params(ExpiresIn),
    request_body(description = "Optional: no body asks for the default scopes",
        content((ref("#/components/schemas/CreateKeyIn") = "application/json"),
            (ref("#/components/schemas/CreateKeyIn") = "application/x-www-form-urlencoded"))),
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The key", body = NewApiKey),
        (status = 400, description = "Malformed body, a scope that is not allowed, or a bad expires_in", body = IndexdError),
        CallerErrors,
        (status = 413, description = "Body over max_body_bytes", body = IndexdError)))]
#[deprecated]
#[allow(dead_code)]
fn create_key_cdis() {}

#[utoipa::path(delete, path = "/user/credentials/cdis/{jti}", tag = "user",
    summary = "Revoke an API key (deprecated alias)", params(("jti" = String, Path, description = "The key's id (`key_id`)")),
    security(("bearer" = []), ("session" = [])),
    responses((status = 204, description = "Revoked"), CallerErrors,
        (status = 404, description = "The caller has no such key", body = IndexdError)))]
#[deprecated]
#[allow(dead_code)]
fn delete_key_cdis() {}

#[utoipa::path(post, path = "/user/credentials/cdis/access_token", tag = "user",
    summary = "Exchange an API key for an access token (deprecated alias; the gen3 SDK's path)",
    params(ExpiresIn),
    request_body(content((ApiKeyExchange = "application/json"),
        (ApiKeyExchange = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "The access token", body = AccessToken),
        (status = 400, description = "Malformed body, no api_key, a bad expires_in, or an expires_in past the key's end", body = IndexdError),
        (status = 401, description = "The API key does not verify, expired or was revoked", body = IndexdError),
        (status = 413, description = "Body over max_body_bytes", body = IndexdError)))]
#[deprecated]
#[allow(dead_code)]
fn access_token_cdis() {}
