//! hatchery's rules: which kinds a user may launch, one workspace per user, its status from
//! the backend and the notebook itself, idle stops, pay models and metered usage.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use weft_auth::{Authorizer, Credentials};
use weft_core::{ErrorCode, WeftError};
use weft_identity::Tokens;
use weft_store::{PayModelRow, UsageRow, WorkspaceRow, WorkspaceStore};

use crate::Kind;
use crate::backend::{Backend, LaunchSpec, Probe};

/// The path the notebook is served under.
pub const BASE_PATH: &str = "/lw-workspace/proxy/";

/// The service of hatchery's policy: `jupyterhub`.
pub const SERVICE: &str = "jupyterhub";

/// Stored states (hatchery's status values, plus `Not Found` once the user terminated).
pub mod state {
    pub const LAUNCHING: &str = "Launching";
    pub const RUNNING: &str = "Running";
    pub const TERMINATING: &str = "Terminating";
    pub const STOPPED: &str = "Stopped";
    pub const ERRORED: &str = "Errored";
    pub const NOT_FOUND: &str = "Not Found";

    /// Whether a workspace in this state runs (or is being started or stopped).
    #[must_use]
    pub fn is_live(state: &str) -> bool {
        matches!(state, LAUNCHING | RUNNING | TERMINATING)
    }
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `GEN3_ENDPOINT` in the workspace: how it reaches this weft.
    pub endpoint: String,
    pub launch_timeout: Duration,
    pub check_interval: Duration,
    pub api_key_minutes: u64,
    /// The pay model every user without one gets: (type, soft, hard).
    pub default_pay_model: Option<(String, f64, f64)>,
    /// Environment every workspace gets besides hatchery's (e.g. a CA bundle).
    pub env: Vec<(String, String)>,
}

/// hatchery's `options` entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KindOption {
    pub name: String,
    #[serde(rename = "cpu-limit")]
    pub cpu_limit: String,
    #[serde(rename = "memory-limit")]
    pub memory_limit: String,
    pub id: String,
    pub gpu: bool,
    #[serde(rename = "idle-time-limit")]
    pub idle_time_limit: i64,
}

/// hatchery's `status` answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    pub status: String,
    pub conditions: Vec<StatusCondition>,
    #[serde(rename = "containerStates")]
    pub container_states: Vec<Value>,
    #[serde(rename = "idleTimeLimit")]
    pub idle_time_limit: i64,
    #[serde(rename = "lastActivityTime")]
    pub last_activity_time: i64,
    #[serde(rename = "workspaceType")]
    pub workspace_type: String,
    /// weft: why a workspace stopped or failed, and pay-model warnings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// weft: the kind's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// One condition of a status answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusCondition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
}

/// hatchery's PayModel JSON.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PayModel {
    pub bmh_workspace_id: String,
    pub workspace_type: String,
    pub user_id: String,
    pub account_id: String,
    pub request_status: String,
    pub local: bool,
    pub region: String,
    pub ecs: bool,
    pub subnet: i64,
    #[serde(rename = "hard-limit")]
    pub hard_limit: f64,
    #[serde(rename = "soft-limit")]
    pub soft_limit: f64,
    #[serde(rename = "total-usage")]
    pub total_usage: f64,
    pub current_pay_model: bool,
}

impl From<PayModelRow> for PayModel {
    fn from(r: PayModelRow) -> Self {
        Self {
            bmh_workspace_id: r.id,
            workspace_type: r.workspace_type,
            user_id: r.user,
            account_id: r.account_id,
            request_status: r.request_status,
            local: r.local,
            region: r.region,
            ecs: false,
            subnet: 0,
            hard_limit: r.hard_limit,
            soft_limit: r.soft_limit,
            total_usage: r.total_usage,
            current_pay_model: r.current,
        }
    }
}

/// Where the proxy sends a user's requests.
#[derive(Debug, Clone)]
pub struct ProxyTarget {
    /// Scheme, host and port of the notebook.
    pub origin: url::Url,
    /// `Authorization: token <secret>`.
    pub secret: String,
}

