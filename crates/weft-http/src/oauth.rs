//! fence's login and OAuth2 provider endpoints under `/user/`: `/login` (the providers),
//! `/login/{idp}` and its callback, `/logout`, and `/oauth2/authorize`, `/token`,
//! `/revoke`. Browser sessions are a cookie (`weft_session`) naming a stored session.
//!
//! Nothing here redirects anywhere it was not told it may: codes only go to a client's
//! registered redirect URIs (an unregistered one is answered 400, never followed), and the
//! `redirect`/`next` of login and logout must be a path on this weft, this weft's origin,
//! or the origin of a registered redirect URI.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use weft_core::WeftError;
use weft_identity::login::{LOGIN_COOKIE, LoginError};
use weft_identity::oauth::{OAuth, OAuthError, UserProfile, secret_hash};

use crate::error::ApiError;
use crate::extract::{Body, Query};
use crate::schemas::IndexdError;

/// The login and OAuth2 provider endpoints' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        providers,
        login_start,
        login_callback,
        logout,
        authorize,
        authorize_post,
        token,
        revoke,
    ),
    // The form bodies by name: they are optional, which a `ref` says without making them
    // nullable.
    components(schemas(IndexdError, AuthorizeForm, TokenRequest, RevokeRequest)),
    modifiers(&SessionCookie)
)]
pub(crate) struct Api;

/// Adds the `session` security scheme: the browser session cookie that login sets.
pub(crate) struct SessionCookie;

impl utoipa::Modify for SessionCookie {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "session",
                SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                    SESSION_COOKIE,
                    "The browser session that /user/login starts",
                ))),
            );
    }
}

/// The browser session cookie.
pub const SESSION_COOKIE: &str = "weft_session";
/// What the login-state HMAC keys are derived for (see `weft_identity::secret`).
const LOGIN_STATE_PURPOSE: &str = "login-state";
/// The development login's provider id.
const MOCK_IDP: &str = "mock";

type Res = Result<Response, ApiError>;

/// What the login and OAuth2 handlers reach.
pub struct OAuthState {
    pub authz: std::sync::Arc<weft_authz::AuthzService>,
    pub oauth: std::sync::Arc<weft_identity::oauth::OAuth>,
    pub tokens: std::sync::Arc<weft_identity::Tokens>,
    /// External OIDC providers people log in through.
    pub login: std::sync::Arc<weft_identity::login::Login>,
    pub login_config: weft_config::LoginConfig,
    /// This commons' public base URL.
    pub base_url: String,
}

type SharedState = std::sync::Arc<OAuthState>;

/// The login flow's and OAuth2's routes.
pub(crate) fn routes() -> crate::routes::Routes<SharedState> {
    crate::routes::Routes::new()
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
        .secure(s.base_url.starts_with("https://"))
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
    let base = s.base_url.clone();
    let refuse = || -> ApiError {
        WeftError::invalid(format!(
            "redirect `{target}` is not allowed: use a path on this commons or a registered \
             client's redirect URI"
        ))
        .into()
    };
    // A control character cannot go in a Location header.
    if target.chars().any(char::is_control) {
        return Err(refuse());
    }
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
    oauth: &weft_identity::oauth::OAuth,
    headers: &HeaderMap,
) -> Result<Option<(String, weft_store::Session)>, ApiError> {
    let Some(cookie) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let found = oauth.session(&cookie).await.map_err(oauth_internal)?;
    Ok(found.map(|f| (cookie, f)))
}

fn default_idp(s: &SharedState) -> Option<String> {
    s.login_config
        .default_provider
        .clone()
        .or_else(|| s.login.providers().first().map(|p| p.id.clone()))
        .or_else(|| {
            s.login_config
                .mock_user
                .as_ref()
                .map(|_| MOCK_IDP.to_owned())
        })
}

/// The login providers, as fence lists them.
#[derive(Serialize, ToSchema)]
pub(crate) struct LoginProviders {
    /// The provider `/user/oauth2/authorize` logs in through when none is named; null
    /// without providers.
    #[schema(required)]
    default_provider: Option<LoginProvider>,
    providers: Vec<LoginProvider>,
}

