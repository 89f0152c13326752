//! fence's login and OAuth2 provider endpoints under `/user/`: `/login` (the providers),
//! `/login/{idp}` and its callback, `/logout`, and `/oauth2/authorize`, `/token`,
//! `/revoke`. Browser sessions are a cookie (`weft_session`) naming a stored session.
//!
//! Nothing here redirects anywhere it was not told it may: codes only go to a client's
//! registered redirect URIs (an unregistered one is answered 400, never followed), and the
//! `redirect`/`next` of login and logout must be a path on this weft, this weft's origin,
//! or the origin of a registered redirect URI.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use cookie::{Cookie, SameSite};
use serde_json::{Value, json};
use weft_core::WeftError;
use weft_identity::login::{LOGIN_COOKIE, LoginError};
use weft_identity::oauth::{OAuth, OAuthError, UserProfile, secret_hash};

use crate::SharedState;
use crate::error::ApiError;
use crate::extract::{Body, Query};

/// The browser session cookie.
pub const SESSION_COOKIE: &str = "weft_session";
/// What the login-state HMAC keys are derived for (see `weft_identity::secret`).
const LOGIN_STATE_PURPOSE: &str = "login-state";
/// The development login's provider id.
const MOCK_IDP: &str = "mock";

type Res = Result<Response, ApiError>;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/user/login", get(providers))
        .route("/user/login/{idp}", get(login_start))
        .route("/user/login/{idp}/login", get(login_callback))
        .route("/user/logout", get(logout))
        .route(
            "/user/oauth2/authorize",
            get(authorize).post(authorize_post),
        )
        .route("/user/oauth2/token", axum::routing::post(token))
        .route("/user/oauth2/revoke", axum::routing::post(revoke))
}

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

fn set_cookie(resp: &mut Response, c: &Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn base_cookie<'a>(s: &SharedState, name: &'a str, value: String, path: &'a str) -> Cookie<'a> {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(s.config.public_base_url().starts_with("https://"))
        .build()
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn origin(u: &url::Url) -> String {
    u.origin().ascii_serialization()
}

/// May the browser be sent to `target` after login or logout? A path on this weft, this
/// weft's origin, or the origin of a registered client redirect URI. Returns the absolute
/// URL to use.
async fn allowed_redirect(s: &SharedState, target: &str) -> Result<String, ApiError> {
    let base = s.config.public_base_url();
    let refuse = || -> ApiError {
        WeftError::invalid(format!(
            "redirect `{target}` is not allowed: use a path on this commons or a registered \
             client's redirect URI"
        ))
        .into()
    };
    if target.starts_with('/') && !target.starts_with("//") && !target.starts_with("/\\") {
        return Ok(format!("{base}{target}"));
    }
    let url = url::Url::parse(target).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse());
    }
    let base_url = url::Url::parse(&base).map_err(WeftError::internal)?;
    if origin(&url) == origin(&base_url) {
        return Ok(url.to_string());
    }
    let clients = s.oauth.clients().await.map_err(oauth_internal)?;
    let registered = clients
        .iter()
        .flat_map(|c| c.redirect_uris.iter())
        .filter_map(|u| url::Url::parse(u).ok())
        .any(|u| origin(&u) == origin(&url));
    if registered {
        Ok(url.to_string())
    } else {
        Err(refuse())
    }
}

fn oauth_internal(e: OAuthError) -> ApiError {
    WeftError::internal(e.to_string()).into()
}

/// The logged-in session of this request, if any.
pub(crate) async fn session(
    s: &SharedState,
    headers: &HeaderMap,
) -> Result<Option<(String, weft_store::Session)>, ApiError> {
    let Some(cookie) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let found = s.oauth.session(&cookie).await.map_err(oauth_internal)?;
    Ok(found.map(|f| (cookie, f)))
}

fn default_idp(s: &SharedState) -> Option<String> {
    s.config
        .login
        .default_provider
        .clone()
        .or_else(|| s.login.providers().first().map(|p| p.id.clone()))
        .or_else(|| {
            s.config
                .login
                .mock_user
                .as_ref()
                .map(|_| MOCK_IDP.to_owned())
        })
}

