//! The hub service: syncing commons (on demand and on a schedule with backoff), keeping the
//! search index in step with the store, and the answers of aggregate MDS's endpoints.

use std::collections::{BTreeMap, HashMap, hash_map};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use weft_config::{DistEntry, HubConfig};
use weft_store::{HubCommons, HubPull, HubScope, HubStore, HubStudy};

use crate::HubError;
use crate::mapping::{self, CommonsSpec, STUDY_FIELD, Schema, TagCounts};
use crate::pull::{Limits, PageSink, Puller};
use crate::search::{IndexDoc, SearchIndex, SearchRequest, SearchResult};

/// The largest page `/mds/aggregate/metadata` serves (Elasticsearch's default result
/// window, past which aggregate MDS's search fails).
pub const MAX_METADATA_LIMIT: i64 = 10_000;

/// Studies read from the store per page when the search index is rebuilt.
const REBUILD_PAGE: i64 = 5000;

/// When each commons is next due, and how long its current backoff is.
#[derive(Debug, Clone, Copy)]
struct Due {
    at: i64,
    backoff: u64,
}

/// The data hub.
pub struct HubService {
    store: Arc<dyn HubStore>,
    specs: Vec<CommonsSpec>,
    schema: Schema,
    aggregations: Map<String, Value>,
    puller: Puller,
    /// `None` for a hub that only syncs (`weft hub sync`).
    search: Option<Arc<SearchIndex>>,
    /// The store generation of each commons the search index holds.
    indexed: Mutex<HashMap<String, i64>>,
    due: Mutex<HashMap<String, Due>>,
    interval: u64,
    retry_min: u64,
}