/// One login provider.
#[derive(Clone, Serialize, ToSchema)]
pub(crate) struct LoginProvider {
    id: String,
    /// The same as `id`.
    idp: String,
    name: String,
    /// Where a browser starts a login: `/user/login/{idp}`.
    url: String,
    /// `url` once, with `name`.
    urls: Vec<LoginUrl>,
    #[schema(required)]
    desc: Option<String>,
    /// Whether the portal lists it apart (the development login).
    secondary: bool,
}

#[derive(Clone, Serialize, ToSchema)]
pub(crate) struct LoginUrl {
    name: String,
    url: String,
}

/// `GET /user/login`: the login providers, as fence lists them.
#[utoipa::path(get, path = "/user/login", tag = "user",
    summary = "The login providers (fence's {default_provider, providers})",
    responses((status = 200, description = "The providers", body = LoginProviders)))]
async fn providers(State(s): State<SharedState>) -> Json<LoginProviders> {
    let base = s.base_url.clone();
    let entry = |id: String, name: String, desc: Option<&str>, secondary: bool| {
        let url = format!("{base}/user/login/{id}");
        LoginProvider {
            idp: id.clone(),
            id,
            urls: vec![LoginUrl {
                name: name.clone(),
                url: url.clone(),
            }],
            name,
            url,
            desc: desc.map(str::to_owned),
            secondary,
        }
    };
    let mut list: Vec<LoginProvider> = s
        .login
        .providers()
        .into_iter()
        .map(|p| entry(p.id, p.name, None, false))
        .collect();
    if s.login_config.mock_user.is_some() {
        list.push(entry(
            MOCK_IDP.to_owned(),
            "Development login".to_owned(),
            Some("development only: no password"),
            true,
        ));
    }
    let default = default_idp(&s).and_then(|d| list.iter().find(|p| p.id == d).cloned());
    Json(LoginProviders {
        default_provider: default,
        providers: list,
    })
}

/// Who logged in (a login without a `redirect`).
#[derive(Serialize, ToSchema)]
pub(crate) struct LoggedIn<'a> {
    username: &'a str,
    /// The provider's id.
    idp: &'a str,
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
        None => Json(LoggedIn { username, idp }).into_response(),
    };
    let mut c = base_cookie(s, SESSION_COOKIE, id, "/");
    c.set_max_age(cookie::time::Duration::seconds(s.oauth.session_ttl));
    set_cookie(&mut resp, &c);
    tracing::info!(user = %username, idp = %idp, "logged in");
    Ok(resp)
}

/// `?redirect=` of a login.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct LoginQuery {
    /// Where to send the browser once logged in: a path on this commons, this commons'
    /// origin, or the origin of a registered client redirect URI.
    redirect: Option<String>,
}

/// `GET /user/login/{idp}?redirect=`: start a login at an external provider (or, for
/// the development login, log the configured user in at once).
#[utoipa::path(get, path = "/user/login/{idp}", tag = "user",
    summary = "Log in through a provider (?redirect= where to go after)",
    params(("idp" = String, Path, description = "A provider id from /user/login"), LoginQuery),
    responses(
        (status = 302, description = "To the provider (setting the login-state cookie), or, for the development login, to `redirect` (setting the session cookie)",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 200, description = "The development login without `redirect`: logged in (setting the session cookie)",
            body = LoggedIn<'_>, headers(("Set-Cookie" = String))),
        (status = 400, description = "A `redirect` that is not allowed", body = IndexdError),
        (status = 404, description = "No such provider", body = IndexdError),
        (status = 503, description = "The provider's discovery document could not be read", body = IndexdError)))]
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
        && let Some(user) = s.login_config.mock_user.clone()
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