/// `GET /user/login`: the login providers, as fence lists them.
async fn providers(State(s): State<SharedState>) -> Json<Value> {
    let base = s.config.public_base_url();
    let mut list: Vec<Value> = s
        .login
        .providers()
        .into_iter()
        .map(|p| {
            let url = format!("{base}/user/login/{}", p.id);
            json!({"id": p.id, "idp": p.id, "name": p.name, "url": url,
                   "urls": [{"name": p.name, "url": url}], "desc": null, "secondary": false})
        })
        .collect();
    if s.config.login.mock_user.is_some() {
        let url = format!("{base}/user/login/{MOCK_IDP}");
        list.push(
            json!({"id": MOCK_IDP, "idp": MOCK_IDP, "name": "Development login",
                         "url": url, "urls": [{"name": "Development login", "url": url}],
                         "desc": "development only: no password", "secondary": true}),
        );
    }
    let default = default_idp(&s)
        .and_then(|d| list.iter().find(|p| p["id"] == d.as_str()).cloned())
        .unwrap_or(Value::Null);
    Json(json!({"default_provider": default, "providers": list}))
}

/// Log `username` in: create the user in the policy engine on first login, start a
/// session, and send the browser on (or answer who logged in).
async fn logged_in(
    s: &SharedState,
    username: &str,
    email: Option<String>,
    idp: &str,
    after: Option<&str>,
) -> Res {
    if let Err(e) = s.authz.ensure_user_on_login(username, email).await {
        return Err(WeftError::internal(format!("creating the user: {e}")).into());
    }
    let id = s
        .oauth
        .create_session(username, idp)
        .await
        .map_err(oauth_internal)?;
    let mut resp = match after {
        Some(to) => redirect(to),
        None => Json(json!({"username": username, "idp": idp})).into_response(),
    };
    let mut c = base_cookie(s, SESSION_COOKIE, id, "/");
    c.set_max_age(cookie::time::Duration::seconds(s.oauth.session_ttl));
    set_cookie(&mut resp, &c);
    tracing::info!(user = %username, idp = %idp, "logged in");
    Ok(resp)
}

/// `GET /user/login/{idp}?redirect=`: start a login at an external provider (or, for
/// the development login, log the configured user in at once).
async fn login_start(
    State(s): State<SharedState>,
    Path(idp): Path<String>,
    Query(q): Query,
) -> Res {
    let after = match q.get("redirect").filter(|r| !r.is_empty()) {
        Some(r) => Some(allowed_redirect(&s, r).await?),
        None => None,
    };
    if idp == MOCK_IDP
        && let Some(user) = s.config.login.mock_user.clone()
    {
        return logged_in(&s, &user, None, MOCK_IDP, after.as_deref()).await;
    }
    if !s.login.has(&idp) {
        return Err(WeftError::not_found(format!("no login provider `{idp}`")).into());
    }
    let keys = login_keys(&s).await?;
    let start = s
        .login
        .start(&idp, after, &keys[0])
        .await
        .map_err(login_error)?;
    let mut resp = redirect(&start.url);
    let mut c = base_cookie(&s, LOGIN_COOKIE, start.cookie, "/user/login");
    c.set_max_age(cookie::time::Duration::seconds(600));
    set_cookie(&mut resp, &c);
    Ok(resp)
}

async fn login_keys(s: &SharedState) -> Result<Vec<[u8; 32]>, ApiError> {
    let keys = s
        .tokens
        .derived_secrets(LOGIN_STATE_PURPOSE)
        .await
        .map_err(WeftError::from)?;
    if keys.is_empty() {
        return Err(WeftError::internal("no signing key").into());
    }
    Ok(keys)
}

fn login_error(e: LoginError) -> ApiError {
    match e {
        LoginError::UnknownProvider(_) => WeftError::not_found(e.to_string()),
        LoginError::BadState(_) => WeftError::invalid(e.to_string()),
        LoginError::Denied(_) => WeftError::unauthenticated(e.to_string()),
        LoginError::Upstream(_) => WeftError::new(weft_core::ErrorCode::Unavailable, e.to_string()),
        LoginError::Config(_) => WeftError::internal(e.to_string()),
    }
    .into()
}

