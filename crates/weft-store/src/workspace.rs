//! Storage of workspaces (hatchery), their pay models and metered usage, the manifests a
//! user exports to them (manifestservice), and the tokens a workspace holds for other
//! commons (the workspace token service).
//!
//! Every value a service reads back as a whole is a row here; times are Unix seconds.

use async_trait::async_trait;

use crate::StoreResult;

/// A user's workspace: at most one per user. The row outlives the workspace (state
/// `Stopped`), so a restart can find what it had started and the next launch replaces it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceRow {
    pub user: String,
    /// The workspace kind's id (hatchery's option `id`).
    pub kind: String,
    /// The backend that runs it (`local`, `kubernetes`).
    pub backend: String,
    /// What the backend needs to find it again (JSON text: a pid and port, a pod name).
    pub handle: String,
    /// `Launching`, `Running`, `Terminating` (live), or `Stopped`, `Errored`, `Not Found`.
    pub state: String,
    /// Why it stopped or failed, for the status page.
    pub detail: Option<String>,
    /// The secret the proxy presents to the notebook server.
    pub secret: String,
    /// The pay model (`bmh_workspace_id`) its usage is charged to, if any.
    pub account: Option<String>,
    /// The API key minted for it (its id), revoked when it stops.
    pub api_key_id: Option<String>,
    pub started_at: i64,
    pub stopped_at: Option<i64>,
    /// The notebook's last activity as it reported it.
    pub last_activity: i64,
    /// Usage is metered up to here.
    pub metered_to: i64,
}

/// A pay model (an account a user's workspaces are charged to), as hatchery serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct PayModelRow {
    /// hatchery's `bmh_workspace_id`: the id `setpaymodel` takes.
    pub id: String,
    pub user: String,
    /// `workspace_type`: "Trial Workspace", "Direct Pay", "STRIDES Credits", …
    pub workspace_type: String,
    pub account_id: String,
    pub region: String,
    /// `local`: runs on this weft's own workspaces.
    pub local: bool,
    /// `active`, `above limit`, …
    pub request_status: String,
    pub soft_limit: f64,
    pub hard_limit: f64,
    pub total_usage: f64,
    /// The user's current pay model (at most one per user).
    pub current: bool,
}

/// One metered stretch of a running workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub user: String,
    /// The pay model charged.
    pub account: String,
    pub kind: String,
    pub from: i64,
    pub to: i64,
    pub cost: f64,
}

impl UsageRow {
    /// The part of this stretch after `metered_to` (what the workspace has not been
    /// charged for yet), its cost in proportion; `None` when nothing is left. No workspace
    /// row (`None`): all of it.
    #[must_use]
    pub fn after(self, metered_to: Option<i64>) -> Option<Self> {
        let Some(m) = metered_to else {
            return Some(self);
        };
        if self.to <= m {
            return None;
        }
        if self.from >= m {
            return Some(self);
        }
        #[allow(clippy::cast_precision_loss)]
        let cost = self.cost * (self.to - m) as f64 / (self.to - self.from) as f64;
        Some(Self {
            from: m,
            cost,
            ..self
        })
    }
}

/// What `meter` did to the pay model.
#[derive(Debug, Clone, PartialEq)]
pub struct Metered {
    /// The pay model's usage after the charge.
    pub total_usage: f64,
    pub soft_limit: f64,
    pub hard_limit: f64,
}

/// A stored manifest, cohort or exported metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRow {
    pub user: String,
    /// `manifest`, `cohort` or `metadata`: the folder manifestservice keeps it in.
    pub folder: String,
    pub filename: String,
    /// The stored body, as the caller sent it.
    pub body: String,
    /// Unix milliseconds (manifestservice reports fractional seconds).
    pub created_ms: i64,
}

/// A refresh token the workspace token service holds for a user and an identity provider
/// (another commons).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalTokenRow {
    pub user: String,
    pub idp: String,
    pub refresh_token: String,
    /// When the refresh token expires.
    pub expires: i64,
}

