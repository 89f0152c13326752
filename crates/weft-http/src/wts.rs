//! The workspace token service at `/wts/`: connect another commons of the mesh once
//! (`oauth2/authorization_url` → that commons' login → `oauth2/authorize`), then get its
//! access tokens (`token/?idp=`) from this weft, as the Gen3 SDK's `drs-pull` does for every
//! host of a manifest. `external_oidc/` lists the commons it can connect.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use weft_auth::{Credentials, Purpose};
use weft_core::WeftError;
use weft_identity::Tokens;
use weft_workspace::wts::TokenService;

use crate::error::ApiError;
use crate::extract::{Creds, Query};
use crate::routes::Routes;

/// What the token service's handlers reach.
pub struct WtsState {
    pub service: Arc<TokenService>,
    pub tokens: Arc<Tokens>,
}

type Shared = Arc<WtsState>;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    external_oidc,
    token,
    authorization_url,
    authorize,
    connected,
    logout,
    status
))]
pub(crate) struct Api;

pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/wts/external_oidc/", get(external_oidc))
        .route("/wts/external_oidc", get(external_oidc))
        .route("/wts/token/", get(token))
        .route("/wts/token", get(token))
        .route("/wts/oauth2/authorization_url", get(authorization_url))
        .route("/wts/oauth2/authorize", get(authorize))
        .route("/wts/oauth2/connected", get(connected))
        .route("/wts/oauth2/logout", get(logout))
        .route("/wts/_status", get(status))
}

/// The caller's user name, from a user token (a browser's session became one).
async fn user(s: &WtsState, creds: &Credentials) -> Result<String, ApiError> {
    let Credentials::Bearer(token) = creds else {
        return Err(WeftError::unauthenticated("log in first: no token was sent").into());
    };
    weft_auth::verify_bearer(&s.tokens, token, &[], Purpose::Access)
        .await
        .map_err(|e| ApiError::from(WeftError::unauthenticated(e.to_string())))?
        .user
        .ok_or_else(|| WeftError::forbidden("the token names no user").into())
}

#[utoipa::path(get, path = "/wts/external_oidc/", tag = "wts",
    summary = "The commons this weft can hold tokens for",
    description = "`unexpired=true`: only those the caller holds a live refresh token for (needs a token).",
    params(("unexpired" = Option<bool>, Query, description = "Only the caller's connected providers")),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "{\"providers\": [{base_url, idp, name, refresh_token_expiration, urls: [{name, url}]}]}", body = serde_json::Value),
        (status = 400, description = "A malformed query string", body = serde_json::Value),
        (status = 401, description = "unexpired=true without a valid token", body = serde_json::Value),
    ))]
async fn external_oidc(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let unexpired = q
        .get("unexpired")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let who = match (&c, unexpired) {
        (Credentials::None, false) => None,
        _ => match user(&s, &c).await {
            Ok(u) => Some(u),
            Err(e) if unexpired => return e.into_response(),
            Err(_) => None,
        },
    };
    match s.service.external_oidc(who.as_deref(), unexpired).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/wts/token/", tag = "wts",
    summary = "An access token of commons ?idp= for the caller",
    description = "Without idp (or `default`, `local`): a token of this weft. Otherwise refreshed from the refresh token held for the caller.",
    params(("idp" = Option<String>, Query, description = "The provider")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"token\"}", body = serde_json::Value),
        (status = 400, description = "An unknown provider, or one the caller has not connected", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 503, description = "The provider refused the refresh", body = serde_json::Value),
    ))]
async fn token(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let u = match user(&s, &c).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    match s.service.token(&u, q.get("idp")).await {
        Ok(t) => axum::Json(json!({"token": t})).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

#[utoipa::path(get, path = "/wts/oauth2/authorization_url", tag = "wts",
    summary = "Connect commons ?idp=: a redirect to its login",
    params(
        ("idp" = String, Query, description = "The provider"),
        ("redirect" = Option<String>, Query, description = "A path on this weft to return to"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 302, description = "To the provider's /user/oauth2/authorize"),
        (status = 400, description = "An unknown provider or a redirect off this weft", body = serde_json::Value),
        (status = 401, description = "Not logged in", body = serde_json::Value),
    ))]
async fn authorization_url(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let u = match user(&s, &c).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let Some(idp) = q.get("idp") else {
        return ApiError::from(WeftError::invalid("Missing 'idp' parameter")).into_response();
    };
    match s
        .service
        .authorization_url(&u, idp, q.get("redirect"))
        .await
    {
        Ok(url) => redirect(&url),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/wts/oauth2/authorize", tag = "wts",
    summary = "The provider's callback: the code becomes a refresh token held for the user",
    params(
        ("code" = String, Query, description = "The authorization code"),
        ("state" = String, Query, description = "As this weft issued it"),
    ),
    responses(
        (status = 302, description = "Back to the redirect path"),
        (status = 400, description = "No code, a bad or expired state, or the provider's error", body = serde_json::Value),
        (status = 401, description = "Another user's connect request", body = serde_json::Value),
        (status = 503, description = "The provider refused the code", body = serde_json::Value),
    ))]
async fn authorize(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    if let Some(err) = q.get("error") {
        return ApiError::from(WeftError::invalid(format!("the provider refused: {err}")))
            .into_response();
    }
    let (Some(code), Some(state)) = (q.get("code"), q.get("state")) else {
        return ApiError::from(WeftError::invalid("Missing 'code' or 'state' parameter"))
            .into_response();
    };
    let caller = match &c {
        Credentials::None => None,
        _ => user(&s, &c).await.ok(),
    };
    match s.service.callback(caller.as_deref(), code, state).await {
        Ok(to) => redirect(&to),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/wts/oauth2/connected", tag = "wts",
    summary = "Whether the caller holds a live refresh token for ?idp= (the default: this weft)",
    params(("idp" = Option<String>, Query, description = "The provider")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Connected", body = serde_json::Value),
        (status = 400, description = "An unknown provider", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "Not connected", body = serde_json::Value),
    ))]
async fn connected(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let u = match user(&s, &c).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let idp = q.get("idp");
    if weft_workspace::wts::is_own(idp) {
        return axum::Json(json!({"connected": true})).into_response();
    }
    match s.service.connected(&u, idp.unwrap_or_default()).await {
        Ok(true) => axum::Json(json!({"connected": true})).into_response(),
        Ok(false) => ApiError::from(WeftError::forbidden(format!(
            "not connected to {:?}: connect it on your profile page",
            idp.unwrap_or_default()
        )))
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/wts/oauth2/logout", tag = "wts",
    summary = "Forget the caller's token for ?idp=",
    params(("idp" = String, Query, description = "The provider")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 400, description = "No idp", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 404, description = "No token held for it", body = serde_json::Value),
    ))]
async fn logout(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let u = match user(&s, &c).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let Some(idp) = q.get("idp") else {
        return ApiError::from(WeftError::invalid("Missing 'idp' parameter")).into_response();
    };
    match s.service.disconnect(&u, idp).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/wts/_status", tag = "wts",
    summary = "Health",
    responses((status = 200, description = "{\"status\": \"OK\"}", body = serde_json::Value)))]
async fn status() -> Response {
    axum::Json(json!({"status": "OK"})).into_response()
}
