//! weft-tasks: the supervisor of weft's background work.
//!
//! The composition root starts each long-running job (a hub's syncs, the blank-record filler,
//! the SQLite checkpointer, the PostgreSQL policy listener, …) as a named task of one
//! [`Runner`]. The runner restarts a task whose body returns an error or panics, after an
//! exponential backoff with a cap, logging each failure; it stops every task when it is
//! cancelled ([`Runner::shutdown`], at the same signal that stops the HTTP server), waiting a
//! bounded time; and it keeps each task's state (running, backing off, stopped; restarts;
//! the last error and when; the last success) readable as a snapshot ([`Tasks::snapshot`]),
//! which `/_status` shows.
//!
//! A task body is a function the runner calls for every (re)start with a [`Context`]: an
//! async one ([`Runner::spawn`]) watches [`Context::cancelled`], a blocking one
//! ([`Runner::spawn_blocking`], run on tokio's blocking pool) polls [`Context::stop_flag`].
//! A body calls [`Context::succeeded`] after each good round, which also resets the backoff.
//!
//! This crate knows nothing of the services or storage: it sits below them, and they hand
//! it their bodies.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// What a task body returns when it fails.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A task body's result: `Ok(())` ends the task for good (it is not restarted); an error
/// restarts it after the backoff.
pub type TaskResult = Result<(), BoxError>;

/// How long the runner waits before restarting a failed task: `min` after the first failure,
/// doubling with each failure in a row, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// One second, doubling up to five minutes.
    fn default() -> Self {
        Self {
            min: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Its body is running.
    Running,
    /// Its body failed; it is restarted at `retry_at`.
    BackingOff,
    /// It ended (its body returned `Ok`, or the runner was cancelled).
    Stopped,
}

/// One task's state, as [`Tasks::snapshot`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskSnapshot {
    pub name: String,
    pub state: TaskState,
    /// How many times the body was started again after a failure.
    pub restarts: u64,
    /// When the body was last started.
    pub started_at: DateTime<Utc>,
    /// The message of the last failure (an error returned, or a panic).
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// When the body last reported a good round (or returned `Ok`).
    pub last_success_at: Option<DateTime<Utc>>,
    /// When a task backing off is started again.
    pub retry_at: Option<DateTime<Utc>>,
}

impl TaskSnapshot {
    /// The task's last run failed and nothing has succeeded since: it is backing off, or
    /// restarted but not yet through a good round.
    #[must_use]
    pub fn failing(&self) -> bool {
        match (self.last_error_at, self.last_success_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(err), Some(ok)) => err >= ok,
        }
    }
}

/// One task's state, shared by its supervisor, its body's [`Context`] and the readers.
struct Slot {
    state: Mutex<TaskSnapshot>,
    /// Set when the body reports a success; the supervisor takes it to reset the backoff.
    succeeded: AtomicBool,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, TaskSnapshot> {
        // A snapshot is plain data: a panic while it was held leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The readable side of a runner: every task's state.
#[derive(Clone, Default)]
pub struct Tasks {
    slots: Arc<Mutex<Vec<Arc<Slot>>>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.snapshot()).finish()
    }
}

impl Tasks {
    /// Each task's state, in the order the tasks were started.
    #[must_use]
    pub fn snapshot(&self) -> Vec<TaskSnapshot> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|s| s.lock().clone())
            .collect()
    }

    /// Register `name`, made unique with a `-2`, `-3`, … suffix if it is taken.
    fn register(&self, name: String) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = |n: &str| slots.iter().any(|s| s.lock().name == n);
        let mut unique = name.clone();
        let mut k = 2;
        while taken(&unique) {
            unique = format!("{name}-{k}");
            k += 1;
        }
        let slot = Arc::new(Slot {
            state: Mutex::new(TaskSnapshot {
                name: unique,
                state: TaskState::Running,
                restarts: 0,
                started_at: Utc::now(),
                last_error: None,
                last_error_at: None,
                last_success_at: None,
                retry_at: None,
            }),
            succeeded: AtomicBool::new(false),
        });
        slots.push(Arc::clone(&slot));
        slot
    }
}