#[async_trait]
pub trait WorkspaceStore: Send + Sync + 'static {
    /// Insert or replace the user's workspace row.
    async fn put_workspace(&self, row: WorkspaceRow) -> StoreResult<()>;

    /// The user's workspace row, if one was ever written.
    async fn workspace(&self, user: &str) -> StoreResult<Option<WorkspaceRow>>;

    /// Every live row (`Launching`, `Running`, `Terminating`), by user.
    async fn live_workspaces(&self) -> StoreResult<Vec<WorkspaceRow>>;

    /// Charge `usage` to its pay model and move the workspace's `metered_to` to `usage.to`,
    /// in one transaction. `NotFound` if the pay model does not exist. Only the part of the
    /// stretch after the workspace's stored `metered_to` is charged and recorded
    /// ([`UsageRow::after`]), so two meters of one workspace (two instances checking it)
    /// never charge the same time twice; a stretch ending at or before it charges nothing
    /// (the answer then reports the pay model as it is).
    async fn meter(&self, usage: UsageRow) -> StoreResult<Metered>;

    /// Insert or replace a pay model (by `id`). When `current` is set, the user's other
    /// pay models stop being current in the same transaction.
    async fn put_pay_model(&self, row: PayModelRow) -> StoreResult<()>;

    /// Make `id` the user's current pay model (and no other); false if the user has no
    /// pay model `id`.
    async fn set_current_pay_model(&self, user: &str, id: &str) -> StoreResult<bool>;

    /// Make none of the user's pay models current.
    async fn reset_current_pay_model(&self, user: &str) -> StoreResult<()>;

    /// The user's pay models (`None`: everyone's), by user then id.
    async fn pay_models(&self, user: Option<&str>) -> StoreResult<Vec<PayModelRow>>;

    /// Metered stretches (`None`: everyone's) that end after `since`, by user then `from`.
    async fn usage(&self, user: Option<&str>, since: i64) -> StoreResult<Vec<UsageRow>>;

    /// Store a manifest unless its (user, folder, filename) is taken: false when it is.
    async fn put_manifest(&self, row: ManifestRow) -> StoreResult<bool>;

    /// The user's files in a folder, bodies left empty, oldest first.
    async fn manifests(&self, user: &str, folder: &str) -> StoreResult<Vec<ManifestRow>>;

    /// One file with its body.
    async fn manifest(
        &self,
        user: &str,
        folder: &str,
        filename: &str,
    ) -> StoreResult<Option<ManifestRow>>;

    /// Insert or replace the user's refresh token for an identity provider.
    async fn put_external_token(&self, row: ExternalTokenRow) -> StoreResult<()>;

    /// The user's refresh tokens, by provider.
    async fn external_tokens(&self, user: &str) -> StoreResult<Vec<ExternalTokenRow>>;

    /// Forget the user's token for a provider; false if there was none.
    async fn delete_external_token(&self, user: &str, idp: &str) -> StoreResult<bool>;
}

/// Portable statements both SQL backends run (`$n` parameters). Columns that would be
/// keywords are renamed: `username` (user), `from_at`/`to_at` (from/to), `is_local`,
/// `is_current`.
pub mod sql {
    pub const UPSERT_WORKSPACE: &str = "INSERT INTO workspace (username, kind, backend, \
         handle, state, detail, secret, account, api_key_id, started_at, stopped_at, \
         last_activity, metered_to) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (username) DO UPDATE SET kind = excluded.kind, \
         backend = excluded.backend, handle = excluded.handle, state = excluded.state, \
         detail = excluded.detail, secret = excluded.secret, account = excluded.account, \
         api_key_id = excluded.api_key_id, started_at = excluded.started_at, \
         stopped_at = excluded.stopped_at, last_activity = excluded.last_activity, \
         metered_to = excluded.metered_to";
    pub const SELECT_WORKSPACE: &str = "SELECT username, kind, backend, handle, state, detail, \
         secret, account, api_key_id, started_at, stopped_at, last_activity, metered_to \
         FROM workspace WHERE username = $1";
    pub const SELECT_LIVE_WORKSPACES: &str = "SELECT username, kind, backend, handle, state, \
         detail, secret, account, api_key_id, started_at, stopped_at, last_activity, \
         metered_to FROM workspace WHERE state IN ('Launching', 'Running', 'Terminating') ORDER BY username";

