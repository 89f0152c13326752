//! docs/mesh.md, run: two commons and a hub as three `weft serve` processes of the built
//! binary on loopback, each commons seeded from `examples/mesh/` (index manifest, then
//! discovery metadata through the MDS API with a token from `weft token create`), the hub
//! synced with `weft hub sync`, a search on the hub finding studies of both, and a GUID of
//! commons A resolved through the hub. Each process has its own database (SQLite in a
//! temporary directory, or a throwaway PostgreSQL database with `WEFT_TEST_DATABASE_URL`).

#![allow(clippy::unwrap_used)] // test helpers: a failure should panic with its cause

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use weft_store_postgres::testing::TempDatabase;

const GUID_A: &str = "dg.AAAA/8b1f2c34-9a5e-4c7d-b0a1-3e6f7d8c9b01";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One weft: its data directory, database and port.
struct Node {
    dir: tempfile::TempDir,
    db: Option<TempDatabase>,
    port: u16,
    config: PathBuf,
    child: Option<Child>,
}

impl Node {
    async fn new(config: PathBuf) -> Self {
        let db = TempDatabase::from_env()
            .await
            .expect("WEFT_TEST_DATABASE_URL is set but PostgreSQL is unreachable");
        Self {
            dir: tempfile::tempdir().unwrap(),
            db,
            port: free_port(),
            config,
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_weft"));
        c.current_dir(repo())
            .env_remove("WEFT_DATABASE_URL")
            .env("WEFT_CONFIG", &self.config)
            .env("WEFT_DATA_DIR", self.dir.path())
            .env("RUST_LOG", "warn");
        if let Some(db) = &self.db {
            c.env("WEFT_DATABASE_URL", db.url());
        }
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out: Output = self.command().args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "weft {args:?} failed: {text}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    async fn serve(&mut self) {
        let child = self
            .command()
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{}/index/_status", self.url())).await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "weft did not start at {}",
                self.url()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(db) = self.db.take() {
            db.drop_database().await.unwrap();
        }
    }
}

/// A commons: index manifest imported, server started, studies loaded through the MDS API.
async fn commons(name: &str) -> Node {
    let mut node = Node::new(repo().join(format!("examples/mesh/{name}.toml"))).await;
    node.run(&[
        "index",
        "import",
        &format!("examples/mesh/{name}-manifest.tsv"),
        "--quiet",
    ]);
    node.serve().await;
    let token = node.run(&[
        "token",
        "create",
        "--user",
        "curator@example.org",
        "--base-url",
        &node.url(),
    ]);
    let studies = std::fs::read(repo().join(format!("examples/mesh/{name}-studies.json"))).unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/mds-admin/metadata?overwrite=True", node.url()))
        .header("authorization", format!("bearer {token}"))
        .header("content-type", "application/json")
        .body(studies)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 201, "loading {name}'s studies: {body}");
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commons_and_a_hub_on_one_machine() {
    let a = commons("commons-a").await;
    let b = commons("commons-b").await;

    // the hub's configuration: examples/mesh/hub.{toml,json} with this run's ports
    let conf = tempfile::tempdir().unwrap();
    let json = std::fs::read_to_string(repo().join("examples/mesh/hub.json"))
        .unwrap()
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{}", a.port))
        .replace("127.0.0.1:8082", &format!("127.0.0.1:{}", b.port));
    std::fs::write(conf.path().join("hub.json"), json).unwrap();
    let toml = std::fs::read_to_string(repo().join("examples/mesh/hub.toml"))
        .unwrap()
        .replace(
            "examples/mesh/hub.json",
            &conf.path().join("hub.json").display().to_string(),
        );
    std::fs::write(conf.path().join("hub.toml"), toml).unwrap();
    let mut hub = Node::new(conf.path().join("hub.toml")).await;
    hub.serve().await;

    // on demand, as the docs show
    let synced = hub.run(&["hub", "sync"]);
    assert!(synced.contains("Commons A: 2 studies"), "{synced}");
    assert!(synced.contains("Commons B: 2 studies"), "{synced}");

    // a search on the hub finds studies of both commons
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let found: Value = loop {
        let r: Value = client
            .get(format!("{}/mds/aggregate/search?q=heart", hub.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if r["total"] == 2 {
            break r;
        }
        assert!(Instant::now() < deadline, "the hub never indexed both: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        found["facets"]["commons"],
        serde_json::json!({"Commons A": 1, "Commons B": 1})
    );
    let b_hit = found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["commons"] == "Commons B")
        .unwrap();
    assert_eq!(b_hit["guid"], "study-b-heart-dev");
    let b_study = &b_hit["doc"]["gen3_discovery"];
    assert_eq!(b_study["full_name"], "Heart Development in Children");
    assert_eq!(b_study["_subjects_count"], 85);
    assert!(!b_study["study_description"].as_str().unwrap().contains('@'));
    let commons: Value = client
        .get(format!("{}/mds/aggregate/commons", hub.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(commons["commons"].as_array().unwrap().len(), 2);

    // a GUID of commons A, resolved through the hub
    let obj: Value = client
        .get(format!("{}/ga4gh/drs/v1/objects/{GUID_A}", hub.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(obj["id"], GUID_A, "{obj}");
    assert_eq!(obj["size"], 2048);
    assert_eq!(
        obj["self_uri"],
        "drs://dg.AAAA:8b1f2c34-9a5e-4c7d-b0a1-3e6f7d8c9b01"
    );
    let hop = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/ga4gh/drs/v1/objects/{GUID_A}", hub.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(hop.status(), 307);
    assert_eq!(
        hop.headers()["location"].to_str().unwrap(),
        format!("{}/ga4gh/drs/v1/objects/{GUID_A}", a.url())
    );
    let prefix: Value = client
        .get(format!("{}/mds/aggregate/info/dg.AAAA", hub.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prefix["host"], format!("127.0.0.1:{}", a.port));

    hub.stop().await;
    a.stop().await;
    b.stop().await;
}
