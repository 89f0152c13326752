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
    /// The loopback address it listens on (127.0.0.x: browsers keep cookies per host).
    host: &'static str,
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
            host: "127.0.0.1",
            port: free_port(),
            config,
            child: None,
        }
    }

    fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
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
            .args(["serve", "--listen", &format!("{}:{}", self.host, self.port)])
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

/// A commons of the workspace mesh: alice (the development login) may read `/controlled`,
/// where one file of its own lives; the hub is registered as an OAuth2 client.
async fn data_commons(
    host: &'static str,
    prefix: &str,
    conf: &Path,
    content: &str,
    hub_callback: &str,
) -> (Node, String, Value) {
    let user_yaml = conf.join("user.yaml");
    let toml = conf.join(format!("{host}.toml"));
    std::fs::write(
        &toml,
        format!(
            "usersync = {user_yaml:?}\n[index]\nguid_prefix = \"{prefix}/\"\n\
             [login]\nmock_user = \"alice@example.org\"\n"
        ),
    )
    .unwrap();
    let mut node = Node::new(toml).await;
    node.host = host;
    // the file, and its record (imported as indexd manifests are)
    let files = node.dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("data.txt"), content).unwrap();
    let guid = format!("{prefix}/{}", uuid::Uuid::new_v4());
    let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(content.as_bytes()));
    let manifest = conf.join(format!("{host}.tsv"));
    std::fs::write(
        &manifest,
        format!(
            "guid\tmd5\tsize\tauthz\tacl\turl\tfile_name\n\
             {guid}\t{md5}\t{}\t/controlled\t\tfile:///data.txt\tdata.txt\n",
            content.len()
        ),
    )
    .unwrap();
    node.run(&["index", "import", manifest.to_str().unwrap(), "--quiet"]);
    let client: Value = serde_json::from_str(&node.run(&[
        "client",
        "create",
        "hub-workspaces",
        "--redirect-uri",
        hub_callback,
        "--auto-approve",
    ]))
    .unwrap();
    node.serve().await;
    (node, guid, client)
}