/// Launches, watches and stops workspaces.
pub struct WorkspaceService {
    settings: Settings,
    kinds: Vec<Kind>,
    backend: Arc<dyn Backend>,
    store: Arc<dyn WorkspaceStore>,
    authz: Arc<dyn Authorizer>,
    tokens: Arc<Tokens>,
    http: reqwest::Client,
    /// Serializes changes of one user's workspace (launch, terminate, a check's stop).
    locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Serializes giving users the default pay model (two first requests make one).
    defaults: Mutex<()>,
}

fn bad(msg: impl Into<String>) -> WeftError {
    WeftError::new(ErrorCode::InvalidInput, msg)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A name for the user safe in paths and Kubernetes names, unique per user: a readable part
/// and a hash of the whole name.
#[must_use]
pub fn slug(user: &str) -> String {
    use md5::{Digest as _, Md5};
    let readable: String = user
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(24)
        .collect();
    let readable = readable.trim_matches('-');
    let hash = hex::encode(Md5::digest(user.as_bytes()));
    if readable.is_empty() {
        format!("u-{}", &hash[..12])
    } else {
        format!("{readable}-{}", &hash[..12])
    }
}

impl WorkspaceService {
    #[must_use]
    pub fn new(
        settings: Settings,
        kinds: Vec<Kind>,
        backend: Arc<dyn Backend>,
        store: Arc<dyn WorkspaceStore>,
        authz: Arc<dyn Authorizer>,
        tokens: Arc<Tokens>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            settings,
            kinds,
            backend,
            store,
            authz,
            tokens,
            http,
            locks: std::sync::Mutex::new(HashMap::new()),
            defaults: Mutex::new(()),
        }
    }

    fn lock_for(&self, user: &str) -> Arc<Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(user.to_owned()).or_default())
    }

    /// Who the caller is, if they may use workspaces at all (`jupyterhub` `access` on
    /// `/workspace`, as Gen3's gateway requires).
    ///
    /// # Errors
    /// 401 without credentials, 403 without the grant.
    pub async fn caller(&self, creds: &Credentials) -> Result<String, WeftError> {
        let ok = self
            .authz
            .authorize(creds, SERVICE, "access", &["/workspace".to_owned()])
            .await?;
        let user = ok.principal().to_owned();
        if user.starts_with("client:") || user == "anonymous" {
            return Err(WeftError::new(
                ErrorCode::Forbidden,
                "workspaces are for users: this token names no user",
            ));
        }
        Ok(user)
    }

    async fn may_launch(&self, creds: &Credentials, kind: &Kind) -> bool {
        kind.resource_paths.is_empty()
            || self
                .authz
                .authorize(creds, SERVICE, "launch", &kind.resource_paths)
                .await
                .is_ok()
    }

    /// The kinds the caller may launch (hatchery's `options`).
    ///
    /// # Errors
    /// As [`Self::caller`].
    pub async fn options(&self, creds: &Credentials) -> Result<Vec<KindOption>, WeftError> {
        let user = self.caller(creds).await?;
        let current = self.current_pay_model(&user).await?;
        let mut out = Vec::new();
        for k in &self.kinds {
            if self.may_launch(creds, k).await && pay_model_allows(k, current.as_ref()) {
                out.push(KindOption {
                    name: k.name.clone(),
                    cpu_limit: k.cpu_limit.clone(),
                    memory_limit: k.memory_limit.clone(),
                    id: k.id.clone(),
                    gpu: false,
                    idle_time_limit: k.idle_limit_ms(),
                });
            }
        }
        Ok(out)
    }

    /// The user's pay models, giving the configured default to a user who has none at all.
    async fn pay_models_of(&self, user: &str) -> Result<Vec<PayModelRow>, WeftError> {
        let all = self.store.pay_models(Some(user)).await?;
        let Some((ty, soft, hard)) = &self.settings.default_pay_model else {
            return Ok(all);
        };
        if !all.is_empty() {
            return Ok(all);
        }
        let _held = self.defaults.lock().await;
        // another request may have given it meanwhile
        let all = self.store.pay_models(Some(user)).await?;
        if !all.is_empty() {
            return Ok(all);
        }
        let row = PayModelRow {
            id: uuid::Uuid::new_v4().to_string(),
            user: user.to_owned(),
            workspace_type: ty.clone(),
            account_id: "default".into(),
            region: "local".into(),
            local: true,
            request_status: "active".into(),
            soft_limit: *soft,
            hard_limit: *hard,
            total_usage: 0.0,
            current: true,
        };
        self.store.put_pay_model(row.clone()).await?;
        Ok(vec![row])
    }

    /// The user's current pay model (after [`Self::pay_models_of`]).
    async fn current_pay_model(&self, user: &str) -> Result<Option<PayModelRow>, WeftError> {
        Ok(self
            .pay_models_of(user)
            .await?
            .into_iter()
            .find(|p| p.current))
    }

    /// Launch the kind `id` for the caller (hatchery's `launch?id=`).
    ///
    /// # Errors
    /// 400 for an unknown or forbidden kind or no current pay model, 403 past the hard
    /// limit, 409 when a workspace already runs, 503 when the backend cannot start it.
    pub async fn launch(&self, creds: &Credentials, id: &str) -> Result<(), WeftError> {
        let user = self.caller(creds).await?;
        let models = self.pay_models_of(&user).await?;
        let current = models.iter().find(|p| p.current).cloned();
        let kind = match self.kinds.iter().find(|k| k.id == id) {
            Some(k) if self.may_launch(creds, k).await && pay_model_allows(k, current.as_ref()) => {
                k.clone()
            }
            _ => return Err(bad("Invalid 'id' parameter")),
        };
        if current.is_none() && !models.is_empty() {
            return Err(bad("Current Paymodel is not set. Launch forbidden"));
        }
        if let Some(p) = &current
            && (p.total_usage >= p.hard_limit || p.request_status != "active")
        {
            return Err(WeftError::new(
                ErrorCode::Forbidden,
                format!(
                    "Launch forbidden: pay model {} ({}) has used {:.2} of its hard limit {:.2}",
                    p.id, p.workspace_type, p.total_usage, p.hard_limit
                ),
            ));
        }
        let lock = self.lock_for(&user);
        let _held = lock.lock().await;
        if let Some(row) = self.store.workspace(&user).await?
            && state::is_live(&row.state)
        {
            return Err(WeftError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "a workspace is already {}: terminate it first",
                    row.state.to_lowercase()
                ),
            ));
        }
        let scopes: Vec<String> = ["fence", "openid", "user", "data"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let minutes = i64::try_from(self.settings.api_key_minutes).unwrap_or(43_200);
        let (api_key, key_id) = self
            .tokens
            .issue_api_key(&user, &scopes, minutes.saturating_mul(60))
            .await
            .map_err(WeftError::internal)?;
        let secret = weft_identity_random();
        let credentials = json!({"api_key": api_key, "key_id": key_id});
        let mut files = vec![(
            ".gen3/credentials.json".to_owned(),
            serde_json::to_vec_pretty(&credentials).unwrap_or_default(),
        )];
        for m in self.store.manifests(&user, "manifest").await? {
            if let Some(full) = self.store.manifest(&user, "manifest", &m.filename).await? {
                files.push((format!("manifests/{}", m.filename), full.body.into_bytes()));
            }
        }
        let mut env = vec![
            ("API_KEY".to_owned(), api_key),
            ("API_KEY_ID".to_owned(), key_id.clone()),
            ("GEN3_ENDPOINT".to_owned(), self.settings.endpoint.clone()),
            ("WORKSPACE_FLAVOR".to_owned(), "jupyter".to_owned()),
            (
                "GEN3_API_KEY".to_owned(),
                "{home}/.gen3/credentials.json".to_owned(),
            ),
        ];
        env.extend(self.settings.env.iter().cloned());
        let slug = slug(&user);
        let spec = LaunchSpec {
            user: user.clone(),
            slug,
            kind: kind.clone(),
            secret: secret.clone(),
            base_path: BASE_PATH.to_owned(),
            env,
            files,
        };
        let launched = match self.backend.launch(spec).await {
            Ok(l) => l,
            Err(e) => {
                let _ = self.tokens.revoke_api_key(&user, &key_id).await;
                return Err(WeftError::new(
                    ErrorCode::Unavailable,
                    format!("the workspace could not be started: {e}"),
                ));
            }
        };
        let t = now();
        self.store
            .put_workspace(WorkspaceRow {
                user,
                kind: kind.id,
                backend: self.backend.name().to_owned(),
                handle: launched.handle,
                state: state::LAUNCHING.to_owned(),
                detail: None,
                secret,
                account: current.map(|p| p.id),
                api_key_id: Some(key_id),
                started_at: t,
                stopped_at: None,
                last_activity: t,
                metered_to: t,
            })
            .await?;
        Ok(())
    }

    /// The caller's workspace status (hatchery's `status`). A launching workspace is checked
    /// on the spot, so Running shows as soon as the notebook answers.
    ///
    /// # Errors
    /// As [`Self::caller`].
    pub async fn status(&self, creds: &Credentials) -> Result<Status, WeftError> {
        let user = self.caller(creds).await?;
        let mut row = self.store.workspace(&user).await?;
        if let Some(r) = &row
            && r.state == state::LAUNCHING
        {
            self.check_one(&user).await;
            row = self.store.workspace(&user).await?;
        }
        let warning = self.pay_model_warning(&user).await?;
        Ok(self.render_status(row.as_ref(), warning))
    }

    async fn pay_model_warning(&self, user: &str) -> Result<Option<String>, WeftError> {
        let current = self
            .store
            .pay_models(Some(user))
            .await?
            .into_iter()
            .find(|p| p.current);
        Ok(current.and_then(|p| {
            (p.total_usage >= p.soft_limit).then(|| {
                format!(
                    "pay model {} ({}) has used {:.2}, past its soft limit {:.2} (hard limit {:.2})",
                    p.id, p.workspace_type, p.total_usage, p.soft_limit, p.hard_limit
                )
            })
        }))
    }

    fn render_status(&self, row: Option<&WorkspaceRow>, warning: Option<String>) -> Status {
        let workspace_type = match self.backend.name() {
            "kubernetes" => "Kubernetes",
            _ => "Local",
        }
        .to_owned();
        let Some(row) = row.filter(|r| r.state != state::NOT_FOUND) else {
            return Status {
                status: state::NOT_FOUND.into(),
                conditions: Vec::new(),
                container_states: Vec::new(),
                idle_time_limit: -1,
                last_activity_time: 0,
                workspace_type,
                message: warning,
                kind: None,
            };
        };
        let kind = self.kinds.iter().find(|k| k.id == row.kind);
        let ready = row.state == state::RUNNING;
        let started = row.state != state::ERRORED;
        let conditions = vec![
            StatusCondition {
                kind: "PodScheduled".into(),
                status: title(started),
            },
            StatusCondition {
                kind: "Initialized".into(),
                status: title(started),
            },
            StatusCondition {
                kind: "ContainersReady".into(),
                status: title(ready),
            },
            StatusCondition {
                kind: "ProxyConnected".into(),
                status: title(ready),
            },
        ];
        let message = match (&row.detail, warning) {
            (Some(d), Some(w)) => Some(format!("{d}; {w}")),
            (Some(d), None) => Some(d.clone()),
            (None, w) => w,
        };
        Status {
            status: row.state.clone(),
            conditions,
            container_states: vec![json!({
                "name": "notebook",
                "state": {row.state.to_lowercase(): {}},
                "ready": ready,
            })],
            idle_time_limit: kind.map_or(-1, Kind::idle_limit_ms),
            last_activity_time: row.last_activity.saturating_mul(1000),
            workspace_type,
            message,
            kind: kind.map(|k| k.name.clone()),
        }
    }

    /// Stop the caller's workspace (hatchery's `terminate`).
    ///
    /// # Errors
    /// 404 when none is running or stopped.
    pub async fn terminate(&self, creds: &Credentials) -> Result<(), WeftError> {
        let user = self.caller(creds).await?;
        let lock = self.lock_for(&user);
        let _held = lock.lock().await;
        let Some(row) = self
            .store
            .workspace(&user)
            .await?
            .filter(|r| r.state != state::NOT_FOUND)
        else {
            return Err(WeftError::new(
                ErrorCode::NotFound,
                "no workspace to terminate",
            ));
        };
        self.stop_row(row, state::NOT_FOUND, None).await
    }

    /// Stop a workspace and record `end` (with `detail`): meter it up to now, revoke its
    /// API key, stop what the backend runs.
    async fn stop_row(
        &self,
        mut row: WorkspaceRow,
        end: &str,
        detail: Option<String>,
    ) -> Result<(), WeftError> {
        if state::is_live(&row.state) {
            row.state = state::TERMINATING.to_owned();
            self.store.put_workspace(row.clone()).await?;
            self.meter_row(&row, now()).await;
            if let Err(e) = self.backend.stop(&row.handle).await {
                tracing::warn!(user = %row.user, error = %e, "stopping a workspace failed");
            }
            if let Some(k) = &row.api_key_id {
                let _ = self.tokens.revoke_api_key(&row.user, k).await;
            }
            row.stopped_at = Some(now());
        }
        let mut fresh = self.store.workspace(&row.user).await?.unwrap_or(row);
        fresh.state = end.to_owned();
        fresh.detail = detail;
        if fresh.stopped_at.is_none() {
            fresh.stopped_at = Some(now());
        }
        self.store
            .put_workspace(fresh)
            .await
            .map_err(WeftError::from)
    }

    /// Charge a running workspace's time up to `to`; true when its pay model is now past
    /// the hard limit.
    async fn meter_row(&self, row: &WorkspaceRow, to: i64) -> bool {
        let Some(account) = &row.account else {
            return false;
        };
        let Some(kind) = self.kinds.iter().find(|k| k.id == row.kind) else {
            return false;
        };
        // the store charges only what is past its own `metered_to` (another instance may
        // have metered meanwhile)
        let from = row.metered_to;
        if to <= from {
            return false;
        }
        #[allow(clippy::cast_precision_loss)]
        let cost = kind.rate_per_hour * ((to - from) as f64) / 3600.0;
        let usage = UsageRow {
            user: row.user.clone(),
            account: account.clone(),
            kind: kind.name.clone(),
            from,
            to,
            cost,
        };
        match self.store.meter(usage).await {
            Ok(m) => m.total_usage >= m.hard_limit,
            Err(e) => {
                tracing::warn!(user = %row.user, error = %e, "metering a workspace failed");
                false
            }
        }
    }

    /// Ask the notebook itself whether it answers, and since when it is idle (Jupyter's
    /// `api/status`: `last_activity`).
    async fn notebook_status(&self, row: &WorkspaceRow) -> Option<i64> {
        let origin = self.backend.target(&row.handle).ok()?;
        let url = origin.join(&format!("{BASE_PATH}api/status")).ok()?;
        let resp = self
            .http
            .get(url)
            .header("Authorization", format!("token {}", row.secret))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body: Value = resp.json().await.ok()?;
        let last = body
            .get("last_activity")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map_or(now(), |t| t.timestamp());
        Some(last)
    }

    /// One check of the user's workspace: readiness, death, idleness, usage and limits.
    pub async fn check_one(&self, user: &str) {
        let lock = self.lock_for(user);
        let _held = lock.lock().await;
        // read under the lock: a terminate may have won
        let Ok(Some(mut row)) = self.store.workspace(user).await else {
            return;
        };
        if !matches!(row.state.as_str(), state::LAUNCHING | state::RUNNING) {
            return;
        }
        let t = now();
        let outcome = match self.backend.probe(&row.handle).await {
            Ok(Probe::Gone(why)) => Some((
                if row.state == state::LAUNCHING {
                    state::ERRORED
                } else {
                    state::STOPPED
                },
                why,
            )),
            Ok(Probe::Alive(_)) => None,
            Err(e) => Some((state::ERRORED, e.to_string())),
        };
        let result = if let Some((end, why)) = outcome {
            self.stop_row(row, end, Some(why)).await
        } else {
            let answered = self.notebook_status(&row).await;
            match (row.state.as_str(), answered) {
                (state::LAUNCHING, Some(last)) => {
                    row.state = state::RUNNING.to_owned();
                    row.last_activity = row.last_activity.max(last);
                    self.store.put_workspace(row).await.map_err(WeftError::from)
                }
                (state::LAUNCHING, None) => {
                    let waited = t - row.started_at;
                    let limit =
                        i64::try_from(self.settings.launch_timeout.as_secs()).unwrap_or(i64::MAX);
                    if waited > limit {
                        self.stop_row(
                            row,
                            state::ERRORED,
                            Some(format!("the notebook did not answer within {limit} s")),
                        )
                        .await
                    } else {
                        Ok(())
                    }
                }
                (_, answered) => {
                    if let Some(last) = answered {
                        row.last_activity = row.last_activity.max(last);
                    }
                    let idle_limit = self
                        .kinds
                        .iter()
                        .find(|k| k.id == row.kind)
                        .and_then(|k| k.idle_limit_secs)
                        .and_then(|s| i64::try_from(s).ok());
                    if self.meter_row(&row, t).await {
                        row.metered_to = t;
                        let _ = self.mark_above_limit(&row).await;
                        self.stop_row(
                            row,
                            state::STOPPED,
                            Some("stopped: its pay model reached its hard limit".into()),
                        )
                        .await
                    } else if let Some(limit) = idle_limit
                        && t - row.last_activity > limit
                    {
                        self.stop_row(
                            row,
                            state::STOPPED,
                            Some(format!("stopped after {limit} s without activity")),
                        )
                        .await
                    } else {
                        // keep what meter wrote
                        let mut fresh = self
                            .store
                            .workspace(&row.user)
                            .await
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| row.clone());
                        fresh.last_activity = row.last_activity;
                        self.store
                            .put_workspace(fresh)
                            .await
                            .map_err(WeftError::from)
                    }
                }
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "checking a workspace failed");
        }
    }

    async fn mark_above_limit(&self, row: &WorkspaceRow) -> Result<(), WeftError> {
        let Some(account) = &row.account else {
            return Ok(());
        };
        let models = self.store.pay_models(Some(&row.user)).await?;
        if let Some(mut p) = models.into_iter().find(|p| &p.id == account) {
            p.request_status = "above limit".into();
            self.store.put_pay_model(p).await?;
        }
        Ok(())
    }

    /// Check every live workspace once.
    pub async fn check_all(&self) {
        match self.store.live_workspaces().await {
            Ok(rows) => {
                for row in rows {
                    self.check_one(&row.user).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing workspaces failed"),
        }
    }

    /// After a start: keep the workspaces this weft started that still run, record the
    /// others as stopped, and stop what the backend runs that no row names.
    pub async fn adopt(&self) {
        let rows = self.store.live_workspaces().await.unwrap_or_default();
        let mut known = std::collections::HashSet::new();
        for row in rows {
            if row.backend != self.backend.name() {
                continue;
            }
            known.insert(slug(&row.user));
            if row.state == state::TERMINATING {
                let lock = self.lock_for(&row.user);
                let _held = lock.lock().await;
                let _ = self.stop_row(row, state::NOT_FOUND, None).await;
                continue;
            }
            self.check_one(&row.user).await;
        }
        match self.backend.running().await {
            Ok(handles) => {
                for h in handles {
                    let owner = serde_json::from_str::<Value>(&h)
                        .ok()
                        .and_then(|v| v.get("slug").and_then(Value::as_str).map(str::to_owned));
                    if owner.is_none_or(|o| !known.contains(&o)) {
                        tracing::info!(handle = %h, "stopping a workspace no row names");
                        let _ = self.backend.stop(&h).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing running workspaces failed"),
        }
    }

    /// The background loop (the supervised task `workspaces`): adopt, then check every
    /// `check_interval` until cancelled.
    ///
    /// # Errors
    /// Never: failures of one check are logged and the next check runs.
    pub async fn run(&self, ctx: weft_tasks::Context) -> Result<(), WeftError> {
        self.adopt().await;
        while ctx.sleep(self.settings.check_interval).await {
            self.check_all().await;
            ctx.succeeded();
        }
        Ok(())
    }

    /// Where the caller's running notebook is, for the proxy.
    ///
    /// # Errors
    /// 401/403 as [`Self::caller`]; 404 when the caller has no running workspace.
    pub async fn proxy_target(&self, creds: &Credentials) -> Result<ProxyTarget, WeftError> {
        let user = self.caller(creds).await?;
        let row = self
            .store
            .workspace(&user)
            .await?
            .filter(|r| r.state == state::RUNNING || r.state == state::LAUNCHING)
            .ok_or_else(|| WeftError::new(ErrorCode::NotFound, "no workspace is running"))?;
        let origin = self
            .backend
            .target(&row.handle)
            .map_err(|e| WeftError::new(ErrorCode::Unavailable, e.to_string()))?;
        Ok(ProxyTarget {
            origin,
            secret: row.secret,
        })
    }

    // ---- pay models ----

    /// The caller's current pay model (hatchery's `paymodels`).
    ///
    /// # Errors
    /// 404 "Current paymodel not set".
    pub async fn pay_model(&self, creds: &Credentials) -> Result<PayModel, WeftError> {
        let user = self.caller(creds).await?;
        self.current_pay_model(&user)
            .await?
            .map(PayModel::from)
            .ok_or_else(|| WeftError::new(ErrorCode::NotFound, "Current paymodel not set"))
    }

    /// Every pay model of the caller (hatchery's `allpaymodels`).
    ///
    /// # Errors
    /// 404 "No paymodel set".
    pub async fn all_pay_models(&self, creds: &Credentials) -> Result<Value, WeftError> {
        let user = self.caller(creds).await?;
        let all = self.pay_models_of(&user).await?;
        if all.is_empty() {
            return Err(WeftError::new(ErrorCode::NotFound, "No paymodel set"));
        }
        let current = all.iter().find(|p| p.current).cloned().map(PayModel::from);
        let all: Vec<PayModel> = all.into_iter().map(PayModel::from).collect();
        Ok(json!({"current_pay_model": current, "all_pay_models": all}))
    }

    async fn refuse_while_running(&self, user: &str) -> Result<(), WeftError> {
        if let Some(r) = self.store.workspace(user).await?
            && state::is_live(&r.state)
        {
            return Err(WeftError::new(
                ErrorCode::AlreadyExists,
                "the pay model cannot change while a workspace runs: terminate it first",
            ));
        }
        Ok(())
    }

    /// Make `id` the caller's current pay model (hatchery's `setpaymodel`).
    ///
    /// # Errors
    /// 404 for a pay model the caller does not have, 409 while a workspace runs.
    pub async fn set_pay_model(
        &self,
        creds: &Credentials,
        id: &str,
    ) -> Result<PayModel, WeftError> {
        let user = self.caller(creds).await?;
        let lock = self.lock_for(&user);
        let _held = lock.lock().await;
        self.refuse_while_running(&user).await?;
        if !self.store.set_current_pay_model(&user, id).await? {
            return Err(WeftError::new(
                ErrorCode::NotFound,
                format!("no pay model {id:?} for this user"),
            ));
        }
        self.store
            .pay_models(Some(&user))
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .map(PayModel::from)
            .ok_or_else(|| WeftError::new(ErrorCode::NotFound, "pay model vanished"))
    }

    /// Make none of the caller's pay models current (hatchery's `resetpaymodels`).
    ///
    /// # Errors
    /// 409 while a workspace runs.
    pub async fn reset_pay_models(&self, creds: &Credentials) -> Result<(), WeftError> {
        let user = self.caller(creds).await?;
        let lock = self.lock_for(&user);
        let _held = lock.lock().await;
        self.refuse_while_running(&user).await?;
        self.store
            .reset_current_pay_model(&user)
            .await
            .map_err(WeftError::from)
    }

    /// Place a file in the user's running workspace, if one runs (a manifest exported
    /// while it runs). Errors are logged: the manifest is stored either way, and the next
    /// launch places it.
    pub async fn deliver(&self, user: &str, path: &str, body: &[u8]) {
        let Ok(Some(row)) = self.store.workspace(user).await else {
            return;
        };
        if !matches!(row.state.as_str(), state::LAUNCHING | state::RUNNING) {
            return;
        }
        if let Err(e) = self.backend.put_file(&slug(user), path, body).await {
            tracing::warn!(user, error = %e, "placing a file in a workspace failed");
        }
    }
}

fn title(b: bool) -> String {
    if b { "True" } else { "False" }.to_owned()
}

fn pay_model_allows(kind: &Kind, current: Option<&PayModelRow>) -> bool {
    kind.pay_models.is_empty()
        || kind
            .pay_models
            .iter()
            .any(|t| current.map_or("None", |p| p.workspace_type.as_str()) == t)
}

fn weft_identity_random() -> String {
    weft_identity::oauth::random_string(32)
}
