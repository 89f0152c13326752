//! The explorer: every mapping's documents, rebuilt from the database at start and kept live
//! by following the graph's change feed (so every instance behind a balancer follows every
//! instance's submissions), and who may read which of them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixedbitset::FixedBitSet;
use parking_lot::Mutex;
use serde_json::Value;
use weft_auth::{Authorizer, Credentials};
use weft_core::WeftError;
use weft_dictionary::Dictionary;
use weft_store::{GraphNode, GraphStore, StoreResult};

use crate::build::{self, Built};
use crate::config::{GuppyConfig, Tier};
use crate::mapping::{AUTH_FIELD, EtlMapping, Kind};
use crate::table::{Table, Values};

/// Roots read and built at a time.
const CHUNK: usize = 1000;

/// An index and a caller's readable paths (`None`: all).
type ReadableKey = (usize, Option<Vec<String>>);

/// The service name of the policy engine's grants that let a caller explore.
pub const SERVICE: &str = "guppy";

/// How long a gap in the feed (a `seq` not seen while greater ones are) is waited for: a
/// PostgreSQL transaction that took its `seq` earlier may still commit.
const GAP_WAIT: Duration = Duration::from_secs(60);

/// Where the follower is in the feed.
#[derive(Debug, Default)]
struct Cursor {
    /// The greatest entry seen: the next read starts after it.
    top: i64,
    /// Entries below `top` not seen yet, since when: each is looked for again until it
    /// shows or `GAP_WAIT` passes.
    gaps: HashMap<i64, Instant>,
}

/// How often the feed is read.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// Gaps looked for again per read of the feed (the oldest first).
const GAPS_PER_READ: usize = 64;

pub struct Explorer {
    store: Arc<dyn GraphStore>,
    dict: Arc<Dictionary>,
    mapping: Arc<EtlMapping>,
    config: GuppyConfig,
    authorizer: Arc<dyn Authorizer>,
    /// Each index's table. Requests hold read locks for their length (a download, for each
    /// piece); changes take the write lock for as long as writing their rows takes.
    tables: Vec<Arc<tokio::sync::RwLock<Table>>>,
    /// The rows each caller may read, per index, table epoch and readable paths: reused
    /// until the table changes.
    readable_rows: Mutex<HashMap<ReadableKey, (u64, Arc<FixedBitSet>)>>,
    /// Downloads in progress: while any is, rows are not compacted (their numbers stay).
    downloads: Arc<std::sync::atomic::AtomicUsize>,
    /// Node id → the documents built from it: (index, document id).
    deps: Mutex<HashMap<String, Vec<(usize, String)>>>,
    cursor: Mutex<Cursor>,
    /// Serializes rebuilds and refreshes.
    writer: tokio::sync::Mutex<()>,
    ready: std::sync::atomic::AtomicBool,
}

impl Explorer {
    #[must_use]
    pub fn new(
        store: Arc<dyn GraphStore>,
        dict: Arc<Dictionary>,
        mapping: EtlMapping,
        config: GuppyConfig,
        authorizer: Arc<dyn Authorizer>,
    ) -> Self {
        let tables = mapping
            .indices
            .iter()
            .map(|m| Arc::new(tokio::sync::RwLock::new(Table::new(Arc::new(m.clone())))))
            .collect();
        Self {
            store,
            dict,
            mapping: Arc::new(mapping),
            config,
            authorizer,
            tables,
            downloads: Arc::default(),
            readable_rows: Mutex::new(HashMap::new()),
            deps: Mutex::new(HashMap::new()),
            cursor: Mutex::new(Cursor::default()),
            writer: tokio::sync::Mutex::new(()),
            ready: std::sync::atomic::AtomicBool::new(false),
        }
    }

    #[must_use]
    pub fn mapping(&self) -> &EtlMapping {
        &self.mapping
    }

    #[must_use]
    pub fn config(&self) -> &GuppyConfig {
        &self.config
    }

    /// Whether the first build is done.
    #[must_use]
    pub fn ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The current tables, one per mapping, read-locked as one consistent view for a
    /// request.
    pub async fn tables(&self) -> Vec<tokio::sync::OwnedRwLockReadGuard<Table>> {
        let mut out = Vec::with_capacity(self.tables.len());
        for t in &self.tables {
            out.push(Arc::clone(t).read_owned().await);
        }
        out
    }

    /// One index's table, to lock piece by piece.
    #[must_use]
    pub fn table(&self, index: usize) -> Arc<tokio::sync::RwLock<Table>> {
        Arc::clone(&self.tables[index])
    }

    /// Count a download in progress until the returned pin is dropped.
    #[must_use]
    pub fn pin_rows(&self) -> RowsPinned {
        self.downloads
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        RowsPinned(Arc::clone(&self.downloads))
    }