/// The outcome of syncing one commons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub commons: String,
    /// Studies stored, or the error.
    pub result: Result<usize, String>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc3339(secs: Option<i64>) -> Value {
    secs.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or(Value::Null, |d| {
            json!(d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        })
}

impl HubService {
    /// The hub of `config`, over `store`, with its search index in `search_dir` (`None`:
    /// in memory). Forgets commons no longer configured and rebuilds the search index from
    /// the store. `None` when no commons is configured.
    pub async fn open(
        config: &HubConfig,
        store: Arc<dyn HubStore>,
        search_dir: Option<&Path>,
    ) -> Result<Option<Arc<Self>>, HubError> {
        Self::open_with(config, store, Some(search_dir)).await
    }

    /// A hub that syncs but keeps no search index (for `weft hub sync`).
    pub async fn open_without_search(
        config: &HubConfig,
        store: Arc<dyn HubStore>,
    ) -> Result<Option<Arc<Self>>, HubError> {
        Self::open_with(config, store, None).await
    }

    async fn open_with(
        config: &HubConfig,
        store: Arc<dyn HubStore>,
        search_dir: Option<Option<&Path>>,
    ) -> Result<Option<Arc<Self>>, HubError> {
        let file = config
            .effective()
            .map_err(|e| HubError::Config(e.to_string()))?;
        if file.commons_count() == 0 {
            return Ok(None);
        }
        let (specs, schema) = mapping::specs(&file)?;
        let puller = Puller::new(
            Duration::from_secs(config.request_timeout_secs),
            Limits::of(config),
        )?;
        let search = match search_dir {
            None => None,
            Some(dir) => {
                let dir = dir.map(Path::to_owned);
                let index =
                    tokio::task::spawn_blocking(move || SearchIndex::create(dir.as_deref()))
                        .await
                        .map_err(|e| HubError::Internal(e.to_string()))??;
                Some(Arc::new(index))
            }
        };
        let hub = Arc::new(Self {
            store,
            specs,
            schema,
            aggregations: file.configuration.aggregations.clone(),
            puller,
            search,
            indexed: Mutex::new(HashMap::new()),
            due: Mutex::new(HashMap::new()),
            interval: config.sync_interval_secs,
            retry_min: config.retry_min_secs,
        });
        for c in hub.store.hub_commons().await? {
            if hub.spec(&c.name).is_none() {
                tracing::info!(commons = %c.name, "hub: forgetting a commons no longer configured");
                hub.store.remove_hub_commons(&c.name).await?;
            }
        }
        hub.refresh_search().await?;
        Ok(Some(hub))
    }

    fn spec(&self, name: &str) -> Option<&CommonsSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// The configured commons, in configuration order (gen3_commons, then adapter_commons).
    #[must_use]
    pub fn specs(&self) -> &[CommonsSpec] {
        &self.specs
    }

    /// Pull, normalize and store one commons, then re-index it. On failure the last good
    /// copy stays and the failure is recorded.
    pub async fn sync_one(&self, name: &str) -> Result<usize, HubError> {
        let spec = self
            .spec(name)
            .ok_or_else(|| HubError::Config(format!("no commons {name:?} is configured")))?;
        let started = now();
        let result = self.pull_and_store(spec, started).await;
        match &result {
            Ok(n) => {
                tracing::info!(commons = %spec.name, studies = n, "hub: commons synced");
            }
            Err(e) => {
                tracing::warn!(commons = %spec.name, error = %e, "hub: sync failed; keeping the last good copy");
                self.store
                    .record_hub_failure(&spec.name, started, &e.to_string())
                    .await?;
            }
        }
        let refreshed = self.refresh_search().await;
        let n = result?;
        refreshed?;
        Ok(n)
    }

    async fn pull_and_store(&self, spec: &CommonsSpec, at: i64) -> Result<usize, HubError> {
        let mut studies = Studies::new(spec, &self.schema);
        self.puller.pull(spec, &mut studies).await?;
        let (studies, summary) = studies.finish().await?;
        let n = studies.len();
        let pull = HubPull {
            commons: spec.name.clone(),
            info: spec.info().to_string(),
            summary: serde_json::to_string(&summary).unwrap_or_else(|_| "{}".into()),
            at,
        };
        self.store.replace_hub_studies(pull, studies).await?;
        Ok(n)
    }

    /// Sync every commons (concurrently); one failing never stops the others.
    pub async fn sync_all(&self) -> Vec<SyncOutcome> {
        let runs = self.specs.iter().map(|s| async move {
            SyncOutcome {
                commons: s.name.clone(),
                result: self.sync_one(&s.name).await.map_err(|e| e.to_string()),
            }
        });
        futures::future::join_all(runs).await
    }

    /// Re-index every commons whose stored generation differs from the indexed one (a sync
    /// by this process, another instance, or `weft hub sync`).
    pub async fn refresh_search(&self) -> Result<(), HubError> {
        let Some(search) = &self.search else {
            return Ok(());
        };
        let rows = self.store.hub_commons().await?;
        for c in rows {
            let have = self
                .indexed
                .lock()
                .map_err(|_| HubError::Internal("hub state poisoned".into()))?
                .get(&c.name)
                .copied();
            if have == Some(c.generation) || (have.is_none() && c.generation == 0) {
                continue;
            }
            let mut studies = Vec::new();
            let mut offset = 0;
            loop {
                let page = self
                    .store
                    .hub_studies(HubScope::Commons(c.name.clone()), REBUILD_PAGE, offset)
                    .await?;
                let n = page.len();
                studies.extend(page);
                if i64::try_from(n).unwrap_or(0) < REBUILD_PAGE {
                    break;
                }
                offset += REBUILD_PAGE;
            }
            let search = Arc::clone(search);
            let name = c.name.clone();
            tokio::task::spawn_blocking(move || {
                let items: Vec<IndexDoc<'_>> = studies
                    .iter()
                    .map(|s| IndexDoc {
                        guid: &s.guid,
                        commons_name: &s.commons_name,
                        text: &s.doc,
                    })
                    .collect();
                search.replace_commons(&name, &items)
            })
            .await
            .map_err(|e| HubError::Internal(e.to_string()))??;
            self.indexed
                .lock()
                .map_err(|_| HubError::Internal("hub state poisoned".into()))?
                .insert(c.name.clone(), c.generation);
        }
        Ok(())
    }

    /// The hub's background task (run by the composition root's supervisor): sync each
    /// commons when due until `ctx` is cancelled: every `sync_interval_secs` after a good
    /// pull; after a failure first `retry_min_secs`, doubling each time up to the interval.
    /// Also picks up syncs done elsewhere. A commons failing to pull is recorded in its
    /// sync status, not here; the task fails (and is restarted) only when the search index
    /// cannot be brought up to date with the store. Each good round is reported to `ctx`.
    pub async fn run(&self, ctx: weft_tasks::Context) -> Result<(), HubError> {
        let tick = Duration::from_secs(self.retry_min.clamp(1, 5));
        loop {
            let round = async {
                let t = now();
                let due: Vec<String> = self
                    .specs
                    .iter()
                    .filter(|s| self.next_due(&s.name).is_none_or(|d| d.at <= t))
                    .map(|s| s.name.clone())
                    .collect();
                let runs = due.iter().map(|name| async move {
                    let ok = self.sync_one(name).await.is_ok();
                    self.schedule(name, ok);
                });
                futures::future::join_all(runs).await;
                self.refresh_search().await
            };
            tokio::select! {
                r = round => r?,
                () = ctx.cancelled() => return Ok(()),
            }
            ctx.succeeded();
            if !ctx.sleep(tick).await {
                return Ok(());
            }
        }
    }

    fn next_due(&self, name: &str) -> Option<Due> {
        self.due.lock().ok().and_then(|d| d.get(name).copied())
    }

    fn schedule(&self, name: &str, ok: bool) {
        let Ok(mut due) = self.due.lock() else { return };
        let prev = due.get(name).map_or(0, |d| d.backoff);
        let backoff = if ok {
            0
        } else if prev == 0 {
            self.retry_min
        } else {
            (prev * 2).min(self.interval)
        };
        let wait = if ok { self.interval } else { backoff };
        due.insert(
            name.to_owned(),
            Due {
                at: now() + i64::try_from(wait).unwrap_or(i64::MAX / 2),
                backoff,
            },
        );
    }

    // ---- queries -------------------------------------------------------------------

    async fn commons_rows(&self) -> Result<Vec<HubCommons>, HubError> {
        Ok(self.store.hub_commons().await?)
    }

    /// `GET /aggregate/commons`: the `commons_name`s that have studies, most studies first.
    pub async fn commons(&self) -> Result<Value, HubError> {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for c in self.commons_rows().await? {
            if c.study_count > 0
                && let Some(s) = self.spec(&c.name)
            {
                *counts.entry(s.commons_name.clone()).or_default() += c.study_count;
            }
        }
        let mut names: Vec<(String, i64)> = counts.into_iter().collect();
        names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let names: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
        Ok(json!({ "commons": names }))
    }

    /// `GET /aggregate/metadata`: a page of studies grouped by commons (or flat), with the
    /// `counts` fields replaced by their lengths, and the pagination object (the HTTP layer
    /// drops it when not asked for).
    pub async fn metadata(
        &self,
        limit: i64,
        offset: i64,
        counts: &[String],
        flatten: bool,
    ) -> Result<(Value, Value), HubError> {
        let limit = limit.clamp(0, MAX_METADATA_LIMIT);
        let offset = offset.max(0);
        let hits = self.store.hub_count(HubScope::All).await?;
        let studies = if limit == 0 {
            Vec::new()
        } else {
            self.store.hub_studies(HubScope::All, limit, offset).await?
        };
        let mut grouped = Map::new();
        let mut flat = Vec::with_capacity(studies.len());
        for s in studies {
            let mut doc: Value = serde_json::from_str(&s.doc).unwrap_or(Value::Null);
            apply_counts(&mut doc, counts);
            let entry = json!({ s.guid: doc });
            if flatten {
                flat.push(entry);
            } else {
                let list = grouped
                    .entry(s.commons_name)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(l) = list {
                    l.push(entry);
                }
            }
        }
        let pages = if limit == 0 {
            0
        } else {
            (hits + limit - 1) / limit
        };
        let results = if flatten {
            Value::Array(flat)
        } else {
            Value::Object(grouped)
        };
        let pagination = json!({"hits": hits, "offset": offset, "pageSize": limit, "pages": pages});
        Ok((results, pagination))
    }

    /// `GET /aggregate/metadata/{name}`: every study whose `commons_name` is `name`.
    pub async fn commons_metadata(&self, name: &str) -> Result<Option<Value>, HubError> {
        no_nul("commons name", name)?;
        let scope = HubScope::CommonsName(name.to_owned());
        let n = self.store.hub_count(scope.clone()).await?;
        if n == 0 {
            return Ok(None);
        }
        let studies = self.store.hub_studies(scope, n, 0).await?;
        let docs: Vec<Value> = studies
            .iter()
            .map(|s| serde_json::from_str(&s.doc).unwrap_or(Value::Null))
            .collect();
        Ok(Some(Value::Array(docs)))
    }

    /// `GET /aggregate/metadata/guid/{guid}`.
    pub async fn study(&self, guid: &str) -> Result<Option<Value>, HubError> {
        no_nul("guid", guid)?;
        Ok(self
            .store
            .hub_study(guid)
            .await?
            .map(|s| serde_json::from_str(&s.doc).unwrap_or(Value::Null)))
    }

    /// `GET /aggregate/tags`: `{category: {"total": n, "names": [{name: count}]}}` over every
    /// commons, categories with most tags first.
    pub async fn tags(&self) -> Result<Value, HubError> {
        let mut all: BTreeMap<String, TagCounts> = BTreeMap::new();
        for c in self.commons_rows().await? {
            let summary: BTreeMap<String, TagCounts> =
                serde_json::from_str(&c.summary).unwrap_or_default();
            for (cat, counts) in summary {
                let t = all.entry(cat).or_default();
                t.total += counts.total;
                for (name, n) in counts.names {
                    *t.names.entry(name).or_default() += n;
                }
            }
        }
        let mut cats: Vec<(String, TagCounts)> = all.into_iter().collect();
        cats.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.cmp(&b.0)));
        let mut out = Map::new();
        for (cat, counts) in cats {
            let mut names: Vec<(String, u64)> = counts.names.into_iter().collect();
            names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let names: Map<String, Value> = names.into_iter().map(|(n, c)| (n, json!(c))).collect();
            out.insert(cat, json!({"total": counts.total, "names": [names]}));
        }
        Ok(Value::Object(out))
    }

    /// The info document of a commons (`/aggregate/metadata/{name}/info`), once pulled.
    pub async fn commons_info(&self, name: &str) -> Result<Option<Value>, HubError> {
        Ok(self
            .commons_rows()
            .await?
            .into_iter()
            .find(|c| c.name == name && c.generation > 0)
            .and_then(|c| serde_json::from_str(&c.info).ok()))
    }

    /// `GET /aggregate/info/{what}`: `schema`, `aggregations`, a commons' info, or a DRS
    /// prefix's `{"host", "name", "type"}`.
    pub async fn info(&self, what: &str) -> Result<Option<Value>, HubError> {
        match what {
            "schema" if !self.schema.0.is_empty() => return Ok(Some(self.schema.to_json())),
            "aggregations" => return Ok(Some(Value::Object(self.aggregations.clone()))),
            _ => {}
        }
        if let Some(s) = self.prefix_owner(what) {
            return Ok(Some(
                json!({"host": s.drs_hostname, "name": s.name, "type": "indexd"}),
            ));
        }
        self.commons_info(what).await
    }

    /// The commons that owns a DRS prefix.
    #[must_use]
    pub fn prefix_owner(&self, prefix: &str) -> Option<&CommonsSpec> {
        self.specs
            .iter()
            .find(|s| s.drs_prefixes.iter().any(|p| p == prefix))
    }

    /// indexd `DIST` entries for the configured commons with DRS prefixes: the hub resolves
    /// their GUIDs through them.
    #[must_use]
    pub fn dist_entries(&self) -> Vec<DistEntry> {
        self.specs
            .iter()
            .filter(|s| !s.drs_prefixes.is_empty())
            .map(|s| DistEntry {
                name: s.name.clone(),
                host: format!("{}/index/", s.mds_url.trim_end_matches('/')),
                hints: s
                    .drs_prefixes
                    .iter()
                    .map(|p| format!("{}[/:]", regex::escape(p)))
                    .collect(),
                kind: "indexd".to_owned(),
            })
            .collect()
    }

    /// `GET /aggregate/status` (a weft extension): each commons' sync state.
    pub async fn status(&self) -> Result<Value, HubError> {
        let rows: HashMap<String, HubCommons> = self
            .commons_rows()
            .await?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        let mut out = Map::new();
        for s in &self.specs {
            let row = rows.get(&s.name);
            let state = match row {
                None => "pending",
                Some(r) if r.last_error.is_some() => "error",
                Some(r) if r.generation == 0 => "pending",
                Some(_) => "ok",
            };
            let next = self.next_due(&s.name).map(|d| d.at);
            out.insert(
                s.name.clone(),
                json!({
                    "status": state,
                    "commons_name": s.commons_name,
                    "mds_url": s.mds_url,
                    "studies": row.map_or(0, |r| r.study_count),
                    "last_attempt": rfc3339(row.and_then(|r| r.last_attempt)),
                    "last_success": rfc3339(row.and_then(|r| r.last_success)),
                    "last_error": row.and_then(|r| r.last_error.clone()),
                    "consecutive_failures": row.map_or(0, |r| r.failures),
                    "next_attempt": rfc3339(next),
                    "drs_prefixes": s.drs_prefixes,
                }),
            );
        }
        Ok(json!({
            "commons": out,
            "sync_interval_secs": self.interval,
            "indexed_studies": self.search.as_ref().map_or(0, |s| s.len()),
        }))
    }

    /// Discovery search. Blocking work runs off the async runtime.
    pub async fn search(&self, req: SearchRequest) -> Result<SearchResult, HubError> {
        let search = self
            .search
            .clone()
            .ok_or_else(|| HubError::Internal("this hub keeps no search index".into()))?;
        tokio::task::spawn_blocking(move || search.search(&req))
            .await
            .map_err(|e| HubError::Internal(e.to_string()))?
    }
}

