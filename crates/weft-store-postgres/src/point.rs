//! Point reads by did, coalesced: concurrent lookups share one statement.
//!
//! A PostgreSQL backend spends most of a primary-key lookup on the statement around it
//! (protocol messages, executor start-up, a round trip, and the wake-ups on both sides), not
//! on the lookup itself. So lookups queue their did, and one dispatcher task takes every did
//! waiting, up to [`MAX_BATCH`], and reads them with one `WHERE did = ANY($1)` on a pooled
//! connection, with at most [`BATCHES_IN_FLIGHT`] statements running at a time. With one
//! client a batch holds one did and costs what a lone lookup did; under load the batches grow
//! by themselves while earlier ones run (docs/benchmarks.md).
//!
//! Consistency is unchanged: a did is queued when its request asks for it, and the
//! statement that reads it starts after that, so a read still sees every write acknowledged
//! before it was asked. The dispatcher runs on the runtime of the first lookup; if that
//! runtime is gone (a store moved to another runtime), lookups go straight to the pool.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};
use weft_store::StoreResult;
use weft_store::sql::{self, RawRecord};

use crate::backend;
use crate::index::raw;

/// Dids read by one statement at most.
const MAX_BATCH: usize = 64;
/// Batch statements running at once (each holds one pooled connection).
const BATCHES_IN_FLIGHT: usize = 4;

/// [`sql::SELECT_BY_DID`] for an array of dids.
static SELECT_ANY: LazyLock<String> =
    LazyLock::new(|| sql::SELECT_BY_DID.replace("r.did = $1", "r.did = ANY($1)"));

type Reply = oneshot::Sender<StoreResult<Option<RawRecord>>>;

/// The queue of lookups waiting for the dispatcher.
#[derive(Debug)]
pub(crate) struct PointReads {
    queue: mpsc::UnboundedSender<(String, Reply)>,
}

impl PointReads {
    /// Start the dispatcher on the current runtime.
    pub(crate) fn start(pool: PgPool) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(dispatch(pool, waiting));
        Self { queue }
    }

    /// The record `did`, read in the next batch; `None` when the dispatcher is gone.
    pub(crate) async fn get(&self, did: &str) -> Option<StoreResult<Option<RawRecord>>> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((did.to_owned(), reply)).ok()?;
        answer.await.ok()
    }
}

async fn dispatch(pool: PgPool, mut waiting: mpsc::UnboundedReceiver<(String, Reply)>) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    while let Some(first) = waiting.recv().await {
        // Wait for a slot first: whatever queues meanwhile joins this batch.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            let found = read(&pool, distinct(&batch)).await;
            answer(batch, found);
            drop(slot);
        });
    }
}

/// The dids of a batch, each once.
fn distinct(batch: &[(String, Reply)]) -> Vec<String> {
    let mut dids: Vec<String> = batch.iter().map(|(did, _)| did.clone()).collect();
    dids.sort_unstable();
    dids.dedup();
    dids
}

async fn read(pool: &PgPool, dids: Vec<String>) -> StoreResult<HashMap<String, RawRecord>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(SELECT_ANY.as_str()))
        .bind(dids)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|row| raw(row).map(|r| (r.did.clone(), r)).map_err(backend))
        .collect()
}

/// Send every waiting lookup its record, or the batch's error.
fn answer(batch: Vec<(String, Reply)>, found: StoreResult<HashMap<String, RawRecord>>) {
    let mut found = match found {
        Ok(found) => found,
        Err(e) => {
            for (_, reply) in batch {
                let _ = reply.send(Err(e.clone()));
            }
            return;
        }
    };
    // A did asked again later in the batch gets a copy; its last asker takes the record.
    let mut seen = HashSet::new();
    let mut asked_later: Vec<bool> = batch
        .iter()
        .rev()
        .map(|(did, _)| !seen.insert(did.as_str()))
        .collect();
    asked_later.reverse();
    for ((did, reply), again) in batch.into_iter().zip(asked_later) {
        let record = if again {
            found.get(&did).cloned()
        } else {
            found.remove(&did)
        };
        // The asker may have gone (a dropped request); nothing to do then.
        let _ = reply.send(Ok(record));
    }
}