/// `GET /user/login/{idp}/login?code=&state=`: the provider's callback.
async fn login_callback(
    State(s): State<SharedState>,
    Path(idp): Path<String>,
    headers: HeaderMap,
    Query(q): Query,
) -> Res {
    if let Some(err) = q.get("error") {
        let desc = q.get("error_description").unwrap_or_default();
        return Err(WeftError::unauthenticated(format!(
            "the identity provider refused the login: {err} {desc}"
        ))
        .into());
    }
    let code = q
        .get("code")
        .ok_or_else(|| WeftError::invalid("the callback has no `code`"))?;
    let state = q
        .get("state")
        .ok_or_else(|| WeftError::invalid("the callback has no `state`"))?;
    let keys = login_keys(&s).await?;
    let who = s
        .login
        .finish(
            &idp,
            code,
            state,
            cookie_value(&headers, LOGIN_COOKIE).as_deref(),
            &keys,
        )
        .await
        .map_err(login_error)?;
    let mut resp = logged_in(&s, &who.username, who.email, &who.idp, who.after.as_deref()).await?;
    let mut gone = base_cookie(&s, LOGIN_COOKIE, String::new(), "/user/login");
    gone.make_removal();
    set_cookie(&mut resp, &gone);
    Ok(resp)
}

/// `GET /user/logout?next=`: end the session; go to `next` if it is allowed.
async fn logout(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    let next = match q.get("next").filter(|n| !n.is_empty()) {
        Some(n) => Some(allowed_redirect(&s, n).await?),
        None => None,
    };
    if let Some(cookie) = cookie_value(&headers, SESSION_COOKIE) {
        s.oauth.end_session(&cookie).await.map_err(oauth_internal)?;
    }
    let mut resp = match next {
        Some(to) => redirect(&to),
        None => Json(json!({"message": "logged out"})).into_response(),
    };
    let mut gone = base_cookie(&s, SESSION_COOKIE, String::new(), "/");
    gone.make_removal();
    set_cookie(&mut resp, &gone);
    Ok(resp)
}

/// An OAuth2 error as JSON (RFC 6749 §5.2), 401 for client authentication failures.
fn oauth_error(e: &OAuthError) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!("oauth2: {e}");
    }
    let mut r = (
        status,
        Json(json!({"error": e.error, "error_description": e.description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Send an authorization error back to the client's (already checked) redirect URI.
fn error_to_client(redirect_uri: &str, state: Option<&str>, e: &OAuthError) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return oauth_error(e);
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", e.error);
        q.append_pair("error_description", &e.description);
        if let Some(st) = state {
            q.append_pair("state", st);
        }
    }
    redirect(url.as_str())
}

/// Authorization parameters, from the query (GET) or the form (POST).
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, k: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
    fn owned(&self, k: &str) -> Option<String> {
        self.get(k).map(str::to_owned)
    }
}

fn form_pairs(headers: &HeaderMap, body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(WeftError::invalid(
            "the body must be application/x-www-form-urlencoded (RFC 6749)",
        )
        .into());
    }
    let text =
        std::str::from_utf8(body).map_err(|_| WeftError::invalid("the form body is not UTF-8"))?;
    crate::extract::serde_urlencoded_pairs(text.trim())
}

async fn authorize(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    authorize_with(&s, &headers, Method::GET, Params(q.0)).await
}

async fn authorize_post(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    let mut pairs = q.0;
    pairs.extend(form_pairs(&headers, &body?.0)?);
    authorize_with(&s, &headers, Method::POST, Params(pairs)).await
}