    /// Moves a workspace's `metered_to` forward to `$2`; changes no row when the workspace
    /// is metered that far already (or has no row). Taking the row this way, rather than
    /// reading it first, serializes concurrent meters of one workspace on PostgreSQL.
    /// The workspace's `metered_to` (no row: the user has no workspace).
    pub const SELECT_METERED_TO: &str = "SELECT metered_to FROM workspace WHERE username = $1";
    pub const SET_METERED_TO: &str = "UPDATE workspace SET metered_to = $2 WHERE username = $1";
    /// Adds `$2` to a pay model's usage; returns its numbers (no row: no such pay model).
    pub const CHARGE_PAY_MODEL: &str = "UPDATE workspace_pay_model \
         SET total_usage = total_usage + $2 WHERE id = $1 \
         RETURNING total_usage, soft_limit, hard_limit";
    pub const SELECT_PAY_MODEL_NUMBERS: &str = "SELECT total_usage, soft_limit, hard_limit \
         FROM workspace_pay_model WHERE id = $1";
    pub const INSERT_USAGE: &str = "INSERT INTO workspace_usage (username, account, kind, \
         from_at, to_at, cost) VALUES ($1, $2, $3, $4, $5, $6)";

    pub const UPSERT_PAY_MODEL: &str = "INSERT INTO workspace_pay_model (id, username, \
         workspace_type, account_id, region, is_local, request_status, soft_limit, \
         hard_limit, total_usage, is_current) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
         workspace_type = excluded.workspace_type, account_id = excluded.account_id, \
         region = excluded.region, is_local = excluded.is_local, \
         request_status = excluded.request_status, soft_limit = excluded.soft_limit, \
         hard_limit = excluded.hard_limit, total_usage = excluded.total_usage, \
         is_current = excluded.is_current";
    /// Makes the user's pay models other than `$2` not current.
    pub const CLEAR_OTHER_CURRENT: &str = "UPDATE workspace_pay_model SET is_current = FALSE \
         WHERE username = $1 AND id <> $2 AND is_current";
    pub const CLEAR_CURRENT: &str = "UPDATE workspace_pay_model SET is_current = FALSE \
         WHERE username = $1 AND is_current";
    pub const COUNT_USER_PAY_MODEL: &str =
        "SELECT COUNT(*) FROM workspace_pay_model WHERE username = $1 AND id = $2";
    pub const MAKE_CURRENT: &str =
        "UPDATE workspace_pay_model SET is_current = TRUE WHERE username = $1 AND id = $2";
    pub const SELECT_PAY_MODELS: &str = "SELECT id, username, workspace_type, account_id, \
         region, is_local, request_status, soft_limit, hard_limit, total_usage, is_current \
         FROM workspace_pay_model ORDER BY username, id";
    pub const SELECT_USER_PAY_MODELS: &str = "SELECT id, username, workspace_type, \
         account_id, region, is_local, request_status, soft_limit, hard_limit, total_usage, \
         is_current FROM workspace_pay_model WHERE username = $1 ORDER BY username, id";

    pub const SELECT_USAGE: &str = "SELECT username, account, kind, from_at, to_at, cost \
         FROM workspace_usage WHERE to_at > $1 ORDER BY username, from_at, to_at";
    pub const SELECT_USER_USAGE: &str = "SELECT username, account, kind, from_at, to_at, \
         cost FROM workspace_usage WHERE username = $1 AND to_at > $2 \
         ORDER BY username, from_at, to_at";

    /// Rows changed: 0 when (user, folder, filename) is taken.
    pub const INSERT_MANIFEST: &str = "INSERT INTO workspace_manifest (username, folder, \
         filename, body, created_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (username, folder, filename) DO NOTHING";
    /// A folder's files without their bodies: (user, folder, filename, created_ms).
    pub const SELECT_MANIFESTS: &str = "SELECT username, folder, filename, created_ms \
         FROM workspace_manifest WHERE username = $1 AND folder = $2 \
         ORDER BY created_ms, filename";
    pub const SELECT_MANIFEST: &str = "SELECT username, folder, filename, body, created_ms \
         FROM workspace_manifest WHERE username = $1 AND folder = $2 AND filename = $3";

    pub const UPSERT_EXTERNAL_TOKEN: &str = "INSERT INTO workspace_external_token (username, \
         idp, refresh_token, expires) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username, idp) DO UPDATE SET refresh_token = excluded.refresh_token, \
         expires = excluded.expires";
    pub const SELECT_EXTERNAL_TOKENS: &str = "SELECT username, idp, refresh_token, expires \
         FROM workspace_external_token WHERE username = $1 ORDER BY idp";
    pub const DELETE_EXTERNAL_TOKEN: &str =
        "DELETE FROM workspace_external_token WHERE username = $1 AND idp = $2";
}
