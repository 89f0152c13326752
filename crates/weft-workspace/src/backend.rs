//! What runs a workspace: one trait, a backend per kind of host (a local process, a
//! Kubernetes pod). The service decides *whether* and *when*; a backend only starts, finds,
//! probes and stops what it was asked to.

use async_trait::async_trait;
use url::Url;

use crate::Kind;

/// Everything a backend needs to start one user's workspace.
#[derive(Debug, Clone)]
pub struct LaunchSpec {
    /// The user (`context.user.name`).
    pub user: String,
    /// A name safe for paths, process and pod names, derived from the user and unique per
    /// user: lowercase `[a-z0-9-]`, at most 40 characters.
    pub slug: String,
    pub kind: Kind,
    /// The secret the proxy presents to the notebook (`Authorization: token …`).
    pub secret: String,
    /// The path the notebook is served under, as the browser sees it: `/lw-workspace/proxy/`.
    pub base_path: String,
    /// Environment for the notebook (hatchery's: `API_KEY`, `API_KEY_ID`, `GEN3_ENDPOINT`,
    /// …), after the kind's own.
    pub env: Vec<(String, String)>,
    /// Files to place in the user's persistent directory before start, by path relative to
    /// it (`.gen3/credentials.json`, `manifests/…`). Existing files are replaced.
    pub files: Vec<(String, Vec<u8>)>,
}

/// A started workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// What the backend needs to find the workspace again, as JSON text (stored).
    pub handle: String,
}

/// A readiness condition as hatchery reports it (`PodScheduled`, `Initialized`,
/// `ContainersReady`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub kind: String,
    pub ok: bool,
}

/// What the backend sees of a workspace (not whether the notebook answers: the service
/// asks the notebook itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Started and not yet known to be gone; the conditions so far.
    Alive(Vec<Condition>),
    /// Gone: exited, deleted or never found; why.
    Gone(String),
}

/// A backend's failure, worded for the user's status page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request cannot be met as it is (no such command, a bad handle).
    #[error("{0}")]
    Invalid(String),
    /// The host failed (the process could not start, the cluster refused).
    #[error("{0}")]
    Failed(String),
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `local` or `kubernetes`: stored with each workspace.
    fn name(&self) -> &'static str;

    /// Start the workspace. It need not be ready when this returns: the service polls.
    /// On an error nothing the backend created is left behind.
    async fn launch(&self, spec: LaunchSpec) -> Result<Launched, BackendError>;

    /// Where the notebook serves HTTP (scheme, host and port; the service appends the
    /// base path).
    fn target(&self, handle: &str) -> Result<Url, BackendError>;

    /// Whether what the handle names still runs.
    async fn probe(&self, handle: &str) -> Result<Probe, BackendError>;

    /// Stop it and remove what it ran on (process, pod, service); the user's persistent
    /// directory or volume stays. Stopping what is already gone is not an error.
    async fn stop(&self, handle: &str) -> Result<(), BackendError>;

    /// Place a file in the running workspace's persistent directory (a manifest exported
    /// while it runs), by path relative to it.
    async fn put_file(&self, slug: &str, path: &str, body: &[u8]) -> Result<(), BackendError>;

    /// Handles of every workspace this backend finds running that were started by this
    /// weft (to adopt, or to clean up, after a restart).
    async fn running(&self) -> Result<Vec<String>, BackendError>;
}