/// One commons' studies as its pages come in: each page normalized on its own (off the
/// async runtime) and kept only as the stored text, so a pull holds one raw page at a time.
///
/// A GUID keeps the place of its first appearance and the record of its last, as one map of
/// every page's records would (a later copy dropped by `select_field` drops the study).
struct Studies {
    spec: Arc<CommonsSpec>,
    schema: Arc<Schema>,
    /// One slot per distinct GUID pulled; `None` where normalization dropped the record.
    slots: Vec<Option<HubStudy>>,
    /// Each pulled GUID's slot.
    slot_of: HashMap<String, usize>,
    /// The tag summary of the studies so far (recounted at the end when a GUID came twice).
    summary: BTreeMap<String, TagCounts>,
    repeated: bool,
}

impl Studies {
    fn new(spec: &CommonsSpec, schema: &Schema) -> Self {
        Self {
            spec: Arc::new(spec.clone()),
            schema: Arc::new(schema.clone()),
            slots: Vec::new(),
            slot_of: HashMap::new(),
            summary: BTreeMap::new(),
            repeated: false,
        }
    }

    async fn add(&mut self, page: Map<String, Value>) -> Result<u64, HubError> {
        let guids: Vec<String> = page.keys().cloned().collect();
        let (spec, schema) = (Arc::clone(&self.spec), Arc::clone(&self.schema));
        let (normalized, summary) = tokio::task::spawn_blocking(move || {
            let normalized = mapping::normalize(&spec, &schema, page);
            let summary = mapping::tag_summary(normalized.iter().map(|n| &n.doc));
            let studies: Vec<HubStudy> = normalized
                .into_iter()
                .map(|n| HubStudy {
                    commons: spec.name.clone(),
                    guid: n.guid,
                    commons_name: spec.commons_name.clone(),
                    doc: n.doc.to_string(),
                })
                .collect();
            (studies, summary)
        })
        .await
        .map_err(|e| HubError::Internal(e.to_string()))?;
        for guid in guids {
            match self.slot_of.entry(guid) {
                hash_map::Entry::Vacant(v) => {
                    v.insert(self.slots.len());
                    self.slots.push(None);
                }
                hash_map::Entry::Occupied(o) => {
                    self.repeated = true;
                    self.slots[*o.get()] = None;
                }
            }
        }
        for study in normalized {
            if let Some(&i) = self.slot_of.get(&study.guid) {
                self.slots[i] = Some(study);
            }
        }
        if !self.repeated {
            merge_tags(&mut self.summary, summary);
        }
        Ok(self.slots.len() as u64)
    }

