//! The `[workspace]` section: notebooks next to the data (Gen3's hatchery), their pay
//! models, and the tokens a workspace holds for other commons (the workspace token service).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Workspaces: which kinds users may launch, where they run, and how they are charged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceConfig {
    /// Serve workspaces. Default true: with no kinds configured, the `jupyterlab` kind that
    /// `weft workspace setup` prepares is offered once it is prepared.
    pub enabled: bool,
    /// Where workspaces run: `local` (a process per user on this machine) or `kubernetes`.
    pub backend: WorkspaceBackend,
    /// Local backend: the directory of the users' persistent directories and of the
    /// environment `weft workspace setup` installs. Default `<data_dir>/workspaces`.
    pub dir: Option<PathBuf>,
    /// Local backend: the Python environment (a venv) whose `bin/jupyter` the default
    /// `jupyterlab` kind runs. Default `<dir>/env/jupyterlab`, where `weft workspace setup`
    /// installs it.
    pub python_env: Option<PathBuf>,
    /// Local backend: run each user's notebook as a Unix user of its own (uid
    /// `uid_base` + n), so it cannot read another user's files or weft's data directory.
    /// Needs weft to run as root; default true when it does.
    pub separate_users: Option<bool>,
    /// The first uid (and gid) given to a workspace user. Default 200000.
    pub uid_base: u32,
    /// Seconds a launch may take to answer before it is reported `Errored` and cleaned up.
    /// Default 120.
    pub launch_timeout_secs: u64,
    /// Seconds between two checks of every running workspace (readiness, activity, usage,
    /// limits). Default 15.
    pub check_interval_secs: u64,
    /// Minutes an API key minted for a workspace lives. Default 43200 (30 days).
    pub api_key_minutes: u64,
    /// The workspace kinds (hatchery's `containers`), by order.
    pub kinds: Vec<WorkspaceKind>,
    /// The pay model every user without one gets (hatchery's `default-pay-model`); unset,
    /// users without a pay model launch unmetered.
    pub default_pay_model: Option<DefaultPayModel>,
    /// Kubernetes backend settings.
    pub kubernetes: KubernetesConfig,
    /// Other commons a workspace may hold tokens for (the workspace token service's
    /// `external_oidc`), by identity-provider name.
    pub external_oidc: BTreeMap<String, ExternalOidc>,
}

impl Default for WorkspaceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            backend: WorkspaceBackend::Local,
            dir: None,
            python_env: None,
            separate_users: None,
            uid_base: 200_000,
            launch_timeout_secs: 120,
            check_interval_secs: 15,
            api_key_minutes: 43_200,
            kinds: Vec::new(),
            default_pay_model: None,
            kubernetes: KubernetesConfig::default(),
            external_oidc: BTreeMap::new(),
        }
    }
}

/// Where workspaces run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceBackend {
    Local,
    Kubernetes,
}

/// One kind of workspace a user may launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkspaceKind {
    /// Shown in the portal and in `options`.
    pub name: String,
    /// Local backend: the command and its arguments; `{port}`, `{token}`, `{base_url}` and
    /// `{home}` are replaced at launch. Unset: JupyterLab from the environment `weft
    /// workspace setup` installs.
    pub command: Vec<String>,
    /// Kubernetes backend: the container image.
    pub image: String,
    /// The port the notebook listens on in a pod. Default 8888.
    pub target_port: u16,
    /// As Kubernetes writes CPUs. Default `"1"`.
    pub cpu_limit: String,
    /// As Kubernetes writes memory. Default `"2Gi"`.
    pub memory_limit: String,
    /// Seconds without notebook activity before the workspace is stopped; 0: never.
    /// Default 3600.
    pub idle_limit_secs: u64,
    /// What an hour of this kind costs its pay model. Default 0.
    pub rate_per_hour: f64,
    /// Environment for the notebook.
    pub env: BTreeMap<String, String>,
    /// Resource paths on which the user needs `jupyterhub` `launch` to see and launch this
    /// kind (hatchery's per-container `authz` `resource_paths`); empty: anyone with access.
    pub resource_paths: Vec<String>,
    /// Pay model types under which it may run (hatchery's `authz` `pay_models`); empty: any.
    pub pay_models: Vec<String>,
}

impl Default for WorkspaceKind {
    fn default() -> Self {
        Self {
            name: String::new(),
            command: Vec::new(),
            image: String::new(),
            target_port: 8888,
            cpu_limit: "1".into(),
            memory_limit: "2Gi".into(),
            idle_limit_secs: 3600,
            rate_per_hour: 0.0,
            env: BTreeMap::new(),
            resource_paths: Vec::new(),
            pay_models: Vec::new(),
        }
    }
}

/// The pay model a user without one gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultPayModel {
    /// hatchery's `workspace_type`. Default "Trial Workspace".
    pub workspace_type: String,
    /// Usage past which the user is warned.
    pub soft_limit: f64,
    /// Usage at which launches are refused and running workspaces stopped.
    pub hard_limit: f64,
}