    /// The index of a guppy type.
    #[must_use]
    pub fn index_of(&self, doc_type: &str) -> Option<usize> {
        self.mapping
            .indices
            .iter()
            .position(|m| m.doc_type == doc_type)
    }

    /// Rebuild every index from the database, reporting documents built as it goes; the
    /// feed is followed from the position read before the build began.
    pub async fn rebuild(&self, progress: &(dyn Fn(&str, usize) + Sync)) -> StoreResult<usize> {
        let _w = self.writer.lock().await;
        let head = self.store.graph_feed_head().await?;
        let mut deps: HashMap<String, Vec<(usize, String)>> = HashMap::new();
        let mut built: Vec<Option<Table>> = (0..self.tables.len()).map(|_| None).collect();
        let mut total = 0;
        for i in build::build_order(&self.mapping.indices) {
            let m = &self.mapping.indices[i];
            let mut table = Table::new(Arc::new(m.clone()));
            let others: Vec<Option<&Table>> = built.iter().map(Option::as_ref).collect();
            let joins = self.join_rows(m, &others, None);
            for t in m.root_types() {
                let mut after: Option<String> = None;
                loop {
                    let nodes = self
                        .store
                        .graph_scan(t.clone(), after.clone(), CHUNK)
                        .await?;
                    let Some(last) = nodes.last() else { break };
                    after = Some(last.id.clone());
                    let docs = self.build(i, &nodes).await?;
                    total += docs.len();
                    for mut b in docs {
                        self.apply_joins(i, &mut b.doc, &others, &joins);
                        table.upsert(&b.id, &b.doc);
                        add_deps(&mut deps, i, b);
                    }
                    progress(&m.doc_type, table.len());
                    if nodes.len() < CHUNK {
                        break;
                    }
                }
            }
            drop(others);
            built[i] = Some(table);
        }
        for (slot, table) in self.tables.iter().zip(built) {
            if let Some(t) = table {
                *slot.write().await = t;
            }
        }
        *self.deps.lock() = deps;
        *self.cursor.lock() = Cursor {
            top: head,
            ..Cursor::default()
        };
        self.ready.store(true, std::sync::atomic::Ordering::Release);
        Ok(total)
    }

    /// For each join of mapping `m`, the other index's rows by their join value.
    fn join_rows(
        &self,
        m: &crate::mapping::IndexMapping,
        others: &[Option<&Table>],
        keys: Option<&BTreeSet<String>>,
    ) -> Vec<HashMap<String, Vec<usize>>> {
        let Kind::Aggregator(a) = &m.kind else {
            return Vec::new();
        };
        a.joining
            .iter()
            .map(|j| {
                let other = self.index_of(&j.doc_type).unwrap_or(0);
                others[other].map_or_else(HashMap::new, |t| build::rows_by(t, &j.join_on, keys))
            })
            .collect()
    }

    fn apply_joins(
        &self,
        i: usize,
        doc: &mut serde_json::Map<String, Value>,
        others: &[Option<&Table>],
        rows: &[HashMap<String, Vec<usize>>],
    ) {
        let Kind::Aggregator(a) = &self.mapping.indices[i].kind else {
            return;
        };
        for (j, rows) in a.joining.iter().zip(rows) {
            let other = self.index_of(&j.doc_type).unwrap_or(0);
            if let Some(t) = others[other] {
                build::join(doc, j, t, rows);
            }
        }
    }

    async fn build(&self, i: usize, nodes: &[GraphNode]) -> StoreResult<Vec<Built>> {
        let m = &self.mapping.indices[i];
        match &m.kind {
            Kind::Aggregator(a) => build::aggregator(&*self.store, a, nodes).await,
            Kind::Collector(c) => {
                build::collector(&*self.store, &self.dict, &m.doc_type, c, nodes).await
            }
        }
    }