/// The provider's answer (OpenID Connect Core §3.1.2.5, §3.1.2.6).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct CallbackQuery {
    /// The authorization code.
    code: Option<String>,
    /// The state the login started with.
    state: Option<String>,
    /// The provider refused the login.
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /user/login/{idp}/login?code=&state=`: the provider's callback.
#[utoipa::path(get, path = "/user/login/{idp}/login", tag = "user",
    summary = "The provider's callback: finishes the login, starts a session",
    params(("idp" = String, Path, description = "The provider id"), CallbackQuery),
    responses(
        (status = 302, description = "Logged in: to the login's `redirect` (setting the session cookie)",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 200, description = "Logged in, the login had no `redirect` (setting the session cookie)",
            body = LoggedIn<'_>, headers(("Set-Cookie" = String))),
        (status = 400, description = "No code or state, or a state that is not this browser's login", body = IndexdError),
        (status = 401, description = "The provider refused the login, or its ID token does not verify", body = IndexdError),
        (status = 404, description = "No such provider", body = IndexdError),
        (status = 503, description = "The provider could not be reached", body = IndexdError)))]
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

/// `?next=` of a logout.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct LogoutQuery {
    /// Where to send the browser: a path on this commons, this commons' origin, or the
    /// origin of a registered client redirect URI.
    next: Option<String>,
}

/// The answer of a logout without `next`.
#[derive(Serialize, ToSchema)]
pub(crate) struct LoggedOut {
    /// `logged out`.
    message: &'static str,
}

/// `GET /user/logout?next=`: end the session; go to `next` if it is allowed.
#[utoipa::path(get, path = "/user/logout", tag = "user",
    summary = "End the browser session (?next= where to go after)", params(LogoutQuery),
    security((), ("session" = [])),
    responses(
        (status = 302, description = "Logged out: to `next` (removing the session cookie)",
            headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 200, description = "Logged out (removing the session cookie)", body = LoggedOut,
            headers(("Set-Cookie" = String))),
        (status = 400, description = "A `next` that is not allowed", body = IndexdError)))]
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
        None => Json(LoggedOut {
            message: "logged out",
        })
        .into_response(),
    };
    let mut gone = base_cookie(&s, SESSION_COOKIE, String::new(), "/");
    gone.make_removal();
    set_cookie(&mut resp, &gone);
    Ok(resp)
}

/// An OAuth2 error (RFC 6749 §5.2).
#[derive(Serialize, ToSchema)]
pub(crate) struct OAuth2Error<'a> {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope` or `server_error`.
    error: &'a str,
    /// What is wrong.
    error_description: &'a str,
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
        Json(OAuth2Error {
            error: e.error,
            error_description: &e.description,
        }),
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

/// An authorization request's parameters (RFC 6749 §4.1.1, RFC 7636, OpenID Connect Core
/// §3.1.2.1).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AuthorizeParams {
    /// A registered client's id.
    client_id: Option<String>,
    /// One of the client's registered redirect URIs; may be left out when it has one.
    redirect_uri: Option<String>,
    /// `code`, the only response type served.
    response_type: Option<String>,
    /// Space-separated scopes within the client's; default: the client's.
    scope: Option<String>,
    /// Sent back to the redirect URI as it is.
    state: Option<String>,
    /// Put in the ID token.
    nonce: Option<String>,
    /// PKCE: 43 to 128 characters; required of public clients.
    code_challenge: Option<String>,
    /// `S256` or `plain` (the default).
    code_challenge_method: Option<String>,
    /// The login provider to use when not logged in; default: the default provider.
    idp: Option<String>,
}

/// The consent form's answer: the authorization request's parameters again, with the
/// user's choice (`application/x-www-form-urlencoded`; parameters may also be in the query).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuthorizeForm {
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    #[schema(nullable = false)]
    response_type: Option<String>,
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    state: Option<String>,
    #[schema(nullable = false)]
    nonce: Option<String>,
    #[schema(nullable = false)]
    code_challenge: Option<String>,
    #[schema(nullable = false)]
    code_challenge_method: Option<String>,
    #[schema(nullable = false)]
    idp: Option<String>,
    /// `yes` to allow (with `csrf`), anything else to deny.
    #[schema(nullable = false)]
    confirm: Option<String>,
    /// The consent page's token.
    #[schema(nullable = false)]
    csrf: Option<String>,
}