/// `GET|POST /user/oauth2/authorize`.
async fn authorize_with(s: &SharedState, headers: &HeaderMap, method: Method, p: Params) -> Res {
    // Client and redirect URI first: until both check out, errors are answered here.
    let (client, redirect_uri) = match s
        .oauth
        .authorize_target(p.get("client_id"), p.get("redirect_uri"))
        .await
    {
        Ok(t) => t,
        Err(e) => return Ok(oauth_error(&e)),
    };
    let state = p.owned("state");
    let req = match OAuth::authorize_request(client, redirect_uri.clone(), |k| p.owned(k)) {
        Ok(r) => r,
        Err(e) => return Ok(error_to_client(&redirect_uri, state.as_deref(), &e)),
    };
    let Some((cookie, sess)) = session(s, headers).await? else {
        // Not logged in: log in first, then come back here.
        let idp = p.owned("idp").or_else(|| default_idp(s)).ok_or_else(|| {
            WeftError::unauthenticated("not logged in, and no login provider is configured")
        })?;
        let mut back = url::Url::parse(&format!(
            "{}/user/oauth2/authorize",
            s.config.public_base_url()
        ))
        .map_err(WeftError::internal)?;
        back.query_pairs_mut()
            .extend_pairs(p.0.iter().filter(|(k, _)| k != "confirm" && k != "csrf"));
        let mut login =
            url::Url::parse(&format!("{}/user/login/{idp}", s.config.public_base_url()))
                .map_err(WeftError::internal)?;
        login
            .query_pairs_mut()
            .append_pair("redirect", back.as_str());
        return Ok(redirect(login.as_str()));
    };
    let consent_token = secret_hash(&format!("consent\0{cookie}"));
    let confirmed = method == Method::POST
        && p.get("confirm") == Some("yes")
        && p.get("csrf") == Some(consent_token.as_str());
    if method == Method::POST && p.get("confirm").is_some() && !confirmed {
        if p.get("confirm") == Some("yes") {
            return Err(WeftError::forbidden("the consent form is stale or forged").into());
        }
        return Ok(error_to_client(
            &redirect_uri,
            state.as_deref(),
            &OAuthError {
                error: "access_denied",
                description: "the user declined".into(),
            },
        ));
    }
    if !(req.client.auto_approve || confirmed) {
        return Ok(consent_page(s, &req, &p, &sess.username, &consent_token));
    }
    let code = s
        .oauth
        .issue_code(&req, &sess.username, sess.created_at)
        .await
        .map_err(oauth_internal)?;
    let mut url = url::Url::parse(&redirect_uri).map_err(WeftError::internal)?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(st) = &state {
            q.append_pair("state", st);
        }
    }
    if confirmed {
        // fence: a confirmed POST answers the redirect as JSON.
        let mut r = Json(json!({"redirect": url.as_str()})).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(r);
    }
    Ok(redirect(url.as_str()))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn consent_page(
    s: &SharedState,
    req: &weft_identity::oauth::AuthorizeRequest,
    p: &Params,
    user: &str,
    csrf: &str,
) -> Response {
    let hidden: String =
        p.0.iter()
            .filter(|(k, _)| k != "confirm" && k != "csrf")
            .map(|(k, v)| {
                format!(
                    r#"<input type="hidden" name="{}" value="{}">"#,
                    escape(k),
                    escape(v)
                )
            })
            .collect();
    let scopes: String = req
        .scopes
        .iter()
        .map(|sc| format!("<li><code>{}</code></li>", escape(sc)))
        .collect();
    let action = format!("{}/user/oauth2/authorize", s.config.public_base_url());
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Authorize {client}</title></head>
<body><h1>Authorize {client}?</h1>
<p>Signed in as <b>{user}</b>. The application <b>{client}</b> asks to act for you with:</p>
<ul>{scopes}</ul><p>It will be sent to <code>{uri}</code>.</p>
<form method="post" action="{action}">{hidden}<input type="hidden" name="csrf" value="{csrf}">
<button name="confirm" value="yes">Allow</button> <button name="confirm" value="no">Deny</button>
</form></body></html>"#,
        client = escape(&req.client.name),
        user = escape(user),
        uri = escape(&req.redirect_uri),
        action = escape(&action),
    );
    let mut r = Html(page).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    r
}

