//! weft-http: every HTTP route weft serves, and how errors look on each API surface.
//!
//! One `router` per service module (`index`, `drs`, `system`, `hub`, ...), merged by [`app`] under the
//! public paths a Gen3 commons exposes behind its reverse proxy. Handlers parse the request,
//! call a service crate, and render; they hold no business rules. This is the only crate
//! that names axum or tower-http.

mod authz;
mod data;
mod drs;
mod error;
mod extract;
mod hub;
mod index;
mod mds;
mod metrics;
mod oauth;
pub mod openapi;
mod routes;
mod schemas;
mod system;
mod user;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;

/// The metrics handle type, re-exported for the composition root.
pub type PrometheusHandleAlias = PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use weft_config::Config;
use weft_indexd::IndexService;
use weft_indexd::drs::{AccessSigner, DrsContext};

pub use drs::DrsState;
pub use error::{ApiError, Surface};
pub use index::IndexState;
pub use mds::MdsState;
pub use metrics::{install_metrics, metrics_upkeep};
pub use system::metrics_app;

/// Everything handlers need, shared by all requests.
pub struct AppState {
    pub config: Config,
    pub authz: Arc<weft_authz::AuthzService>,
    pub tokens: Arc<weft_identity::Tokens>,
    /// The OAuth2/OIDC provider: clients, codes, refresh tokens, browser sessions.
    pub oauth: Arc<weft_identity::oauth::OAuth>,
    /// External OIDC providers people log in through.
    pub login: Arc<weft_identity::login::Login>,
    pub index: Arc<IndexService>,
    /// The metadata service (MDS API).
    pub mds: Arc<weft_mds::MetadataService>,
    /// MDS's objects API (index record and metadata together).
    pub objects: Arc<weft_mds::objects::Objects>,
    pub drs: DrsContext,
    pub access: Arc<dyn AccessSigner>,
    /// fence's upload flow (blank records, presigned PUT URLs, multipart, deletes).
    pub uploads: Arc<dyn weft_indexd::upload::Uploads>,
    /// Object stores and URL signing (fence's data endpoints).
    pub blobs: Arc<weft_blob::Blobs>,
    /// The data hub (aggregate MDS), when the configuration lists commons.
    pub hub: Option<Arc<weft_hub::HubService>>,
    pub metrics: Option<PrometheusHandle>,
    /// The background tasks' states (`/_status`).
    pub tasks: weft_tasks::Tasks,
    pub started: Instant,
    pub version: &'static str,
    pub commit: &'static str,
}

pub type SharedState = Arc<AppState>;

/// The build a server reports (`/_version`, `/index/_version`, MDS's `/version`).
#[derive(Clone, Copy)]
pub struct Build {
    pub version: &'static str,
    pub commit: &'static str,
}

/// Every path a service router registers (the route test compares them with the OpenAPI
/// document).
#[must_use]
pub fn route_paths() -> Vec<String> {
    let mut paths = index::routes().paths();
    paths.extend(drs::routes().paths());
    paths.extend(mds::routes().paths());
    paths
}

/// JSON text written already (a stored document, a listing written from rows) as the
/// response body, as it is.
pub(crate) fn json_text(
    status: axum::http::StatusCode,
    body: impl Into<axum::body::Body>,
) -> Response {
    use axum::response::IntoResponse as _;
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

fn index_router(s: &AppState) -> Router<SharedState> {
    index::routes()
        .with_state(Arc::new(IndexState {
            index: Arc::clone(&s.index),
            drs: s.drs.clone(),
            dist: s.config.index.dist.clone(),
            build: Build {
                version: s.version,
                commit: s.commit,
            },
        }))
        .with_state(())
}

fn drs_router(s: &AppState) -> Router<SharedState> {
    drs::routes()
        .with_state(Arc::new(DrsState {
            index: Arc::clone(&s.index),
            drs: s.drs.clone(),
            access: Arc::clone(&s.access),
            organization_name: s.config.drs.organization_name.clone(),
            organization_url: s
                .config
                .drs
                .organization_url
                .clone()
                .unwrap_or_else(|| s.config.public_base_url()),
            max_bulk_request_length: s.config.drs.max_bulk_request_length,
        }))
        .with_state(())
}

fn mds_router(s: &AppState) -> Router<SharedState> {
    mds::routes()
        .with_state(Arc::new(MdsState {
            mds: Arc::clone(&s.mds),
            objects: Arc::clone(&s.objects),
            aggregate: s.hub.is_some(),
            build: Build {
                version: s.version,
                commit: s.commit,
            },
        }))
        .with_state(())
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let state = Arc::new(state);
    let limit = state.config.max_body_bytes;
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    Router::new()
        .merge(system::router())
        .merge(index_router(&state))
        .merge(mds_router(&state))
        .merge(drs_router(&state))
        .merge(data::router())
        .merge(user::router())
        .merge(oauth::router())
        .merge(hub::router())
        .merge(openapi::router())
        .nest_service(
            "/authz",
            tower::ServiceBuilder::new()
                .map_request(authz::strip_trailing_slash)
                .service(authz::router().with_state(Arc::clone(&state))),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            metrics::record,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
