//! Many clients at once: concurrent creates all land; concurrent updates of one record with
//! the same rev let exactly one through.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;
use tokio::task::JoinSet;

use crate::support::{TestApp, record, sorted};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_all_land() {
    const N: usize = 200;
    let app = Arc::new(TestApp::start().await);
    // One authenticated request first, so 200 requests do not all verify the password.
    app.create(json!({"file_name": "warm-up"})).await;

    let mut tasks = JoinSet::new();
    for i in 0..N {
        let app = Arc::clone(&app);
        tasks.spawn(async move {
            let r = app
                .post_json(
                    "/index/index/",
                    &record(json!({"file_name": format!("f{i}"), "size": i})),
                )
                .await;
            (r.status, r.json)
        });
    }
    let mut created = Vec::new();
    while let Some(res) = tasks.join_next().await {
        let (status, body) = res.expect("task");
        assert_eq!(status, 200, "{body}");
        created.push(body["did"].as_str().expect("did").to_owned());
    }
    assert_eq!(created.iter().collect::<HashSet<_>>().len(), N, "distinct");

    let listed: Vec<String> = app
        .list_dids("")
        .await
        .into_iter()
        .filter(|d| created.contains(d))
        .collect();
    assert_eq!(listed, sorted(created.clone()), "every create is listed");
    let stats = app.get("/index/_stats").await.expect(200);
    assert_eq!(stats["fileCount"], N + 1);
    let total: usize = (0..N).sum::<usize>() + 123;
    assert_eq!(stats["totalFileSize"], total);

    let app = Arc::into_inner(app).expect("all tasks are done");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_one_rev_let_one_through() {
    const N: usize = 20;
    let app = Arc::new(TestApp::start().await);
    let ids = app.create(json!({})).await;
    let mut tasks = JoinSet::new();
    for i in 0..N {
        let app = Arc::clone(&app);
        let path = format!("/index/index/{}?rev={}", ids.did, ids.rev);
        tasks.spawn(async move {
            let r = app
                .put_json(&path, &json!({"file_name": format!("writer-{i}")}))
                .await;
            (r.status, r.json)
        });
    }
    let mut winners = Vec::new();
    while let Some(res) = tasks.join_next().await {
        let (status, body) = res.expect("task");
        match status {
            200 => winners.push(body["rev"].as_str().expect("rev").to_owned()),
            409 => assert_eq!(body, json!({"error": "revision mismatch"})),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    let doc = app.doc(&ids.did).await;
    assert_eq!(doc["rev"], winners[0]);
    assert!(
        doc["file_name"]
            .as_str()
            .is_some_and(|f| f.starts_with("writer-"))
    );

    let app = Arc::into_inner(app).expect("all tasks are done");
    app.stop().await;
}