/// Client credentials from HTTP Basic (form-urlencoded, RFC 6749 §2.3.1) or the form.
fn client_credentials(
    headers: &HeaderMap,
    p: &Params,
) -> Result<(String, Option<String>), OAuthError> {
    if let Some(v) = headers.get(header::AUTHORIZATION)
        && let Some((scheme, _)) = v.to_str().ok().and_then(|v| v.split_once(' '))
        && scheme.eq_ignore_ascii_case("basic")
    {
        let bad = || OAuthError::invalid_client("malformed Basic credentials");
        let (id, secret) = crate::extract::basic(v).ok_or_else(bad)?;
        let decode = |x: &str| {
            crate::extract::serde_urlencoded_pairs(&format!("v={x}"))
                .ok()
                .and_then(|mut v| v.pop())
                .map(|(_, v)| v)
                .ok_or_else(bad)
        };
        return Ok((decode(&id)?, Some(decode(&secret)?)));
    }
    let id = p
        .owned("client_id")
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok((id, p.owned("client_secret")))
}

/// A client's request parameters: the query's, then the form body's.
fn client_params(
    q: weft_indexd::query::Params,
    headers: &HeaderMap,
    body: Result<Body, ApiError>,
) -> Result<Params, OAuthError> {
    let mut pairs = q.0;
    let form = body
        .and_then(|b| form_pairs(headers, &b.0))
        .map_err(|e| OAuthError::invalid_request(e.error.message))?;
    pairs.extend(form);
    Ok(Params(pairs))
}

/// The client the request authenticates as (HTTP Basic, or the form's client_id and
/// client_secret).
async fn authenticated_client(
    s: &SharedState,
    headers: &HeaderMap,
    p: &Params,
) -> Result<weft_store::OAuthClient, OAuthError> {
    let (id, secret) = client_credentials(headers, p)?;
    s.oauth.authenticate_client(&id, secret.as_deref()).await
}

/// `POST /user/oauth2/token`: the authorization-code, refresh-token and
/// client-credentials grants. Parameters from the form body, and from the query (the gen3
/// SDK sends `grant_type` and `scope` of the client-credentials grant there).
async fn token(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    let p = match client_params(q, &headers, body) {
        Ok(p) => p,
        Err(e) => return Ok(oauth_error(&e)),
    };
    let result = async {
        let client = authenticated_client(&s, &headers, &p).await?;
        match p.get("grant_type") {
            Some("authorization_code") => {
                let snap =
                    s.authz.fresh().await.map_err(|e| {
                        OAuthError::invalid_request(format!("the policy engine: {e}"))
                    })?;
                let profile = |user: &str| UserProfile {
                    email: snap
                        .model
                        .users
                        .get(&weft_authz::model::user_key(user))
                        .and_then(|u| u.email.clone()),
                };
                s.oauth
                    .exchange_code(
                        &client,
                        p.get("code"),
                        p.get("redirect_uri"),
                        p.get("code_verifier"),
                        &profile,
                    )
                    .await
            }
            Some("refresh_token") => {
                s.oauth
                    .refresh(&client, p.get("refresh_token"), p.get("scope"))
                    .await
            }
            Some("client_credentials") => s.oauth.client_credentials(&client, p.get("scope")),
            Some(other) => Err(OAuthError::unsupported_grant_type(format!(
                "grant_type `{other}` is not served"
            ))),
            None => Err(OAuthError::invalid_request("grant_type is required")),
        }
    }
    .await;
    match result {
        Ok(t) => {
            let mut r = Json(t).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(r)
        }
        Err(e) => Ok(oauth_error(&e)),
    }
}

/// `POST /user/oauth2/revoke` (RFC 7009): a client revokes a refresh token it holds.
async fn revoke(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query,
    body: Result<Body, ApiError>,
) -> Res {
    let p = match client_params(q, &headers, body) {
        Ok(p) => p,
        Err(e) => return Ok(oauth_error(&e)),
    };
    let result = async {
        let client = authenticated_client(&s, &headers, &p).await?;
        let token = p
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        s.oauth.revoke(&client, token).await
    }
    .await;
    match result {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(e) => Ok(oauth_error(&e)),
    }
}