/// What a task body gets each time it is started.
#[derive(Clone)]
pub struct Context {
    cancel: CancellationToken,
    stop: Arc<AtomicBool>,
    slot: Arc<Slot>,
}

impl Context {
    /// Resolves when the runner is cancelled: the body should return soon after.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled() || self.stop.load(Ordering::Acquire)
    }

    /// The runner's token (for handing to code that takes one).
    #[must_use]
    pub fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Set when the body should stop: for blocking bodies, which cannot await
    /// [`Self::cancelled`]. Also set if the runner itself goes away (the runtime shuts down).
    #[must_use]
    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// Record a good round: the time shows as `last_success_at`, and the next failure
    /// starts the backoff from its minimum again.
    pub fn succeeded(&self) {
        self.slot.lock().last_success_at = Some(Utc::now());
        self.slot.succeeded.store(true, Ordering::Release);
    }

    /// Sleep for `d`, or less if the runner is cancelled meanwhile; `false` when cancelled.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => !self.is_cancelled(),
            () = self.cancel.cancelled() => false,
        }
    }

    /// The task's name as registered.
    #[must_use]
    pub fn name(&self) -> String {
        self.slot.lock().name.clone()
    }
}

/// Starts, restarts and stops named tasks.
pub struct Runner {
    tasks: Tasks,
    cancel: CancellationToken,
    backoff: Backoff,
    supervisors: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new(Backoff::default())
    }
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("tasks", &self.tasks)
            .field("cancelled", &self.cancel.is_cancelled())
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// Aborts the task it holds when dropped (a supervisor aborted takes its body with it).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sets the flag when dropped, so a blocking body stops even if its supervisor is aborted.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Starts one run of a body.
type Start = Box<dyn FnMut(Context) -> JoinHandle<TaskResult> + Send>;

impl Runner {
    /// A runner restarting failed tasks after `backoff`. Tasks run on the current tokio
    /// runtime; a runner dropped without [`Self::shutdown`] leaves them running.
    #[must_use]
    pub fn new(backoff: Backoff) -> Self {
        Self {
            tasks: Tasks::default(),
            cancel: CancellationToken::new(),
            backoff,
            supervisors: Mutex::new(Vec::new()),
        }
    }

    /// The tasks' states, readable after the runner is gone.
    #[must_use]
    pub fn tasks(&self) -> Tasks {
        self.tasks.clone()
    }

