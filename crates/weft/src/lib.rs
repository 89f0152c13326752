//! The weft binary's library half: the composition root.
//!
//! It is the only place that picks concrete backends (SQLite or PostgreSQL, the basic-auth
//! authorizer, the pass-through access signer) from configuration and wires them into the
//! services and the HTTP app. `main.rs` is the CLI on top; integration tests build the same
//! app through [`build`].

pub mod import;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use weft_config::Config;
use weft_http::AppState;
use weft_indexd::drs::{DrsContext, PassThroughAccess};
use weft_indexd::{IndexService, IndexUserAuthorizer};
use weft_store::IndexStore;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("WEFT_COMMIT");

/// The configured PostgreSQL URL ("" when none is set; callers check `uses_postgres`).
fn postgres_url(config: &Config) -> String {
    config
        .database_url
        .as_ref()
        .map(|u| u.expose().to_owned())
        .unwrap_or_default()
}

/// Open the configured store, applying migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn IndexStore>> {
    if config.uses_postgres() {
        let url = postgres_url(config);
        let store =
            weft_store_postgres::PostgresStore::connect(&url, config.database.max_connections)
                .await
                .context("connecting to PostgreSQL (database_url)")?;
        Ok(Arc::new(store))
    } else {
        let path = config.sqlite_path();
        let readers = config.database.sqlite_readers;
        let store = tokio::task::spawn_blocking(move || {
            weft_store_sqlite::SqliteStore::open(&path, readers)
                .with_context(|| format!("opening SQLite database {}", path.display()))
        })
        .await??;
        Ok(Arc::new(store))
    }
}

/// Apply migrations only; returns how many were applied.
pub async fn migrate(config: &Config) -> anyhow::Result<usize> {
    if config.uses_postgres() {
        let url = postgres_url(config);
        Ok(weft_store_postgres::migrate(&url).await?)
    } else {
        let path = config.sqlite_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(weft_store_sqlite::SqliteStore::migrate(&path)?)
    }
}

/// The index service over a store, as configured.
#[must_use]
pub fn index_service(config: &Config, store: Arc<dyn IndexStore>) -> Arc<IndexService> {
    let authorizer = Arc::new(IndexUserAuthorizer::new(Arc::clone(&store)));
    Arc::new(IndexService::new(store, authorizer, &config.index))
}

/// Fetches documents from remote indexd services over HTTP, for distributed resolution.
struct HttpRemoteIndex {
    client: reqwest::Client,
}

#[async_trait::async_trait]
impl weft_indexd::dist::RemoteIndex for HttpRemoteIndex {
    async fn fetch(
        &self,
        host: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, weft_core::WeftError> {
        let url = format!("{host}{id}");
        let resp = self
            .client
            .get(&url)
            .query(&[("no_dist", "")])
            .send()
            .await
            .map_err(weft_core::WeftError::internal)?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(weft_core::WeftError::internal(format!(
                "{url}: HTTP {}",
                resp.status()
            )));
        }
        resp.json()
            .await
            .map(Some)
            .map_err(weft_core::WeftError::internal)
    }
}

fn dist(config: &Config) -> anyhow::Result<Option<weft_indexd::dist::Dist>> {
    if config.index.dist.is_empty() {
        return Ok(None);
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .connect_timeout(std::time::Duration::from_secs(3))
        .build()?;
    let remote = Arc::new(HttpRemoteIndex { client });
    Ok(Some(
        weft_indexd::dist::Dist::new(&config.index.dist, remote)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}

/// The whole HTTP application over a store.
pub fn build(
    config: Config,
    store: Arc<dyn IndexStore>,
    metrics: Option<weft_http::PrometheusHandleAlias>,
) -> anyhow::Result<axum::Router> {
    let authorizer = Arc::new(IndexUserAuthorizer::new(Arc::clone(&store)));
    let mut service = IndexService::new(Arc::clone(&store), authorizer.clone(), &config.index);
    if let Some(d) = dist(&config)? {
        service = service.with_dist(d);
    }
    let index = Arc::new(service);
    let base = config.public_base_url();
    let hostname = base
        .split_once("://")
        .map_or(base.as_str(), |(_, h)| h)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let drs = DrsContext {
        hostname,
        prefix: config.index.guid_prefix.clone(),
        bearer_issuer: format!("{base}/user"),
    };
    Ok(weft_http::app(AppState {
        index,
        drs,
        access: Arc::new(PassThroughAccess { authorizer }),
        metrics,
        started: Instant::now(),
        version: VERSION,
        commit: COMMIT,
        config,
    }))
}