/// An error of an authorization request answered here: `{"error"}`, with
/// `error_description` when it is an OAuth2 error (RFC 6749 §5.2: no or unknown client,
/// a redirect URI that is not the client's).
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct AuthorizeError {
    /// An OAuth2 error code, or what is wrong.
    error: String,
    #[schema(value_type = String, required = false)]
    error_description: Option<String>,
}

/// A confirmed consent: where the browser goes next.
#[derive(Serialize, ToSchema)]
pub(crate) struct ConsentRedirect<'a> {
    /// The client's redirect URI with `code` (and `state`).
    redirect: &'a str,
}

#[utoipa::path(get, path = "/user/oauth2/authorize", tag = "user",
    summary = "OAuth2/OIDC authorization request (code flow, PKCE)", params(AuthorizeParams),
    security((), ("session" = [])),
    responses(
        (status = 302, description = "Not logged in: to /user/login/{idp}, which comes back here. Logged in and the client approved without asking: to the redirect URI with `code` and `state`. A request the client must hear of (bad response_type, scope or PKCE): to the redirect URI with `error`, `error_description` and `state`",
            headers(("Location" = String))),
        (status = 200, description = "The consent page: allow or deny the client", body = String, content_type = "text/html"),
        (status = 400, description = "No client_id, or a redirect URI that is not the client's", body = AuthorizeError),
        (status = 401, description = "An unknown client_id (OAuth2 `invalid_client`), or not logged in with no login provider configured", body = AuthorizeError)))]
async fn authorize(State(s): State<SharedState>, headers: HeaderMap, Query(q): Query) -> Res {
    authorize_with(&s, &headers, Method::GET, Params(q.0)).await
}

#[utoipa::path(post, path = "/user/oauth2/authorize", tag = "user",
    summary = "OAuth2/OIDC authorization request, or the consent form's answer",
    request_body(content = ref("#/components/schemas/AuthorizeForm"), content_type = "application/x-www-form-urlencoded"),
    security((), ("session" = [])),
    responses(
        (status = 200, description = "Consent allowed: where to send the browser (JSON); or, for a request without an answer, the consent page (HTML)",
            content((ConsentRedirect<'_> = "application/json"), (String = "text/html"))),
        (status = 302, description = "As GET; and consent denied: to the redirect URI with `error=access_denied`",
            headers(("Location" = String))),
        (status = 400, description = "A body that is not a form, no client_id, or a redirect URI that is not the client's", body = AuthorizeError),
        (status = 401, description = "An unknown client_id (OAuth2 `invalid_client`), or not logged in with no login provider configured", body = AuthorizeError),
        (status = 403, description = "`confirm=yes` with a stale or forged `csrf`", body = IndexdError),
        (status = 413, description = "Body over max_body_bytes", body = IndexdError)))]
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
    let Some((cookie, sess)) = session(&s.oauth, headers).await? else {
        // Not logged in: log in first, then come back here.
        let idp = p.owned("idp").or_else(|| default_idp(s)).ok_or_else(|| {
            WeftError::unauthenticated("not logged in, and no login provider is configured")
        })?;
        let mut back = url::Url::parse(&format!("{}/user/oauth2/authorize", s.base_url))
            .map_err(WeftError::internal)?;
        back.query_pairs_mut()
            .extend_pairs(p.0.iter().filter(|(k, _)| k != "confirm" && k != "csrf"));
        let mut login = url::Url::parse(&format!("{}/user/login/{idp}", s.base_url))
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
        let mut r = Json(ConsentRedirect {
            redirect: url.as_str(),
        })
        .into_response();
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
    let action = format!("{}/user/oauth2/authorize", s.base_url);
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

/// A token request (RFC 6749 §4.1.3, §4.4.2, §6). Client credentials go in HTTP Basic or
/// here (`client_id`, `client_secret`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenRequest {
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    #[schema(nullable = false)]
    grant_type: Option<String>,
    /// authorization_code: the code.
    #[schema(nullable = false)]
    code: Option<String>,
    /// authorization_code: the redirect URI the code was sent to.
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    /// authorization_code: the PKCE verifier.
    #[schema(nullable = false)]
    code_verifier: Option<String>,
    /// refresh_token: the refresh token.
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// refresh_token, client_credentials: space-separated scopes (default: all granted).
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// Token request parameters the gen3 SDK sends in the query (any parameter of the form
/// is read from the query too).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct TokenQuery {
    grant_type: Option<String>,
    scope: Option<String>,
}

/// The token endpoint's answer (RFC 6749 §5.1, and OpenID Connect's `id_token`); mirrors
/// `weft_identity::oauth::TokenResponse`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct OAuth2Token {
    /// `Bearer`.
    token_type: String,
    access_token: String,
    /// Seconds the access token lives.
    expires_in: i64,
    /// authorization_code and refresh_token grants.
    #[schema(value_type = String, required = false)]
    refresh_token: Option<String>,
    /// authorization_code grant with the `openid` scope.
    #[schema(value_type = String, required = false)]
    id_token: Option<String>,
    /// The granted scopes, space-separated.
    scope: String,
}