    /// The token [`Self::shutdown`] cancels.
    #[must_use]
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Run `body` as the task `name`, again after each failure. Returns the name it got
    /// (made unique if taken).
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, mut body: F) -> String
    where
        F: FnMut(Context) -> Fut + Send + 'static,
        Fut: Future<Output = TaskResult> + Send + 'static,
    {
        self.supervise(name.into(), Box::new(move |ctx| tokio::spawn(body(ctx))))
    }

    /// Run the blocking `body` on tokio's blocking pool (a thread of its own for as long
    /// as it runs) as the task `name`, again after each failure. The body polls
    /// [`Context::stop_flag`] and returns when it is set.
    pub fn spawn_blocking<F>(&self, name: impl Into<String>, body: F) -> String
    where
        F: Fn(&Context) -> TaskResult + Send + Sync + 'static,
    {
        let body = Arc::new(body);
        self.supervise(
            name.into(),
            Box::new(move |ctx| {
                let body = Arc::clone(&body);
                tokio::task::spawn_blocking(move || body(&ctx))
            }),
        )
    }

    fn supervise(&self, name: String, start: Start) -> String {
        let slot = self.tasks.register(name);
        let name = slot.lock().name.clone();
        let handle = tokio::spawn(supervise(slot, self.cancel.clone(), self.backoff, start));
        self.supervisors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handle);
        name
    }

    /// Cancel every task and wait at most `within` for them to stop; tasks still running
    /// then are aborted (a blocking body is only told to stop). `true` when all stopped in
    /// time.
    pub async fn shutdown(&self, within: Duration) -> bool {
        self.cancel.cancel();
        let deadline = tokio::time::Instant::now() + within;
        let supervisors = std::mem::take(
            &mut *self
                .supervisors
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut all = true;
        for mut h in supervisors {
            if tokio::time::timeout_at(deadline, &mut h).await.is_err() {
                h.abort();
                all = false;
            }
        }
        if !all {
            tracing::warn!("background tasks still running after {within:?}; aborted");
        }
        all
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

async fn supervise(slot: Arc<Slot>, cancel: CancellationToken, backoff: Backoff, mut start: Start) {
    let name = slot.lock().name.clone();
    let mut wait = backoff.min;
    loop {
        {
            let mut s = slot.lock();
            s.state = TaskState::Running;
            s.started_at = Utc::now();
            s.retry_at = None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = SetOnDrop(Arc::clone(&stop));
        let ctx = Context {
            cancel: cancel.clone(),
            stop: Arc::clone(&stop),
            slot: Arc::clone(&slot),
        };
        let mut run = AbortOnDrop(start(ctx));
        let outcome = tokio::select! {
            r = &mut run.0 => r,
            () = cancel.cancelled() => {
                stop.store(true, Ordering::Release);
                (&mut run.0).await
            }
        };
        let error = match outcome {
            Ok(Ok(())) => {
                let mut s = slot.lock();
                s.state = TaskState::Stopped;
                s.last_success_at = Some(Utc::now());
                if !cancel.is_cancelled() {
                    tracing::info!(task = %name, "background task finished");
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) if e.is_panic() => format!("panicked: {}", panic_message(&*e.into_panic())),
            Err(_) => {
                // Aborted: only a shutdown that ran out of time does that.
                slot.lock().state = TaskState::Stopped;
                return;
            }
        };
        if slot.succeeded.swap(false, Ordering::AcqRel) {
            wait = backoff.min;
        }
        let now = Utc::now();
        let stopping = cancel.is_cancelled();
        {
            let mut s = slot.lock();
            s.last_error = Some(error.clone());
            s.last_error_at = Some(now);
            if stopping {
                s.state = TaskState::Stopped;
            } else {
                s.state = TaskState::BackingOff;
                s.retry_at = chrono::Duration::from_std(wait).ok().map(|d| now + d);
            }
        }
        if stopping {
            tracing::warn!(task = %name, error = %error, "background task failed while stopping");
            return;
        }
        tracing::warn!(
            task = %name,
            error = %error,
            retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "background task failed; restarting after a backoff"
        );
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = cancel.cancelled() => {
                let mut s = slot.lock();
                s.state = TaskState::Stopped;
                s.retry_at = None;
                return;
            }
        }
        slot.lock().restarts += 1;
        wait = (wait * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    fn quick() -> Backoff {
        Backoff {
            min: Duration::from_millis(40),
            max: Duration::from_millis(100),
        }
    }

    async fn wait_for(tasks: &Tasks, what: impl Fn(&[TaskSnapshot]) -> bool) -> Vec<TaskSnapshot> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let snap = tasks.snapshot();
            if what(&snap) {
                return snap;
            }
            assert!(Instant::now() < deadline, "never reached: {snap:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_task_failing_twice_is_restarted_with_growing_backoff_then_succeeds() {
        let runner = Runner::new(quick());
        let starts = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let seen = Arc::clone(&starts);
        runner.spawn("flaky", move |_ctx| {
            let seen = Arc::clone(&seen);
            async move {
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(Instant::now());
                    s.len()
                };
                if n <= 2 {
                    return Err(format!("failure {n}").into());
                }
                Ok(())
            }
        });
        let snap = wait_for(&runner.tasks(), |s| s[0].state == TaskState::Stopped).await;
        let t = &snap[0];
        assert_eq!(t.name, "flaky");
        assert_eq!(t.restarts, 2);
        assert_eq!(t.last_error.as_deref(), Some("failure 2"));
        assert!(t.last_success_at.is_some());
        assert!(t.last_success_at >= t.last_error_at);
        assert!(!t.failing());
        let starts = starts.lock().unwrap().clone();
        assert_eq!(starts.len(), 3, "no restart after success");
        let first = starts[1] - starts[0];
        let second = starts[2] - starts[1];
        assert!(
            first >= Duration::from_millis(40),
            "first backoff {first:?}"
        );
        assert!(
            second >= Duration::from_millis(80),
            "second backoff doubled: {second:?}"
        );
        assert!(runner.shutdown(Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn the_backoff_is_capped_and_a_failing_task_says_so() {
        let runner = Runner::new(quick());
        let starts = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let seen = Arc::clone(&starts);
        runner.spawn("broken", move |_ctx| {
            seen.lock().unwrap().push(Instant::now());
            async { Err::<(), BoxError>("down".into()) }
        });
        let snap = wait_for(&runner.tasks(), |s| s[0].restarts >= 4).await;
        assert!(snap[0].failing());
        assert_eq!(snap[0].last_error.as_deref(), Some("down"));
        assert!(snap[0].last_success_at.is_none());
        let starts = starts.lock().unwrap().clone();
        // 40, 80, then capped at 100 ms.
        let gap = starts[4] - starts[3];
        assert!(gap >= Duration::from_millis(100), "{gap:?}");
        assert!(
            gap < Duration::from_millis(160),
            "capped at 100 ms: {gap:?}"
        );
        assert!(runner.shutdown(Duration::from_secs(1)).await);
        let after = runner.tasks().snapshot();
        assert_eq!(after[0].state, TaskState::Stopped);
        assert_eq!(after[0].retry_at, None);
    }

    #[tokio::test]
    async fn a_success_resets_the_backoff() {
        let runner = Runner::new(Backoff {
            min: Duration::from_millis(30),
            max: Duration::from_secs(10),
        });
        let runs = Arc::new(AtomicUsize::new(0));
        let starts = Arc::new(Mutex::new(Vec::<Instant>::new()));
        let (r, seen) = (Arc::clone(&runs), Arc::clone(&starts));
        runner.spawn("resets", move |ctx| {
            let n = r.fetch_add(1, Ordering::SeqCst) + 1;
            seen.lock().unwrap().push(Instant::now());
            async move {
                // Runs 1-3 fail (backoffs 30, 60, 120 ms); run 4 succeeds a round, then fails:
                // the next wait is 30 ms again.
                if n == 4 {
                    ctx.succeeded();
                }
                if n >= 6 {
                    ctx.cancelled().await;
                    return Ok(());
                }
                Err(format!("run {n}").into())
            }
        });
        wait_for(&runner.tasks(), |s| s[0].restarts >= 5).await;
        let starts = starts.lock().unwrap().clone();
        let after_success = starts[4] - starts[3];
        assert!(after_success >= Duration::from_millis(30));
        assert!(
            after_success < Duration::from_millis(110),
            "the backoff started over: {after_success:?}"
        );
        assert!(runner.shutdown(Duration::from_secs(1)).await);
    }

    #[tokio::test]
    async fn a_panicking_task_is_restarted_and_its_panic_recorded() {
        let runner = Runner::new(quick());
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        runner.spawn("panics", move |ctx| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(n > 0, "boom on the first run");
                ctx.succeeded();
                ctx.cancelled().await;
                Ok(())
            }
        });
        let snap = wait_for(&runner.tasks(), |s| s[0].last_success_at.is_some()).await;
        assert_eq!(snap[0].state, TaskState::Running);
        assert_eq!(snap[0].restarts, 1);
        let err = snap[0].last_error.clone().unwrap();
        assert!(err.starts_with("panicked: boom on the first run"), "{err}");
        assert!(!snap[0].failing());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(runner.shutdown(Duration::from_secs(1)).await);
        assert_eq!(runner.tasks().snapshot()[0].state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn a_panicking_blocking_task_is_restarted() {
        let runner = Runner::new(quick());
        let runs = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&runs);
        runner.spawn_blocking("blocking", move |ctx| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            assert!(n > 0, "blocking boom");
            while !ctx.stop_flag().load(Ordering::Acquire) {
                ctx.succeeded();
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        });
        let snap = wait_for(&runner.tasks(), |s| s[0].last_success_at.is_some()).await;
        assert_eq!(snap[0].restarts, 1);
        assert_eq!(
            snap[0].last_error.as_deref(),
            Some("panicked: blocking boom")
        );
        assert!(runner.shutdown(Duration::from_secs(1)).await);
        assert_eq!(runner.tasks().snapshot()[0].state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn cancellation_stops_every_task_and_shutdown_returns() {
        let runner = Runner::new(quick());
        let stopped = Arc::new(AtomicUsize::new(0));
        for i in 0..3 {
            let stopped = Arc::clone(&stopped);
            runner.spawn(format!("async-{i}"), move |ctx| {
                let stopped = Arc::clone(&stopped);
                async move {
                    loop {
                        ctx.succeeded();
                        if !ctx.sleep(Duration::from_secs(3600)).await {
                            break;
                        }
                    }
                    stopped.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            });
        }
        let s = Arc::clone(&stopped);
        runner.spawn_blocking("blocking", move |ctx| {
            while !ctx.stop_flag().load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10));
            }
            s.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        // One backing off for an hour stops too.
        let slow = Runner::new(Backoff {
            min: Duration::from_secs(3600),
            max: Duration::from_secs(3600),
        });
        slow.spawn("down", |_ctx| async { Err::<(), BoxError>("no".into()) });
        wait_for(&runner.tasks(), |s| {
            s.iter().all(|t| t.state == TaskState::Running)
        })
        .await;
        wait_for(&slow.tasks(), |s| s[0].state == TaskState::BackingOff).await;
        let began = Instant::now();
        assert!(runner.shutdown(Duration::from_secs(5)).await);
        assert!(slow.shutdown(Duration::from_secs(5)).await);
        assert!(began.elapsed() < Duration::from_secs(2));
        assert_eq!(stopped.load(Ordering::SeqCst), 4);
        let names: Vec<_> = runner
            .tasks()
            .snapshot()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["async-0", "async-1", "async-2", "blocking"]);
        assert!(
            runner
                .tasks()
                .snapshot()
                .iter()
                .all(|t| t.state == TaskState::Stopped)
        );
        let down = &slow.tasks().snapshot()[0];
        assert_eq!((down.state, down.restarts), (TaskState::Stopped, 0));
    }

    #[tokio::test]
    async fn shutdown_is_bounded_when_a_task_ignores_cancellation() {
        let runner = Runner::new(quick());
        runner.spawn("stubborn", |_ctx| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        let began = Instant::now();
        assert!(!runner.shutdown(Duration::from_millis(100)).await);
        assert!(began.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn names_are_unique_and_snapshots_serialize() {
        let runner = Runner::new(quick());
        let a = runner.spawn("same", |ctx| async move {
            ctx.cancelled().await;
            Ok(())
        });
        let b = runner.spawn("same", |ctx| async move {
            ctx.cancelled().await;
            Ok(())
        });
        assert_eq!((a.as_str(), b.as_str()), ("same", "same-2"));
        let snap = wait_for(&runner.tasks(), |s| s.len() == 2).await;
        let v = serde_json::to_value(&snap[0]).unwrap();
        assert_eq!(v["state"], "running");
        assert_eq!(v["restarts"], 0);
        assert!(v["last_error"].is_null());
        assert!(v["started_at"].as_str().unwrap().ends_with('Z'));
        assert!(runner.shutdown(Duration::from_secs(1)).await);
    }
}
