//! Token verification speed, as issue [3/4] states its targets: in process, on one
//! thread, for distinct tokens (each pays the RS256 signature check) and for a token seen
//! before (served from the verified-token memory).
//!
//!     cargo bench -p weft-identity --bench tokens
//!
//! Prints verifications per second for: N distinct tokens verified once each; one token
//! verified N times; signing (issuing) N tokens.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use weft_identity::Tokens;

const DISTINCT: usize = 4_000;
const REPEATS: usize = 2_000_000;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = weft_store_sqlite::SqliteStore::open(&dir.path().join("t.db"), 2).unwrap();
        let tokens = Tokens::open(Arc::new(store), "http://bench.weft/user".into())
            .await
            .unwrap();
        let scopes: Vec<String> = ["openid", "user", "data", "fence"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();

        let t = Instant::now();
        let issued: Vec<String> = (0..DISTINCT)
            .map(|i| {
                tokens
                    .issue_access(&format!("user{i}@bench.org"), &scopes, 3600)
                    .unwrap()
            })
            .collect();
        let sign = t.elapsed();

        let t = Instant::now();
        for tok in &issued {
            black_box(tokens.verify(tok, &["openid"]).await.unwrap());
        }
        let distinct = t.elapsed();

        let one = &issued[0];
        let t = Instant::now();
        for _ in 0..REPEATS {
            black_box(tokens.verify(one, &["openid"]).await.unwrap());
        }
        let repeated = t.elapsed();

        let rate = |n: usize, d: std::time::Duration| n as f64 / d.as_secs_f64();
        println!(
            "sign (issue) {DISTINCT} tokens: {:.0}/s ({:.1} µs each)",
            rate(DISTINCT, sign),
            sign.as_secs_f64() * 1e6 / DISTINCT as f64
        );
        println!(
            "verify {DISTINCT} distinct tokens: {:.0}/s ({:.1} µs each)",
            rate(DISTINCT, distinct),
            distinct.as_secs_f64() * 1e6 / DISTINCT as f64
        );
        println!(
            "verify one token {REPEATS} times: {:.0}/s ({:.3} µs each)",
            rate(REPEATS, repeated),
            repeated.as_secs_f64() * 1e6 / REPEATS as f64
        );
    });
}
