//! Workspace kinds: what a user may launch (hatchery's `containers`, served by `options`).

use md5::{Digest as _, Md5};
use serde::Serialize;

/// One workspace kind, as configured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kind {
    /// hatchery's option `id`: the MD5 of the kind's JSON, so it changes when the kind does.
    #[serde(skip)]
    pub id: String,
    pub name: String,
    /// Local backend: the command and its arguments. `{port}`, `{token}`, `{base_url}` and
    /// `{home}` are replaced at launch.
    pub command: Vec<String>,
    /// Kubernetes backend: the container image.
    pub image: String,
    /// The port the notebook listens on inside a pod.
    pub target_port: u16,
    /// CPUs, as Kubernetes writes them (`"1"`, `"500m"`).
    pub cpu_limit: String,
    /// Memory, as Kubernetes writes it (`"2Gi"`).
    pub memory_limit: String,
    /// Seconds without activity before the workspace is stopped (None: never).
    pub idle_limit_secs: Option<u64>,
    /// What an hour of it costs its pay model.
    pub rate_per_hour: f64,
    pub env: Vec<(String, String)>,
    /// Resource paths the user needs `jupyterhub` `launch` on (all of them); empty: none.
    pub resource_paths: Vec<String>,
    /// Pay model types (`workspace_type`) it may run under; empty: any.
    pub pay_models: Vec<String>,
}

impl Kind {
    /// Fill `id` from the rest.
    #[must_use]
    pub fn with_id(mut self) -> Self {
        let json = serde_json::to_vec(&self).unwrap_or_default();
        self.id = hex::encode(Md5::digest(&json));
        self
    }

    /// hatchery's `idle-time-limit`: milliseconds, or -1 for none.
    #[must_use]
    pub fn idle_limit_ms(&self) -> i64 {
        self.idle_limit_secs
            .and_then(|s| i64::try_from(s).ok())
            .map_or(-1, |s| s.saturating_mul(1000))
    }
}