/// A revocation request (RFC 7009 §2.1). Client credentials go in HTTP Basic or here.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct RevokeRequest {
    /// A refresh token the client holds.
    #[schema(nullable = false)]
    token: Option<String>,
    /// Ignored: only refresh tokens are revoked.
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// `POST /user/oauth2/token`: the authorization-code, refresh-token and
/// client-credentials grants. Parameters from the form body, and from the query (the gen3
/// SDK sends `grant_type` and `scope` of the client-credentials grant there).
#[utoipa::path(post, path = "/user/oauth2/token", tag = "user",
    summary = "OAuth2 token endpoint: authorization_code, refresh_token, client_credentials",
    params(TokenQuery),
    request_body(content = ref("#/components/schemas/TokenRequest"), content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "The tokens (Cache-Control: no-store)", body = OAuth2Token),
        (status = 400, description = "An OAuth2 error: invalid_request (a body that is not a form or is over max_body_bytes, a missing parameter), invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope", body = OAuth2Error<'_>),
        (status = 401, description = "OAuth2 `invalid_client`: no, unknown or wrong client credentials", body = OAuth2Error<'_>)))]
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
#[utoipa::path(post, path = "/user/oauth2/revoke", tag = "user",
    summary = "Revoke a refresh token (RFC 7009)",
    request_body(content = ref("#/components/schemas/RevokeRequest"), content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "Revoked, or not a refresh token of this client (RFC 7009 §2.2); empty body"),
        (status = 400, description = "OAuth2 `invalid_request`: no token, or a body that is not a form or is over max_body_bytes", body = OAuth2Error<'_>),
        (status = 401, description = "OAuth2 `invalid_client`: no, unknown or wrong client credentials", body = OAuth2Error<'_>)))]
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

#[cfg(test)]
mod tests {
    use super::*;
    use weft_identity::oauth::TokenResponse;

    /// The property names of a schema, and which are required.
    fn fields<T: utoipa::PartialSchema>() -> (Vec<String>, Vec<String>) {
        let schema = serde_json::to_value(T::schema()).expect("schema");
        let mut names: Vec<String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        names.sort();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        required.sort();
        (names, required)
    }

    fn keys(v: &serde_json::Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn the_token_schema_mirrors_what_the_token_endpoint_sends() {
        let full = TokenResponse {
            token_type: "Bearer",
            access_token: "a".into(),
            expires_in: 1,
            refresh_token: Some("r".into()),
            id_token: Some("i".into()),
            scope: "openid".into(),
        };
        let bare = TokenResponse {
            refresh_token: None,
            id_token: None,
            ..full.clone()
        };
        let (names, required) = fields::<OAuth2Token>();
        assert_eq!(names, keys(&serde_json::to_value(&full).unwrap()));
        assert_eq!(required, keys(&serde_json::to_value(&bare).unwrap()));
    }
}
