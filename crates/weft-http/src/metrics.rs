//! Prometheus metrics: the recorder, its upkeep, and the middleware that counts and times
//! every request by method, matched route and status.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;

/// Install the Prometheus recorder (once per process); `None` if one is installed already.
#[must_use]
pub fn install_metrics() -> Option<PrometheusHandle> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
        ])
        .ok()?
        .install_recorder()
        .ok()
}

/// How often [`metrics_upkeep`] drains the histograms.
const METRICS_UPKEEP: Duration = Duration::from_secs(1);

/// Keep the recorder's memory bounded: every histogram sample is held in the recorder until
/// it is drained into its buckets, which happens only at a scrape or an upkeep. Without this
/// task a server nobody scrapes grew by about 20 bytes a request (tens of MiB per minute under
/// load; docs/benchmarks.md). A supervised task's body: runs until `ctx` is cancelled.
pub async fn metrics_upkeep(handle: &PrometheusHandle, ctx: &weft_tasks::Context) {
    let mut tick = tokio::time::interval(METRICS_UPKEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = ctx.cancelled() => return,
        }
        handle.run_upkeep();
        ctx.succeeded();
    }
}

/// Counts and times the request, when metrics are on.
pub(crate) async fn record(State(on): State<bool>, req: Request, next: Next) -> Response {
    if !on {
        return next.run(req).await;
    }
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("weft_http_requests_total", &labels).increment(1);
    metrics::histogram!("weft_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    resp
}