    /// The studies to store, and their tag summary.
    async fn finish(self) -> Result<(Vec<HubStudy>, BTreeMap<String, TagCounts>), HubError> {
        let studies: Vec<HubStudy> = self.slots.into_iter().flatten().collect();
        if !self.repeated {
            return Ok((studies, self.summary));
        }
        // a GUID came twice: count the kept copies again, one parsed document at a time
        tokio::task::spawn_blocking(move || {
            let mut summary = BTreeMap::new();
            for s in &studies {
                let doc = serde_json::from_str::<Value>(&s.doc).unwrap_or(Value::Null);
                merge_tags(&mut summary, mapping::tag_summary([&doc]));
            }
            (studies, summary)
        })
        .await
        .map_err(|e| HubError::Internal(e.to_string()))
    }
}

/// Add one tag summary to another.
fn merge_tags(into: &mut BTreeMap<String, TagCounts>, more: BTreeMap<String, TagCounts>) {
    for (category, counts) in more {
        let total = into.entry(category).or_default();
        total.total += counts.total;
        for (name, n) in counts.names {
            *total.names.entry(name).or_default() += n;
        }
    }
}

impl PageSink for Studies {
    fn take(
        &mut self,
        page: Map<String, Value>,
    ) -> futures::future::BoxFuture<'_, Result<u64, HubError>> {
        Box::pin(self.add(page))
    }
}