/// issue 19 on the mesh: alice connects commons A and B to the hub's workspace token service
/// (OIDC against each commons, weft as provider and client), exports a manifest naming a
/// GUID of each, and from her workspace on the hub (a stand-alone workspace host: hub and
/// workspaces, no data of its own) pulls both files with tokens the hub hands out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_workspace_pulls_from_two_commons_through_wts() {
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("user.yaml"),
        "authz:\n  anonymous_policies: []\n  all_users_policies: [workspace]\n  resources:\n  \
         - name: controlled\n  - name: workspace\n  roles:\n  - id: reader\n    permissions:\n    \
         - {id: read, action: {service: fence, method: read-storage}}\n  - id: workspace_user\n    \
         permissions:\n    - {id: ws, action: {service: jupyterhub, method: access}}\n  policies:\n  \
         - {id: controlled_reader, role_ids: [reader], resource_paths: [/controlled]}\n  \
         - {id: workspace, role_ids: [workspace_user], resource_paths: [/workspace]}\n\
         users:\n  alice@example.org: {policies: [controlled_reader]}\n\
         clients:\n  hub-workspaces: {policies: [controlled_reader]}\n",
    )
    .unwrap();
    let hub_port = free_port();
    let callback = format!("http://127.0.0.1:{hub_port}/wts/oauth2/authorize");
    let (a, guid_a, client_a) = data_commons(
        "127.0.0.2",
        "dg.AAAA",
        conf.path(),
        "from commons A\n",
        &callback,
    )
    .await;
    let (b, guid_b, client_b) = data_commons(
        "127.0.0.3",
        "dg.BBBB",
        conf.path(),
        "from commons B\n",
        &callback,
    )
    .await;

    let hub_toml = conf.path().join("hub.toml");
    let mut text = format!(
        "usersync = {:?}\n[login]\nmock_user = \"alice@example.org\"\n\
         [workspace]\ncheck_interval_secs = 1\n\
         [[workspace.kinds]]\nname = \"stand-in\"\n\
         command = [\"/usr/bin/python3\", \"-c\", '''{}''', \"{{port}}\"]\n",
        conf.path().join("user.yaml"),
        crate::workspace::FAKE
    );
    for (idp, node, client) in [("commons-a", &a, &client_a), ("commons-b", &b, &client_b)] {
        text.push_str(&format!(
            "[workspace.external_oidc.{idp}]\nbase_url = \"{}\"\nclient_id = \"{}\"\n\
             client_secret = \"{}\"\n",
            node.url(),
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str().unwrap()
        ));
    }
    std::fs::write(&hub_toml, text).unwrap();
    let mut hub = Node::new(hub_toml).await;
    hub.port = hub_port;
    hub.serve().await;

    // a browser: logged in at the hub and at both commons (cookies per host)
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for node in [&hub, &a, &b] {
        let r = browser
            .get(format!("{}/user/login/mock", node.url()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success() || r.status().is_redirection());
    }
    let r = browser
        .get(format!("{}/wts/external_oidc/", hub.url()))
        .send()
        .await
        .unwrap();
    let providers: Value = r.json().await.unwrap();
    assert_eq!(
        providers["providers"].as_array().unwrap().len(),
        2,
        "{providers}"
    );
    assert_eq!(providers["providers"][0]["base_url"], a.url().as_str());
    assert_eq!(
        providers["providers"][0]["refresh_token_expiration"],
        Value::Null
    );

    // connect both: hub → commons' authorize (auto-approved) → hub's callback
    let mut callbacks = Vec::new();
    for idp in ["commons-a", "commons-b"] {
        let mut url = format!(
            "{}/wts/oauth2/authorization_url?idp={idp}&redirect=/workspace",
            hub.url()
        );
        let mut hops = Vec::new();
        loop {
            let r = browser.get(&url).send().await.unwrap();
            let status = r.status();
            hops.push(format!("{status} {url}"));
            if !status.is_redirection() {
                panic!(
                    "the connect flow stopped: {hops:?}: {}",
                    r.text().await.unwrap()
                );
            }
            let next = r.headers()["location"].to_str().unwrap().to_owned();
            if next == "/workspace" {
                break;
            }
            if next.contains("/wts/oauth2/authorize?") {
                callbacks.push(next.clone());
            }
            url = next;
            assert!(hops.len() < 6, "{hops:?}");
        }
    }
    // the callback is the starting user's own: a browser not logged in as her cannot
    // finish her connect request (nor link her account at a commons to another)
    let r = reqwest::get(&callbacks[0]).await.unwrap();
    assert_eq!(r.status(), 401, "{}", r.text().await.unwrap());
    let r = browser
        .get(format!("{}/wts/oauth2/connected?idp=commons-a", hub.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = browser
        .get(format!("{}/wts/external_oidc/?unexpired=true", hub.url()))
        .send()
        .await
        .unwrap();
    let connected: Value = r.json().await.unwrap();
    assert_eq!(
        connected["providers"].as_array().unwrap().len(),
        2,
        "{connected}"
    );
    assert!(
        connected["providers"][1]["refresh_token_expiration"]
            .as_i64()
            .unwrap()
            > 0
    );

    // a workspace on the hub; the manifest names a GUID of each commons
    let options: Value = browser
        .get(format!("{}/lw-workspace/options", hub.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = options[0]["id"].as_str().unwrap().to_owned();
    let csrf = browser
        .get(format!("{}/_status", hub.url()))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let entries = serde_json::json!([
        {"object_id": guid_a, "commons_url": a.url().trim_start_matches("http://")},
        {"object_id": guid_b, "commons_url": b.url().trim_start_matches("http://")},
    ]);
    let r = browser
        .post(format!("{}/manifests/", hub.url()))
        .header("x-csrf-token", &csrf)
        .json(&entries)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let manifest = r.json::<Value>().await.unwrap()["filename"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = browser
        .post(format!("{}/lw-workspace/launch?id={id}", hub.url()))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut status = Value::Null;
    for _ in 0..120 {
        status = browser
            .get(format!("{}/lw-workspace/status", hub.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["status"] == "Running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status["status"], "Running", "{status}");

    // inside the workspace, as the SDK's drs-pull does it: its API key → a hub token; per
    // host, a token from the hub's WTS; DRS access on that host; the signed URL
    let home = hub
        .dir
        .path()
        .join("workspaces/home")
        .join(weft_workspace::slug("alice@example.org"));
    let creds: Value =
        serde_json::from_slice(&std::fs::read(home.join(".gen3/credentials.json")).unwrap())
            .unwrap();
    let placed: Value =
        serde_json::from_slice(&std::fs::read(home.join("manifests").join(&manifest)).unwrap())
            .unwrap();
    assert_eq!(placed, entries);
    let http = reqwest::Client::new();
    let hub_token = http
        .post(format!("{}/user/credentials/api/access_token", hub.url()))
        .json(&serde_json::json!({"api_key": creds["api_key"]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let oidc: Value = http
        .get(format!("{}/wts/external_oidc/", hub.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut pulled = Vec::new();
    for entry in placed.as_array().unwrap() {
        let host = entry["commons_url"].as_str().unwrap();
        let idp = oidc["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["base_url"].as_str().unwrap().ends_with(host))
            .unwrap()["idp"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = http
            .get(format!("{}/wts/token/?idp={idp}", hub.url()))
            .bearer_auth(&hub_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let did = entry["object_id"].as_str().unwrap();
        let object: Value = http
            .get(format!("http://{host}/ga4gh/drs/v1/objects/{did}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let access_id = object["access_methods"][0]["access_id"].as_str().unwrap();
        let r = http
            .get(format!(
                "http://{host}/ga4gh/drs/v1/objects/{did}/access/{access_id}"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{host}: {}", r.text().await.unwrap());
        let url = r.json::<Value>().await.unwrap()["url"]
            .as_str()
            .unwrap()
            .to_owned();
        pulled.push(http.get(url).send().await.unwrap().text().await.unwrap());
        // without the hub's token for it, the commons refuses
        let r = http
            .get(format!(
                "http://{host}/ga4gh/drs/v1/objects/{did}/access/{access_id}"
            ))
            .bearer_auth(&hub_token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "the hub's own token is not {host}'s");
    }
    assert_eq!(pulled, ["from commons A\n", "from commons B\n"]);

    // an unknown provider, and a provider never connected by this user
    let r = http
        .get(format!("{}/wts/token/?idp=nowhere", hub.url()))
        .bearer_auth(&hub_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = browser
        .post(format!("{}/lw-workspace/terminate", hub.url()))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    hub.stop().await;
    a.stop().await;
    b.stop().await;
}
