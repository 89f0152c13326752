//! The `weft` binary itself: subcommands, exit codes, and shutdown on SIGTERM. Each test runs
//! the built executable against a fresh data dir (and, with `WEFT_TEST_DATABASE_URL`, a
//! throwaway PostgreSQL database passed as `WEFT_DATABASE_URL`).

#![allow(clippy::unwrap_used)] // test helpers: a failure should panic with its cause

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use weft_store_postgres::testing::TempDatabase;

use crate::support::MD5;

struct Cli {
    dir: tempfile::TempDir,
    db: Option<TempDatabase>,
}

impl Cli {
    async fn new() -> Self {
        let db = TempDatabase::from_env()
            .await
            .expect("WEFT_TEST_DATABASE_URL is set but PostgreSQL is unreachable");
        Self {
            dir: tempfile::tempdir().unwrap(),
            db,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_weft"));
        c.env_remove("WEFT_DATABASE_URL")
            .env_remove("WEFT_CONFIG")
            .env("WEFT_DATA_DIR", self.dir.path())
            .env("RUST_LOG", "warn");
        if let Some(db) = &self.db {
            c.env("WEFT_DATABASE_URL", db.url());
        }
        c
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const HEADER: &str = "guid\tmd5\tsize\tauthz\tacl\turl\tfile_name\n";

fn guid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Serve on an ephemeral port and return the child and its base URL (read from the log).
fn serve(cli: &Cli) -> (std::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = cli
        .command()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (child, format!("http://127.0.0.1:{port}"))
}

async fn wait_healthy(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/index/_status")).await
            && r.status() == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "weft did not become healthy at {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn import_is_all_or_nothing_and_names_bad_lines() {
    let cli = Cli::new().await;
    let bad = cli.write(
        "bad.tsv",
        &format!(
            "{HEADER}{}\t{MD5}\t10\t/programs/a\t*\ts3://b/1\tf1\n{}\tnot-an-md5\t10\t\t\ts3://b/2\tf2\n{}\t{MD5}\tlots\t\t\ts3://b/3\tf3\n",
            guid(1),
            guid(2),
            guid(3)
        ),
    );
    let out = cli.run(&["index", "import", &bad, "--quiet"], "");
    assert!(!out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(msg.contains("bad.tsv:3: invalid md5 hash value"), "{msg}");
    assert!(
        msg.contains("bad.tsv:4: size \"lots\" is not an integer"),
        "{msg}"
    );
    assert!(msg.contains("nothing was imported"), "{msg}");

    let good = cli.write(
        "good.tsv",
        &format!(
            "{HEADER}{}\t{MD5}\t10\t/programs/a\t*\ts3://b/1 gs://c/1\tf1\n\t{MD5}\t20\t['/programs/b']\t\t[s3://b/2]\tf2\n",
            guid(1)
        ),
    );
    let out = cli.run(&["index", "import", &good, "--quiet"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("imported 2 records"), "{}", text(&out));

    // the same file again clashes on guid 1: an error, and still only the first import
    let out = cli.run(&["index", "import", &good, "--quiet"], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    let (mut child, url) = serve(&cli);
    wait_healthy(&url).await;
    let v: serde_json::Value = reqwest::get(format!("{url}/index/index/?limit=10"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{v}");
    let first = records.iter().find(|r| r["did"] == guid(1)).unwrap();
    assert_eq!(first["urls"], serde_json::json!(["s3://b/1", "gs://c/1"]));
    assert_eq!(first["acl"], serde_json::json!(["*"]));
    let minted = records.iter().find(|r| r["did"] != guid(1)).unwrap();
    assert_eq!(minted["authz"], serde_json::json!(["/programs/b"]));
    assert_eq!(minted["size"], 20);
    child.kill().unwrap();
    let _ = child.wait();
}

/// Rows PostgreSQL would refuse (a NUL, a value too long for an index) and rows no commons
/// means (authz that is no resource path, a file name with control characters) are named by
/// line, on both backends, and nothing of the manifest is imported.
#[tokio::test]
async fn import_refuses_nul_oversized_and_absurd_rows_by_line() {
    let cli = Cli::new().await;
    let long_url = format!("s3://b/{}", "u".repeat(3000));
    let bad = cli.write(
        "limits.tsv",
        &format!(
            "{HEADER}{}\t{MD5}\t1\t/programs/a\t\ts3://b/1\tf1\n\
             {}\t{MD5}\t2\t\t\ts3://b/2\tf\u{0}2\n\
             {}\t{MD5}\t3\t\t\t{long_url}\tf3\n\
             {}\t{MD5}\t4\tprograms/a\t\ts3://b/4\tf4\n\
             {}\t{MD5}\t5\t\t\ts3://b/5\tf\u{1}5\n\
             {}\t{MD5}\t6\t/programs//a\t\ts3://b/6\tf6\n",
            guid(1),
            guid(2),
            guid(3),
            guid(4),
            guid(5),
            guid(6),
        ),
    );
    let out = cli.run(&["index", "import", &bad, "--quiet"], "");
    assert!(!out.status.success(), "{}", text(&out));
    let msg = text(&out);
    for needle in [
        "limits.tsv:3: file_name must not contain NUL characters (U+0000)",
        "limits.tsv:4: url is 3007 bytes long; the limit is 2048 bytes",
        "limits.tsv:5: authz \"programs/a\" is not a resource path: it must start with `/`",
        "limits.tsv:6: file_name \"f\\u{1}5\" is not a file name: it has control characters",
        "limits.tsv:7: authz \"/programs//a\" is not a resource path: it has an empty segment",
        "nothing was imported",
    ] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    assert!(!msg.contains("limits.tsv:2:"), "{msg}");
    // nothing was written: the good row imports on its own
    let good = cli.write(
        "good.tsv",
        &format!(
            "{HEADER}{}\t{MD5}\t1\t/programs/a\t\ts3://b/1\tf1\n",
            guid(1)
        ),
    );
    let out = cli.run(&["index", "import", &good, "--quiet"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("imported 1 records"), "{}", text(&out));
}

/// A manifest of `n` good rows, guids 1 to `n`.
fn manifest(n: u32) -> String {
    let mut text = HEADER.to_owned();
    for i in 1..=n {
        text.push_str(&format!(
            "{}\t{MD5}\t{i}\t/programs/p{} /programs\tp{}\ts3://b/{i} gs://c/{i}\tf{i}\n",
            guid(i),
            i % 7,
            i % 3
        ));
    }
    text
}

/// The SQLite file is in WAL mode (header bytes 18 and 19 are 2).
fn in_wal_mode(data_dir: &Path) -> bool {
    let header = std::fs::read(data_dir.join("weft.db")).unwrap();
    header[18] == 2 && header[19] == 2
}

/// Imports large enough for the bulk path (indexes rebuilt; on SQLite the rollback journal
/// instead of the WAL): a bad last row or a guid repeated at the very end imports nothing;
/// `kill -9` in the middle of the load leaves nothing behind and a sound database.
#[tokio::test]
async fn large_import_is_all_or_nothing_even_when_killed() {
    let cli = Cli::new().await;
    let n = 60_000;
    let good = manifest(n);
    let bad = cli.write(
        "bad.tsv",
        &format!("{good}{}\t{MD5}\t-1\t\t\ts3://b/x\tx\n", guid(n + 1)),
    );
    let out = cli.run(&["index", "import", &bad, "--quiet"], "");
    assert!(!out.status.success(), "{}", text(&out));
    let msg = text(&out);
    assert!(
        msg.contains(&format!("bad.tsv:{}: size must be >= 0", n + 2)),
        "{msg}"
    );
    assert!(msg.contains("nothing was imported"), "{msg}");
    let twice = cli.write(
        "twice.tsv",
        &format!("{good}{}", &manifest(1)[HEADER.len()..]),
    );
    let out = cli.run(&["index", "import", &twice, "--quiet"], "");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "twice.tsv:{}: guid {} appears twice in the manifest",
            n + 2,
            guid(1)
        )),
        "{}",
        text(&out)
    );

    // kill -9 while the records are being loaded
    let good = cli.write("good.tsv", &good);
    let mut child = cli
        .command()
        .args(["index", "import", &good, "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = cli.dir.path().join("weft.db-journal");
    let deadline = Instant::now() + Duration::from_secs(60);
    while cli.db.is_none() && !journal.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    // SQLite loads a large import into a fresh file with a rollback journal, not the WAL
    assert!(cli.db.is_some() || journal.exists());
    std::thread::sleep(Duration::from_millis(if cli.db.is_none() {
        300
    } else {
        1500
    }));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the import finished before the kill: {status:?}"
    );

    // nothing of it stayed: the same file imports whole
    let out = cli.run(&["index", "import", &good, "--quiet"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("imported {n} records")),
        "{}",
        text(&out)
    );
    if cli.db.is_none() {
        assert!(!journal.exists());
        assert!(in_wal_mode(cli.dir.path()));
    }
    let (mut server, url) = serve(&cli);
    wait_healthy(&url).await;
    let r: serde_json::Value = reqwest::get(format!("{url}/index/index/{}", guid(4321)))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["size"], 4321, "{r}");
    assert_eq!(r["hashes"], serde_json::json!({"md5": MD5}));
    assert_eq!(r["urls"], serde_json::json!(["s3://b/4321", "gs://c/4321"]));
    assert_eq!(r["authz"], serde_json::json!(["/programs/p2", "/programs"]));
    assert_eq!(r["acl"], serde_json::json!(["p1"]));
    assert_eq!(r["file_name"], "f4321");
    let found: serde_json::Value =
        reqwest::get(format!("{url}/index/index/?url=gs://c/59999&limit=5"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(found["records"][0]["did"], guid(59_999), "{found}");
    server.kill().unwrap();
    let _ = server.wait();
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[tokio::test]
async fn metrics_listen_serves_metrics_off_the_public_port() {
    let cli = Cli::new().await;
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = cli
        .command()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("WEFT_METRICS__LISTEN", format!("127.0.0.1:{metrics_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_healthy(&url).await;
    let public = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(public.status(), 404);
    let scraped = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("weft_http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/index/_status""#), "{text}");
    // nothing else is served there
    let other = reqwest::get(format!("http://127.0.0.1:{metrics_port}/index/index/"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn index_user_then_basic_auth_writes() {
    let cli = Cli::new().await;
    let out = cli.run(
        &["index-user", "add", "ops", "--password-stdin"],
        "pa55word\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = cli.run(&["index-user", "add", "", "--password-stdin"], "x\n");
    assert!(!out.status.success());
    let out = cli.run(&["index-user", "add", "empty", "--password-stdin"], "\n");
    assert!(!out.status.success());
    assert!(text(&out).contains("must not be empty"));

    let (mut child, url) = serve(&cli);
    wait_healthy(&url).await;
    let body = serde_json::json!({"form": "object", "size": 1, "urls": [], "hashes": {"md5": MD5}});
    let client = reqwest::Client::new();
    let ok = client
        .post(format!("{url}/index/index/"))
        .basic_auth("ops", Some("pa55word"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let wrong = client
        .post(format!("{url}/index/index/"))
        .basic_auth("ops", Some("nope"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    child.kill().unwrap();
    let _ = child.wait();
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_then_exits_cleanly() {
    let cli = Cli::new().await;
    let (child, url) = serve(&cli);
    wait_healthy(&url).await;
    // a slow request: a body that arrives in two parts, the second after the signal
    let addr = url.trim_start_matches("http://").to_owned();
    let body = format!(r#"{{"form":"object","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}}}}"#);
    let (head, tail) = body.split_at(10);
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let request = format!(
        "POST /index/index/ HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    // no credentials: the in-flight request is still answered (401), not cut off
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");
    let status = wait_exit(child, Duration::from_secs(20));
    assert!(status.success(), "weft exited with {status:?}");
    // and new connections are refused once it has stopped
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

fn wait_exit(mut child: std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("weft did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn help_config_and_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(args)
            .env_remove("WEFT_DATABASE_URL")
            .env("WEFT_DATA_DIR", dir.path())
            .output()
            .unwrap()
    };
    let help = run(&["serve", "--help"]);
    let h = text(&help);
    for flag in [
        "--listen",
        "--base-url",
        "--data-dir",
        "--config",
        "--database-url",
        "WEFT_LISTEN",
    ] {
        assert!(h.contains(flag), "serve --help lacks {flag}: {h}");
    }
    let example = run(&["config", "default"]);
    assert!(text(&example).contains("guid_prefix"));
    let migrate = run(&["migrate"]);
    assert!(migrate.status.success(), "{}", text(&migrate));
    let all = weft_store_sqlite::MIGRATIONS.len();
    assert!(
        text(&migrate).contains(&format!("{all} migration(s) applied")),
        "{}",
        text(&migrate)
    );
    assert!(Path::new(&dir.path().join("weft.db")).exists());
    let again = run(&["migrate"]);
    assert!(
        text(&again).contains("0 migration(s) applied"),
        "{}",
        text(&again)
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["migrate"])
        .env("WEFT_DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(text(&bad).contains("database_url"), "{}", text(&bad));
}

fn example_user_yaml() -> String {
    format!("{}/../../examples/user.yaml", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn usersync_applies_reports_and_is_idempotent() {
    let cli = Cli::new().await;
    let example = example_user_yaml();
    let first = cli.run(&["usersync", &example], "");
    assert!(first.status.success(), "{}", text(&first));
    let out = text(&first);
    assert!(out.contains("+ policy"), "{out}");
    assert!(out.contains("+ user admin@example.org"), "{out}");
    let again = cli.run(&["usersync", &example], "");
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("no changes"), "{}", text(&again));

    // Dropping a user from the file removes that user's synced grants.
    let yaml = std::fs::read_to_string(&example).unwrap();
    let without = yaml.replace("reader@example.org", "other@example.org");
    let changed = cli.write("changed.yaml", &without);
    let r = cli.run(&["usersync", &changed], "");
    assert!(r.status.success(), "{}", text(&r));
    assert!(
        text(&r).contains("+ user other@example.org"),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains("reader@example.org"), "{}", text(&r));

    // A broken file changes nothing and says where it is broken.
    let broken = cli.write("broken.yaml", &format!("{without}\n  - [unclosed\n"));
    let r = cli.run(&["usersync", &broken], "");
    assert!(!r.status.success());
    assert!(text(&r).contains("line"), "{}", text(&r));
    let undefined_text = without.replace("role_ids: [reader]", "role_ids: [no_such_role]");
    assert_ne!(
        undefined_text, without,
        "the example has a policy with role_ids: [reader]"
    );
    let undefined = cli.write("undefined.yaml", &undefined_text);
    let r = cli.run(&["usersync", &undefined], "");
    assert!(!r.status.success(), "{}", text(&r));
    assert!(text(&r).contains("no_such_role"), "{}", text(&r));
    assert!(text(&r).contains("authz.policies[0]"), "{}", text(&r));
    let r = cli.run(&["usersync", &changed], "");
    assert!(text(&r).contains("no changes"), "{}", text(&r));
}

#[tokio::test]
async fn serve_loads_the_configured_user_yaml_and_honours_its_admin() {
    let cli = Cli::new().await;
    let config = cli.write(
        "weft.toml",
        &format!("usersync = {:?}\n", example_user_yaml()),
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let child = cli
        .command()
        .args([
            "serve",
            "--config",
            &config,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&url).await;
    let token = |user: &str| {
        let o = cli.run(&["token", "create", "--user", user, "--base-url", &url], "");
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_owned()
    };
    let client = reqwest::Client::new();
    let admin = token("admin@example.org");
    let r = client
        .get(format!("{url}/authz/user"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let users: serde_json::Value = r.json().await.unwrap();
    assert!(
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "reader@example.org"),
        "{users}"
    );
    let reader = token("reader@example.org");
    let r = client
        .get(format!("{url}/authz/user"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The reader reads the test project, and cannot write to it.
    let decide = |tok: String, method: &'static str| {
        let client = client.clone();
        let url = url.clone();
        async move {
            crate::support::auth_request(
                &client,
                &url,
                &tok,
                "/programs/DEV/projects/test",
                "indexd",
                method,
            )
            .await
        }
    };
    assert!(decide(reader.clone(), "read").await);
    assert!(!decide(reader, "create").await);
    assert!(decide(admin, "create").await);
    nix_term(&child).unwrap();
    let status = wait_exit(child, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

/// SIGTERM via the `kill` command (no extra crate for signals).
fn nix_term(child: &std::process::Child) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
}

#[tokio::test]
async fn index_uploads_fills_blank_records_whose_object_landed() {
    let cli = Cli::new().await;
    let out = cli.run(&["index-user", "add", "ops", "--password-stdin"], "pw\n");
    assert!(out.status.success(), "{}", text(&out));
    let (mut child, url) = serve(&cli);
    wait_healthy(&url).await;
    let client = reqwest::Client::new();
    let mut dids = vec![];
    for name in ["landed.txt", "pending.txt"] {
        let r = client
            .post(format!("{url}/index/index/blank/"))
            .basic_auth("ops", Some("pw"))
            .json(&serde_json::json!({"file_name": name, "uploader": "u@x.org"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: serde_json::Value = r.json().await.unwrap();
        dids.push(v["did"].as_str().unwrap().to_owned());
    }
    // the object of the first lands in local storage as {guid}/{file_name}
    let object = cli
        .dir
        .path()
        .join("files")
        .join(&dids[0])
        .join("landed.txt");
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, b"hello, upload\n").unwrap();

    let out = cli.run(&["index-uploads"], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("blank records: 2, filled: 1, not uploaded yet: 1, failed: 0"),
        "{}",
        text(&out)
    );
    let doc: serde_json::Value = reqwest::get(format!("{url}/index/index/{}", dids[0]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["size"], 14, "{doc}");
    assert_eq!(doc["hashes"]["md5"], md5_of(b"hello, upload\n"));
    assert_eq!(
        doc["urls"],
        serde_json::json!([format!("file:///{}/landed.txt", dids[0])])
    );
    let out = cli.run(&["index-uploads"], "");
    assert!(
        text(&out).contains("blank records: 1, filled: 0, not uploaded yet: 1"),
        "{}",
        text(&out)
    );
    child.kill().unwrap();
    let _ = child.wait();
}

fn md5_of(bytes: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn keys_rotate_and_oauth_clients_from_the_command_line() {
    let cli = Cli::new().await;
    let kids = |cli: &Cli| -> Vec<String> {
        let o = cli.run(&["keys", "list"], "");
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let before = kids(&cli);
    assert_eq!(before.len(), 1, "the first key is made on first use");
    let o = cli.run(&["keys", "rotate"], "");
    assert!(o.status.success(), "{}", text(&o));
    let new = String::from_utf8_lossy(&o.stdout).trim().to_owned();
    assert_eq!(
        kids(&cli),
        vec![new, before[0].clone()],
        "the new key signs"
    );

    let o = cli.run(
        &[
            "client",
            "create",
            "cli-app",
            "--redirect-uri",
            "https://app.example/cb",
            "--auto-approve",
        ],
        "",
    );
    assert!(o.status.success(), "{}", text(&o));
    let created: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(created["name"], "cli-app");
    assert_eq!(created["client_secret"].as_str().map(str::len), Some(55));
    let dup = cli.run(
        &[
            "client",
            "create",
            "cli-app",
            "--redirect-uri",
            "https://x.example/cb",
        ],
        "",
    );
    assert!(!dup.status.success());
    assert!(text(&dup).contains("already exists"), "{}", text(&dup));
    let bad = cli.run(
        &[
            "client",
            "create",
            "bad",
            "--redirect-uri",
            "javascript:alert(1)",
        ],
        "",
    );
    assert!(!bad.status.success());
    let o = cli.run(&["client", "list"], "");
    let listed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(listed["client_id"], created["client_id"]);
    assert!(
        listed.get("client_secret").is_none(),
        "secrets are never listed"
    );
    assert!(
        cli.run(&["client", "delete", "cli-app"], "")
            .status
            .success()
    );
    assert!(
        !cli.run(&["client", "delete", "cli-app"], "")
            .status
            .success()
    );
    if let Some(db) = cli.db {
        db.drop_database().await.unwrap();
    }
}

#[tokio::test]
async fn explore_rebuild_reports_each_index_and_refuses_a_bad_mapping() {
    let Some(dicts) = weft_dictionary::testing::real_dictionaries() else {
        return;
    };
    let cli = Cli::new().await;
    let out = cli.run(&["explore", "rebuild", "--quiet"], "");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no data dictionary is configured"),
        "{}",
        text(&out)
    );

    let dict = dicts.join(weft_dictionary::testing::REAL[0]);
    let mapping = include_str!("../../../../tests/explore/gdc-etlMapping.yaml");
    let good = cli.write("etl.yaml", mapping);
    let run = |path: &str| {
        cli.command()
            .args(["explore", "rebuild", "--quiet"])
            .env("WEFT_DICTIONARY__URL", &dict)
            .env("WEFT_EXPLORE__ETL_MAPPING", path)
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("case: 0 documents"), "{stdout}");
    assert!(stdout.contains("file: 0 documents"), "{stdout}");
    assert!(stdout.contains("0 documents built in"), "{stdout}");

    let bad = cli.write(
        "bad.yaml",
        &mapping.replacen("root: case", "root: nothing", 1),
    );
    let out = run(&bad);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("mappings[0].root: the dictionary has no node \"nothing\""),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn workspace_pay_models_and_the_usage_report() {
    let cli = Cli::new().await;
    let r = cli.run(
        &[
            "workspace",
            "paymodel",
            "--user",
            "alice@example.org",
            "--account-id",
            "acct-1",
            "--soft-limit",
            "5",
            "--hard-limit",
            "10",
            "--current",
        ],
        "",
    );
    assert!(r.status.success(), "{}", text(&r));
    let id = String::from_utf8_lossy(&r.stdout).trim().to_owned();
    assert_eq!(id.len(), 36, "a new UUID: {id}");
    // limits the wrong way round, and another user's id, are refused
    let r = cli.run(
        &[
            "workspace",
            "paymodel",
            "--user",
            "bob@example.org",
            "--account-id",
            "b",
            "--soft-limit",
            "5",
            "--hard-limit",
            "1",
        ],
        "",
    );
    assert!(!r.status.success());
    assert!(text(&r).contains("soft-limit"), "{}", text(&r));
    let r = cli.run(
        &[
            "workspace",
            "paymodel",
            "--user",
            "bob@example.org",
            "--account-id",
            "b",
            "--soft-limit",
            "1",
            "--hard-limit",
            "2",
            "--id",
            &id,
        ],
        "",
    );
    assert!(!r.status.success());
    assert!(
        text(&r).contains("belongs to alice@example.org"),
        "{}",
        text(&r)
    );

    let r = cli.run(&["workspace", "usage", "--json"], "");
    assert!(r.status.success(), "{}", text(&r));
    let report: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(report.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report[0]["pay_model"], id.as_str());
    assert_eq!(report[0]["user"], "alice@example.org");
    assert_eq!(report[0]["workspace_type"], "Direct Pay");
    assert_eq!(report[0]["hard_limit"], 10.0);
    assert_eq!(report[0]["current"], true);
    assert_eq!(report[0]["period_usage"], 0.0);
    let r = cli.run(&["workspace", "usage", "--user", "bob@example.org"], "");
    assert!(r.status.success());
    let table = String::from_utf8_lossy(&r.stdout).into_owned();
    assert!(table.starts_with("USER"), "{table}");
    assert_eq!(table.lines().count(), 1, "bob has none: {table}");
}