/// Replace `gen3_discovery.<field>` by its length for lists and objects (null → 0).
fn apply_counts(doc: &mut Value, counts: &[String]) {
    let Some(Value::Object(study)) = doc.get_mut(STUDY_FIELD) else {
        return;
    };
    for c in counts {
        if let Some(v) = study.get_mut(c) {
            let n = match v {
                Value::Null => Some(0),
                Value::Array(a) => Some(a.len()),
                Value::Object(o) => Some(o.len()),
                _ => None,
            };
            if let Some(n) = n {
                *v = json!(n);
            }
        }
    }
}

/// A name or GUID looked up in the store: PostgreSQL refuses NUL characters in text, so
/// both backends answer the same 400 for them.
fn no_nul(what: &str, value: &str) -> Result<(), HubError> {
    if value.contains('\0') {
        return Err(HubError::BadQuery(format!(
            "{what} must not contain NUL characters (U+0000)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_replace_lists_and_nulls() {
        let mut doc = json!({"gen3_discovery": {"files": [1, 2, 3], "meta": {"a": 1},
                             "none": null, "name": "x"}});
        apply_counts(
            &mut doc,
            &[
                "files".into(),
                "meta".into(),
                "none".into(),
                "name".into(),
                "absent".into(),
            ],
        );
        assert_eq!(
            doc,
            json!({"gen3_discovery": {"files": 3, "meta": 1, "none": 0, "name": "x"}})
        );
    }
}