    /// Bring up to date every document built from, or now reaching, these nodes.
    pub async fn refresh(&self, ids: Vec<String>) -> StoreResult<usize> {
        let _w = self.writer.lock().await;
        let n = self.tables.len();
        let mut affected: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
        {
            let deps = self.deps.lock();
            for id in &ids {
                for (i, doc) in deps.get(id).into_iter().flatten() {
                    affected[*i].insert(doc.clone());
                }
            }
        }
        let nodes = self.store.graph_nodes(ids.clone()).await?;
        for node in &nodes {
            for (i, m) in self.mapping.indices.iter().enumerate() {
                if m.root_types().contains(&node.node_type) {
                    affected[i].insert(node.id.clone());
                }
            }
        }
        let existing: Vec<String> = nodes.iter().map(|n| n.id.clone()).collect();
        if !existing.is_empty() {
            let parents = self.store.graph_parents(existing).await?;
            let deps = self.deps.lock();
            for l in &parents {
                for (i, doc) in deps.get(&l.edge.dst).into_iter().flatten() {
                    affected[*i].insert(doc.clone());
                }
            }
        }
        let mut changed = 0;
        for i in build::build_order(&self.mapping.indices) {
            if affected[i].is_empty() {
                continue;
            }
            let want: Vec<String> = std::mem::take(&mut affected[i]).into_iter().collect();
            let m = &self.mapping.indices[i];
            let roots: Vec<GraphNode> = self
                .store
                .graph_nodes(want.clone())
                .await?
                .into_iter()
                .filter(|node| m.root_types().contains(&node.node_type))
                .collect();
            let present: HashSet<&str> = roots.iter().map(|r| r.id.as_str()).collect();
            let gone: Vec<&String> = want
                .iter()
                .filter(|w| !present.contains(w.as_str()))
                .collect();
            let mut built = Vec::new();
            for chunk in roots.chunks(CHUNK) {
                built.extend(self.build(i, chunk).await?);
            }
            // the documents joining these: by their join values, before and after
            let mut keys_for: Vec<(usize, BTreeSet<String>)> = Vec::new();
            for (k, other) in self.mapping.indices.iter().enumerate() {
                let Kind::Aggregator(a) = &other.kind else {
                    continue;
                };
                for j in a.joining.iter().filter(|j| j.doc_type == m.doc_type) {
                    let table = self.tables[i].read().await;
                    let mut keys = BTreeSet::new();
                    for id in &want {
                        add_keys(&mut keys, &table.value(id, &j.join_on));
                    }
                    for b in &built {
                        add_keys(&mut keys, b.doc.get(&j.join_on).unwrap_or(&Value::Null));
                    }
                    keys_for.push((k, keys));
                }
            }
            // joined fields from the other indices, read before this one is locked
            if matches!(&m.kind, Kind::Aggregator(a) if !a.joining.is_empty()) {
                let mut guards = Vec::with_capacity(n);
                for (k, t) in self.tables.iter().enumerate() {
                    guards.push(if k == i { None } else { Some(t.read().await) });
                }
                let others: Vec<Option<&Table>> = guards.iter().map(|g| g.as_deref()).collect();
                let joins = self.join_rows(m, &others, None);
                for b in &mut built {
                    self.apply_joins(i, &mut b.doc, &others, &joins);
                }
            }
            {
                let mut table = self.tables[i].write().await;
                for g in &gone {
                    table.remove(g);
                }
                for b in &built {
                    table.upsert(&b.id, &b.doc);
                }
            }
            // dead rows dropped from a copy made under the read lock (queries go on), then
            // swapped in; nothing else changes the table meanwhile (this holds `writer`)
            let pinned = self.downloads.load(std::sync::atomic::Ordering::Acquire) > 0;
            if !pinned && self.tables[i].read().await.wants_compaction() {
                let compacted = self.tables[i].read().await.compacted();
                *self.tables[i].write().await = compacted;
            }
            changed += gone.len() + built.len();
            {
                let mut deps = self.deps.lock();
                for b in built {
                    add_deps(&mut deps, i, b);
                }
            }
            // documents of other indices joining on these values
            for (k, keys) in keys_for {
                if keys.is_empty() {
                    continue;
                }
                let table = self.tables[k].read().await;
                let Kind::Aggregator(a) = &self.mapping.indices[k].kind else {
                    continue;
                };
                for j in a.joining.iter().filter(|j| j.doc_type == m.doc_type) {
                    for rows in build::rows_by(&table, &j.join_on, Some(&keys)).values() {
                        for r in rows {
                            affected[k].insert(table.id(*r).to_owned());
                        }
                    }
                }
            }
        }
        Ok(changed)
    }

    /// Read the feed once: apply what is new (and what filled a gap); `Ok(true)` when
    /// anything was.
    pub async fn follow_once(&self) -> StoreResult<bool> {
        let (top, mut gaps): (i64, Vec<i64>) = {
            let c = self.cursor.lock();
            (c.top, c.gaps.keys().copied().collect())
        };
        gaps.sort_unstable();
        gaps.truncate(GAPS_PER_READ);
        let mut entries = self.store.graph_feed(top, 10_000).await?;
        let mut filled = Vec::new();
        for g in gaps {
            if let Some(e) = self.store.graph_feed(g - 1, 1).await?.pop()
                && e.seq == g
            {
                filled.push(g);
                entries.push(e);
            }
        }
        let ids: BTreeSet<String> = entries.iter().map(|e| e.node_id.clone()).collect();
        if !ids.is_empty() {
            self.refresh(ids.into_iter().collect()).await?;
        }
        let mut c = self.cursor.lock();
        let now = Instant::now();
        for g in &filled {
            c.gaps.remove(g);
        }
        let mut next = c.top + 1;
        for e in entries.iter().filter(|e| e.seq > top) {
            for missing in next..e.seq {
                c.gaps.insert(missing, now);
            }
            next = e.seq + 1;
        }
        c.top = c.top.max(next - 1);
        c.gaps
            .retain(|_, since| now.duration_since(*since) <= GAP_WAIT);
        Ok(!entries.is_empty())
    }

