//! What Gen3's reverse proxy does for browsers, done in process: a request that carries the
//! browser session cookie and no `Authorization` header is sent on with an access token of
//! the session's user, so every API the portal calls (`/authz/mapping`, `/guppy/graphql`,
//! submissions, downloads) sees a bearer token, as behind Gen3's gateway; and a change made
//! with a cookie must prove it comes from this site's own pages (cross-site request forgery):
//! an `x-csrf-token` header equal to the `csrftoken` cookie (what Gen3's portals send, the
//! value `/_status` hands out), or an `Origin` header naming this commons.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::oauth::{SESSION_COOKIE, cookie_value};

/// The cookie holding the value a cookie-authenticated change must repeat in
/// [`CSRF_HEADER`] (Gen3's revproxy's name).
pub const CSRF_COOKIE: &str = "csrftoken";
/// The header repeating it.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Seconds a session's minted token lives (less when the session ends sooner).
const TOKEN_TTL: i64 = 600;
/// Minted tokens are reused until this many seconds before they expire.
const TOKEN_MARGIN: i64 = 60;
/// Most minted tokens remembered (they are cheap to mint again).
const MAX_REMEMBERED: usize = 10_000;

/// What the session gateway reaches.
pub struct GatewayState {
    pub oauth: Arc<weft_identity::oauth::OAuth>,
    pub tokens: Arc<weft_identity::Tokens>,
    /// This commons' public base URL (its origin is what `Origin` must name).
    pub base_url: String,
    /// Tokens minted per session cookie: `(token, expiry)`.
    minted: Mutex<HashMap<String, (String, i64)>>,
}

impl GatewayState {
    #[must_use]
    pub fn new(
        oauth: Arc<weft_identity::oauth::OAuth>,
        tokens: Arc<weft_identity::Tokens>,
        base_url: String,
    ) -> Self {
        Self {
            oauth,
            tokens,
            base_url,
            minted: Mutex::new(HashMap::new()),
        }
    }

    fn origin(&self) -> Option<String> {
        url::Url::parse(&self.base_url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    }

    /// A live token for the session `cookie` names, minted when none is remembered.
    async fn token_for(&self, cookie: &str) -> Option<String> {
        let now = Utc::now().timestamp();
        let session = match self.oauth.session(cookie).await {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "session lookup failed");
                return None;
            }
        };
        if let Ok(m) = self.minted.lock()
            && let Some((token, exp)) = m.get(cookie)
            && *exp - TOKEN_MARGIN > now
        {
            return Some(token.clone());
        }
        let ttl = TOKEN_TTL.min(session.expires_at - now);
        if ttl <= 0 {
            return None;
        }
        let scopes: Vec<String> = weft_identity::oauth::SESSION_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let token = match self.tokens.issue_access(&session.username, &scopes, ttl) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "minting a session's token failed");
                return None;
            }
        };
        if let Ok(mut m) = self.minted.lock() {
            if m.len() >= MAX_REMEMBERED {
                m.retain(|_, (_, exp)| *exp - TOKEN_MARGIN > now);
                if m.len() >= MAX_REMEMBERED {
                    m.clear();
                }
            }
            m.insert(cookie.to_owned(), (token.clone(), now + ttl));
        }
        Some(token)
    }
}

/// The login flow and OAuth2 read the session themselves.
fn handles_sessions_itself(path: &str) -> bool {
    path.starts_with("/user/login")
        || path.starts_with("/user/logout")
        || path.starts_with("/user/oauth2/")
}

/// Whether a cookie-authenticated change comes from this site's pages.
fn same_site_proof(g: &GatewayState, headers: &axum::http::HeaderMap) -> bool {
    let header_token = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if let (Some(sent), Some(cookie)) = (header_token, cookie_value(headers, CSRF_COOKIE))
        && !cookie.is_empty()
        && subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), cookie.as_bytes()).into()
    {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    origin.is_some() && origin.map(str::to_owned) == g.origin()
}

/// The workspace proxy's prefix (hatchery's notebooks).
const NOTEBOOK_PROXY: &str = "/lw-workspace/proxy/";

/// The middleware: session cookie → bearer token, with the forgery check on changes.
pub async fn sessions(
    State(g): State<Arc<GatewayState>>,
    mut req: Request,
    next: Next,
) -> Response {
    // JupyterLab's own pages send `Authorization: token <notebook secret>` (from its page
    // config): through the workspace proxy that is not weft's credential, and the session
    // says who is asking (the proxy presents the secret itself)
    if req.uri().path().starts_with(NOTEBOOK_PROXY)
        && req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("token "))
    {
        req.headers_mut().remove(header::AUTHORIZATION);
    }
    if req.headers().contains_key(header::AUTHORIZATION)
        || handles_sessions_itself(req.uri().path())
    {
        return next.run(req).await;
    }
    let Some(cookie) = cookie_value(req.headers(), SESSION_COOKIE) else {
        return next.run(req).await;
    };
    let safe = matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if !safe && !same_site_proof(&g, req.headers()) {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({
                "error": format!(
                    "a change made with a browser session must come from this commons' own \
                     pages: send the `{CSRF_COOKIE}` cookie's value (also `csrf` in /_status) \
                     in the `{CSRF_HEADER}` header"
                )
            })),
        )
            .into_response();
    }
    if let Some(token) = g.token_for(&cookie).await
        && let Ok(v) = HeaderValue::from_str(&format!("bearer {token}"))
    {
        req.headers_mut().insert(header::AUTHORIZATION, v);
    }
    next.run(req).await
}
