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
mod gateway;
mod guppy;
mod hub;
mod index;
mod manifests;
mod mds;
mod metrics;
mod oauth;
pub mod openapi;
mod peregrine;
mod portal;
mod routes;
mod schemas;
mod submission;
mod system;
mod user;
mod workspace;
mod wts;

use std::sync::Arc;
use std::time::Duration;

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

pub use authz::AuthzState;
pub use data::DataState;
pub use drs::DrsState;
pub use error::{ApiError, Surface};
pub use gateway::GatewayState;
pub use guppy::GuppyState;
pub use hub::HubState;
pub use index::IndexState;
pub use manifests::ManifestsState;
pub use mds::MdsState;
pub use metrics::{install_metrics, metrics_upkeep};
pub use oauth::OAuthState;
pub use peregrine::PeregrineState;
pub use portal::PortalState;
pub use submission::SubmissionState;
pub use system::SystemState;
pub use system::metrics_app;
pub use user::UserState;
pub use workspace::WorkspaceState;
pub use wts::WtsState;

/// Each service's state, built by the composition root: every router gets its own and
/// reaches nothing else.
pub struct Services {
    pub system: SystemState,
    pub index: IndexState,
    pub drs: DrsState,
    pub mds: MdsState,
    pub data: DataState,
    pub user: UserState,
    pub oauth: OAuthState,
    pub authz: AuthzState,
    pub hub: HubState,
    pub submission: SubmissionState,
    pub peregrine: PeregrineState,
    pub guppy: GuppyState,
    pub portal: PortalState,
    /// hatchery (workspaces and their proxy).
    pub workspace: WorkspaceState,
    /// manifestservice.
    pub manifests: ManifestsState,
    /// The workspace token service.
    pub wts: WtsState,
    /// The browser sessions' gateway (session cookie → bearer token, CSRF checks).
    pub gateway: GatewayState,
}

/// What every request is held to: its body's size and its time.
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

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
    let mut paths = system::routes().paths();
    paths.extend(index::routes().paths());
    paths.extend(drs::routes().paths());
    paths.extend(mds::routes().paths());
    paths.extend(data::routes().paths());
    paths.extend(user::routes().paths());
    paths.extend(oauth::routes().paths());
    paths.extend(hub::routes().paths());
    paths.extend(peregrine::search_routes().paths());
    paths.extend(guppy::routes().paths());
    paths.extend(portal::routes().paths());
    paths.extend(workspace::routes().paths());
    paths.extend(manifests::routes().paths());
    paths.extend(wts::routes().paths());
    paths.extend(
        authz::routes()
            .paths()
            .into_iter()
            .map(|p| format!("/authz{p}")),
    );
    paths.extend(
        submission::routes()
            .paths()
            .into_iter()
            .chain(peregrine::routes().paths())
            .map(|p| format!("{}{}", submission::PREFIX, p.trim_end_matches('/'))),
    );
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

/// The whole HTTP application: each service's router with its own state, the policy API
/// nested at `/authz`, the OpenAPI document, and the layers every request passes.
pub fn app(services: Services, limits: &Limits) -> Router {
    let metrics_on = services.system.metrics.is_some();
    let authz = authz::routes().with_state(Arc::new(services.authz));
    let peregrine = Arc::new(services.peregrine);
    let submission = submission::routes()
        .with_state(Arc::new(services.submission))
        .merge(peregrine::routes().with_state(Arc::clone(&peregrine)));
    Router::new()
        .merge(system::routes().with_state(Arc::new(services.system)))
        .merge(index::routes().with_state(Arc::new(services.index)))
        .merge(mds::routes().with_state(Arc::new(services.mds)))
        .merge(drs::routes().with_state(Arc::new(services.drs)))
        .merge(data::routes().with_state(Arc::new(services.data)))
        .merge(user::routes().with_state(Arc::new(services.user)))
        .merge(oauth::routes().with_state(Arc::new(services.oauth)))
        .merge(hub::routes().with_state(Arc::new(services.hub)))
        .merge(peregrine::search_routes().with_state(peregrine))
        .merge(guppy::routes().with_state(Arc::new(services.guppy)))
        .merge(portal::routes().with_state(Arc::new(services.portal)))
        .merge(workspace::routes().with_state(Arc::new(services.workspace)))
        .merge(manifests::routes().with_state(Arc::new(services.manifests)))
        .merge(wts::routes().with_state(Arc::new(services.wts)))
        .merge(openapi::router())
        .nest_service(
            "/authz",
            tower::ServiceBuilder::new()
                .map_request(authz::strip_trailing_slash)
                .service(authz),
        )
        .nest_service(
            submission::PREFIX,
            tower::ServiceBuilder::new()
                .map_request(submission::strip_trailing_slash)
                .service(submission),
        )
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(middleware::from_fn_with_state(metrics_on, metrics::record))
        .layer(middleware::from_fn_with_state(
            Arc::new(services.gateway),
            gateway::sessions,
        ))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}