impl Default for DefaultPayModel {
    fn default() -> Self {
        Self {
            workspace_type: "Trial Workspace".into(),
            soft_limit: 80.0,
            hard_limit: 100.0,
        }
    }
}

/// The Kubernetes backend: the objects hatchery creates, in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// The namespace of the workspace pods. Default `jupyter-pods`.
    pub namespace: String,
    /// The cluster's API server; unset, from the in-cluster service account or the
    /// kubeconfig.
    pub api_url: Option<String>,
    /// A bearer token for `api_url` (with `api_url` only).
    pub token: Option<crate::Secret>,
    /// Size of each user's persistent volume claim. Default `10Gi`.
    pub volume_size: String,
    /// Storage class of the claims; unset, the cluster's default.
    pub storage_class: Option<String>,
    /// Where the user's volume is mounted in the pod. Default `/home/jovyan/pd`.
    pub user_volume_location: String,
    /// The URL pods reach this weft at (`GEN3_ENDPOINT`); unset, `base_url`.
    pub endpoint_url: Option<String>,
    /// This weft's id among the wefts sharing the namespace: the `weft-instance` label of
    /// every object it creates, and the only pods it adopts or stops at start. A label value
    /// (1 to 63 of `[A-Za-z0-9._-]`, starting and ending with a letter or digit). Unset: a
    /// short hash of the namespace and `base_url`.
    pub instance: Option<String>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            namespace: "jupyter-pods".into(),
            api_url: None,
            token: None,
            volume_size: "10Gi".into(),
            storage_class: None,
            user_volume_location: "/home/jovyan/pd".into(),
            endpoint_url: None,
            instance: None,
        }
    }
}

/// Another commons the workspace token service can hold tokens for: this weft is an OAuth2
/// client of its fence (or of the weft serving it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalOidc {
    /// The commons' base URL (`https://other.org`): its `/user/oauth2/…` endpoints, and the
    /// `base_url` `external_oidc` reports.
    pub base_url: String,
    /// Shown to users. Default: the provider's key.
    #[serde(default)]
    pub name: Option<String>,
    pub client_id: String,
    pub client_secret: crate::Secret,
    /// Scopes asked for. Default `openid user data`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Days a refresh token is good for, as reported. Default 30.
    #[serde(default = "default_refresh_days")]
    pub refresh_token_days: u64,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "user".into(), "data".into()]
}

fn default_refresh_days() -> u64 {
    30
}

impl WorkspaceConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for k in &self.kinds {
            if k.name.trim().is_empty() {
                return Err(ConfigError::Invalid(
                    "every [[workspace.kinds]] needs a name".into(),
                ));
            }
            if !names.insert(k.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "workspace kind {:?} is listed twice",
                    k.name
                )));
            }
            if !(k.rate_per_hour.is_finite() && k.rate_per_hour >= 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "workspace kind {:?}: rate_per_hour must be a number >= 0",
                    k.name
                )));
            }
            if self.backend == WorkspaceBackend::Kubernetes && k.image.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "workspace kind {:?}: the kubernetes backend needs an image",
                    k.name
                )));
            }
        }
        if let Some(p) = &self.default_pay_model
            && !(p.soft_limit.is_finite()
                && p.hard_limit.is_finite()
                && 0.0 <= p.soft_limit
                && p.soft_limit <= p.hard_limit)
        {
            return Err(ConfigError::Invalid(
                "workspace.default_pay_model needs 0 <= soft_limit <= hard_limit".into(),
            ));
        }
        for (idp, e) in &self.external_oidc {
            if !(e.base_url.starts_with("http://") || e.base_url.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "workspace.external_oidc.{idp}.base_url must be an http(s) URL"
                )));
            }
        }
        if self.check_interval_secs == 0 {
            return Err(ConfigError::Invalid(
                "workspace.check_interval_secs must be at least 1".into(),
            ));
        }
        if let Some(id) = &self.kubernetes.instance
            && !is_label_value(id)
        {
            return Err(ConfigError::Invalid(format!(
                "workspace.kubernetes.instance {id:?} must be a Kubernetes label value: 1 to 63 \
                 of [A-Za-z0-9._-], starting and ending with a letter or digit"
            )));
        }
        Ok(())
    }
}

/// A non-empty Kubernetes label value.
fn is_label_value(s: &str) -> bool {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    s.len() <= 63
        && edge(s.bytes().next())
        && edge(s.bytes().last())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubernetes_instance_is_a_label_value() {
        let with = |id: &str| WorkspaceConfig {
            kubernetes: KubernetesConfig {
                instance: Some(id.to_owned()),
                ..KubernetesConfig::default()
            },
            ..WorkspaceConfig::default()
        };
        assert!(WorkspaceConfig::default().validate().is_ok());
        for ok in ["a", "prod-1", "Weft_2.b", &"x".repeat(63)] {
            assert!(with(ok).validate().is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", ".a", "a b", "a/b", "é", &"x".repeat(64)] {
            assert!(with(bad).validate().is_err(), "{bad}");
        }
    }
}