    /// How many entries of the feed are not applied yet (those written after the last one
    /// read).
    pub async fn behind(&self) -> StoreResult<i64> {
        let head = self.store.graph_feed_head().await?;
        let top = self.cursor.lock().top;
        Ok((head - top).max(0))
    }

    /// Build everything, then follow the feed until cancelled (the `explore` task's body).
    pub async fn run(&self, ctx: &weft_tasks::Context) -> StoreResult<()> {
        if !self.ready() {
            let started = Instant::now();
            let n = self.rebuild(&|_, _| {}).await?;
            tracing::info!(
                documents = n,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "explorer documents built"
            );
        }
        let mut last_prune = Instant::now();
        loop {
            self.follow_once().await?;
            ctx.succeeded();
            if last_prune.elapsed() > Duration::from_secs(600) {
                let day_ago = weft_store::graph::sql::unix_now() - 86_400;
                self.store.graph_feed_prune(day_ago).await?;
                last_prune = Instant::now();
            }
            if !ctx.sleep(FOLLOW_EVERY).await {
                return Ok(());
            }
        }
    }

    /// The resource paths the caller may read through guppy (`None`: all of them).
    pub async fn readable(&self, creds: &Credentials) -> Result<Option<Vec<String>>, WeftError> {
        // a missing token is anonymous; a bad one is refused (guppy would read it as no
        // access and answer 200: see docs/compat/guppy.md)
        let paths = self.authorizer.permitted(creds, SERVICE, "read").await?;
        if paths.iter().any(|p| p == "/" || p == "/programs") {
            return Ok(None);
        }
        Ok(Some(paths))
    }

    /// The rows of index `index`'s `table` a caller with `readable` paths may read,
    /// computed once per state of the table and set of paths.
    #[must_use]
    pub fn accessible_rows(
        &self,
        index: usize,
        table: &Table,
        readable: Option<&[String]>,
    ) -> Arc<FixedBitSet> {
        let key = (index, readable.map(<[String]>::to_vec));
        if let Some((epoch, rows)) = self.readable_rows.lock().get(&key)
            && *epoch == table.epoch()
        {
            return Arc::clone(rows);
        }
        let rows = Arc::new(accessible(table, readable));
        let mut cache = self.readable_rows.lock();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(key, (table.epoch(), Arc::clone(&rows)));
        rows
    }

    /// The tier level of an index.
    #[must_use]
    pub fn tier(&self, index: usize) -> Tier {
        self.config.tier_of(&self.mapping.indices[index].doc_type)
    }
}

fn add_keys(keys: &mut BTreeSet<String>, v: &Value) {
    match v {
        Value::String(s) => {
            keys.insert(s.clone());
        }
        Value::Array(items) => {
            for i in items {
                add_keys(keys, i);
            }
        }
        Value::Null => {}
        other => {
            keys.insert(other.to_string());
        }
    }
}

fn add_deps(deps: &mut HashMap<String, Vec<(usize, String)>>, index: usize, b: Built) {
    for node in b.deps {
        let docs = deps.entry(node).or_default();
        if !docs.iter().any(|(i, d)| *i == index && *d == b.id) {
            docs.push((index, b.id.clone()));
        }
    }
}

/// The rows of `table` a caller with `readable` paths may read (`None`: all).
#[must_use]
pub fn accessible(table: &Table, readable: Option<&[String]>) -> FixedBitSet {
    let n = table.rows();
    let mut out = FixedBitSet::with_capacity(n);
    let Some(paths) = readable else {
        out.insert_range(..);
        return out;
    };
    let Some(col) = table.column(AUTH_FIELD) else {
        return out;
    };
    let Values::Keyword { dict, codes } = &col.values else {
        return out;
    };
    let ok: Vec<bool> = dict
        .values
        .iter()
        .map(|v| {
            paths.iter().any(|p| {
                let p = p.trim_end_matches('/');
                **v == *p || v.starts_with(&format!("{p}/"))
            })
        })
        .collect();
    for r in 0..n {
        if codes[col.span(r)].iter().any(|c| ok[*c as usize]) {
            out.insert(r);
        }
    }
    out
}

/// A download in progress: rows keep their numbers until it is dropped.
pub struct RowsPinned(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for RowsPinned {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}
