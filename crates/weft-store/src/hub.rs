//! Storage of the data hub (aggregate MDS): the studies pulled from each commons, and each
//! commons' info and sync status. A commons' studies are only ever replaced whole, in one
//! transaction, so a reader sees either the previous copy or the new one.

use async_trait::async_trait;

use crate::StoreResult;

/// One aggregated study.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubStudy {
    /// The configured commons it came from (the config entry's name).
    pub commons: String,
    pub guid: String,
    /// `gen3_discovery.commons_name` (the entry's name or its `commons_name` override).
    pub commons_name: String,
    /// The stored document as JSON text: `{"gen3_discovery": {...}, "data_dictionaries"?: ..}`.
    pub doc: String,
}

/// One commons: its info document, tag summary and sync status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCommons {
    pub name: String,
    /// JSON text, e.g. `{"commons_url": "a.org"}`; `{}` before the first good pull.
    pub info: String,
    /// JSON text: `{category: {name: count}}` over the commons' studies' tags.
    pub summary: String,
    pub study_count: i64,
    /// Bumped by every replacement of the studies (0: never pulled successfully).
    pub generation: i64,
    /// Unix seconds.
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    /// The last pull's error, until a pull succeeds.
    pub last_error: Option<String>,
    /// Failed pulls since the last good one.
    pub failures: i64,
}

/// What a good pull writes besides the studies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubPull {
    pub commons: String,
    pub info: String,
    pub summary: String,
    /// Unix seconds.
    pub at: i64,
}

/// Which studies a listing returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubScope {
    All,
    /// By configured commons (entry name).
    Commons(String),
    /// By `commons_name`.
    CommonsName(String),
}

#[async_trait]
pub trait HubStore: Send + Sync + 'static {
    /// Replace every study of `pull.commons` by `studies` and record a good pull, in one
    /// transaction; returns the commons' new generation.
    async fn replace_hub_studies(&self, pull: HubPull, studies: Vec<HubStudy>) -> StoreResult<i64>;

    /// Record a failed pull; the studies and info stay as they are.
    async fn record_hub_failure(&self, commons: &str, at: i64, error: &str) -> StoreResult<()>;

    /// Every commons known to the store, by name.
    async fn hub_commons(&self) -> StoreResult<Vec<HubCommons>>;

    /// Forget a commons and its studies; false if there was none.
    async fn remove_hub_commons(&self, commons: &str) -> StoreResult<bool>;

    /// Studies in `scope`, ordered by commons then GUID, paged.
    async fn hub_studies(
        &self,
        scope: HubScope,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HubStudy>>;

    /// How many studies `scope` holds.
    async fn hub_count(&self, scope: HubScope) -> StoreResult<i64>;

    /// A study by GUID (the first commons, by name, if several hold it).
    async fn hub_study(&self, guid: &str) -> StoreResult<Option<HubStudy>>;
}

/// Portable statements both SQL backends run (`$n` parameters).
pub mod sql {
    pub const UPSERT_GOOD: &str = "INSERT INTO hub_commons (name, info, summary, study_count, \
         generation, last_attempt, last_success, last_error, failures) \
         VALUES ($1, $2, $3, $4, 1, $5, $5, NULL, 0) \
         ON CONFLICT (name) DO UPDATE SET info = excluded.info, summary = excluded.summary, \
         study_count = excluded.study_count, generation = hub_commons.generation + 1, \
         last_attempt = excluded.last_attempt, last_success = excluded.last_success, \
         last_error = NULL, failures = 0 RETURNING generation";
    pub const UPSERT_FAILURE: &str = "INSERT INTO hub_commons (name, last_attempt, last_error, \
         failures) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (name) DO UPDATE SET last_attempt = excluded.last_attempt, \
         last_error = excluded.last_error, failures = hub_commons.failures + 1";
    pub const DELETE_STUDIES: &str = "DELETE FROM hub_study WHERE commons = $1";
    pub const INSERT_STUDY: &str =
        "INSERT INTO hub_study (commons, guid, commons_name, doc) VALUES ($1, $2, $3, $4)";
    pub const DELETE_COMMONS: &str = "DELETE FROM hub_commons WHERE name = $1";
    pub const SELECT_COMMONS: &str = "SELECT name, info, summary, study_count, generation, \
         last_attempt, last_success, last_error, failures FROM hub_commons ORDER BY name";
    pub const STUDY_COLUMNS: &str = "commons, guid, commons_name, doc";
    pub const SELECT_STUDY: &str = "SELECT commons, guid, commons_name, doc FROM hub_study \
         WHERE guid = $1 ORDER BY commons LIMIT 1";

    /// The listing statement for a scope: `(sql, binds the scope value)`; the limit and
    /// offset follow as the last two parameters.
    #[must_use]
    pub fn list(scope: &super::HubScope) -> (String, bool) {
        let (filter, bound) = match scope {
            super::HubScope::All => ("", false),
            super::HubScope::Commons(_) => ("WHERE commons = $1 ", true),
            super::HubScope::CommonsName(_) => ("WHERE commons_name = $1 ", true),
        };
        let (l, o) = if bound { ("$2", "$3") } else { ("$1", "$2") };
        (
            format!(
                "SELECT {STUDY_COLUMNS} FROM hub_study {filter}ORDER BY commons, guid \
                 LIMIT {l} OFFSET {o}"
            ),
            bound,
        )
    }

    /// The count statement for a scope: `(sql, binds the scope value)`.
    #[must_use]
    pub fn count(scope: &super::HubScope) -> (String, bool) {
        match scope {
            super::HubScope::All => ("SELECT COUNT(*) FROM hub_study".into(), false),
            super::HubScope::Commons(_) => (
                "SELECT COUNT(*) FROM hub_study WHERE commons = $1".into(),
                true,
            ),
            super::HubScope::CommonsName(_) => (
                "SELECT COUNT(*) FROM hub_study WHERE commons_name = $1".into(),
                true,
            ),
        }
    }
}

impl HubScope {
    /// The bound value of the scope's filter, if any.
    #[must_use]
    pub fn value(&self) -> Option<&str> {
        match self {
            Self::All => None,
            Self::Commons(v) | Self::CommonsName(v) => Some(v),
        }
    }
}
