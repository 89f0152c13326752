//! Workspaces over real HTTP: hatchery's API, the proxy (HTTP and websockets), pay models
//! and limits, manifests, faults and restarts on the local backend.
//!
//! Most tests run a small stand-in notebook (Python's standard library: it answers Jupyter's
//! `api/status` with its token, and echoes what it received), so they need only
//! `/usr/bin/python3`. `jupyterlab_runs_a_kernel_and_pulls_a_manifest` runs a real JupyterLab
//! from the environment `WEFT_TEST_JUPYTER` names (made by `tests/workspace/setup.sh`); it
//! is skipped without one, and fails when CI is set.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use weft_config::workspace::{WorkspaceConfig, WorkspaceKind};

use crate::support::TestApp;

/// The stand-in notebook: `FAKE_MODE` `ready` (default), `never` (never listens) or `die`
/// (exits after `FAKE_DIE_AFTER` seconds).
pub(crate) const FAKE: &str = r#"
import http.server, json, os, sys, time, threading
port = int(sys.argv[1])
mode = os.environ.get("FAKE_MODE", "ready")
if mode == "never":
    time.sleep(3600)
if mode == "die":
    threading.Timer(float(os.environ.get("FAKE_DIE_AFTER", "1")), lambda: os._exit(3)).start()
started = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        if self.headers.get("Authorization") != "token " + os.environ["JUPYTER_TOKEN"]:
            self.send_response(403); self.end_headers(); return
        if self.path.startswith("/lw-workspace/proxy/api/status"):
            body = {"last_activity": started, "kernels": 0}
        elif self.path.startswith("/lw-workspace/proxy/probe?"):
            # what this notebook's user can read
            import urllib.parse
            path = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["path"][0]
            try:
                if os.path.isdir(path):
                    os.listdir(path)
                else:
                    open(path, "rb").read(1)
                body = {"readable": True}
            except OSError:
                body = {"readable": False}
        else:
            body = {"path": self.path, "method": self.command,
                    "cookie": self.headers.get("Cookie"), "uid": os.getuid(),
                    "home": os.environ["HOME"], "api_key_id": os.environ.get("API_KEY_ID"),
                    "endpoint": os.environ.get("GEN3_ENDPOINT"),
                    "leaked": sorted(k for k in os.environ if k.startswith("WEFT_") and k not in ("WEFT_WORKSPACE", "WEFT_WORKSPACE_DIR", "WEFT_WORKSPACE_PORT"))}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = answer
    do_POST = answer
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"#;

fn fake_kind(name: &str, env: &[(&str, &str)]) -> WorkspaceKind {
    WorkspaceKind {
        name: name.into(),
        command: vec![
            "/usr/bin/python3".into(),
            "-c".into(),
            FAKE.into(),
            "{port}".into(),
        ],
        idle_limit_secs: 0,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..WorkspaceKind::default()
    }
}

/// A weft whose workspaces run the stand-in notebook, checked every second.
async fn app_with(kinds: Vec<WorkspaceKind>, tweak: impl FnOnce(&mut WorkspaceConfig)) -> TestApp {
    TestApp::start_with(|c| {
        c.workspace.kinds = kinds;
        c.workspace.check_interval_secs = 1;
        c.workspace.launch_timeout_secs = 3;
        tweak(&mut c.workspace);
    })
    .await
}

struct Ws<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Ws<'a> {
    async fn of(app: &'a TestApp, user: &str) -> Self {
        app.grant(user, "jupyterhub", "access", "/workspace").await;
        Self {
            app,
            token: app.token(user),
        }
    }

    async fn call(&self, method: Method, path: &str) -> (u16, String, Value) {
        let r = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, text, json)
    }

    async fn kind_id(&self, name: &str) -> String {
        let (s, _, v) = self.call(Method::GET, "/lw-workspace/options").await;
        assert_eq!(s, 200, "{v}");
        v.as_array()
            .expect("options")
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no kind {name} in {v}"))["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    async fn launch(&self, name: &str) -> (u16, String) {
        let id = self.kind_id(name).await;
        let (s, text, _) = self
            .call(Method::POST, &format!("/lw-workspace/launch?id={id}"))
            .await;
        (s, text)
    }

    async fn status(&self) -> Value {
        let (s, _, v) = self.call(Method::GET, "/lw-workspace/status").await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Poll the status until it is one of `want` (at most 60 s).
    async fn until(&self, want: &[&str]) -> Value {
        for _ in 0..240 {
            let v = self.status().await;
            if want.iter().any(|w| v["status"] == *w) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "the workspace never became {want:?}: {}",
            self.status().await
        );
    }
}

/// The pids of the processes the workspaces of `app` run.
fn notebook_processes(app: &TestApp) -> Vec<u32> {
    let dir = app
        .config
        .data_dir
        .join("workspaces")
        .canonicalize()
        .expect("workspaces dir");
    let marker = format!("WEFT_WORKSPACE_DIR={}", dir.display());
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let env = std::fs::read(e.path().join("environ")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            (!zombie && env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes())).then_some(pid)
        })
        .collect()
}

async fn until_no_processes(app: &TestApp) {
    for _ in 0..100 {
        if notebook_processes(app).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("processes left behind: {:?}", notebook_processes(app));
}

fn home_of(app: &TestApp, user: &str) -> std::path::PathBuf {
    app.config
        .data_dir
        .join("workspaces/home")
        .join(weft_workspace::slug(user))
}

#[tokio::test]
async fn a_workspace_launches_serves_its_owner_and_terminates() {
    let app = app_with(vec![fake_kind("fake", &[])], |_| {}).await;

    // who may: nobody anonymous, nobody without jupyterhub access on /workspace
    let r = app.get("/lw-workspace/options").await;
    assert_eq!(r.status, 401, "{}", r.text);
    let stranger = Ws {
        app: &app,
        token: app.token("stranger@example.org"),
    };
    let (s, _, v) = stranger.call(Method::GET, "/lw-workspace/status").await;
    assert_eq!(s, 403, "{v}");

    let alice = Ws::of(&app, "alice@example.org").await;
    let bob = Ws::of(&app, "bob@example.org").await;
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/options").await;
    assert_eq!(s, 200);
    assert_eq!(v[0]["name"], "fake");
    assert_eq!(v[0]["idle-time-limit"], -1);
    assert_eq!(v[0]["cpu-limit"], "1");
    assert_eq!(v[0]["memory-limit"], "2Gi");
    assert_eq!(v[0]["id"].as_str().expect("id").len(), 32);
    let id = v[0]["id"].as_str().expect("id").to_owned();
    let (s, _, one) = alice
        .call(Method::GET, &format!("/lw-workspace/options?id={id}"))
        .await;
    assert_eq!((s, &one["name"]), (200, &json!("fake")));
    let (s, _, v) = alice
        .call(Method::GET, "/lw-workspace/options?id=nope")
        .await;
    assert_eq!((s, &v["error"]), (400, &json!("Invalid 'id' parameter")));
    let (s, _, v) = alice.call(Method::POST, "/lw-workspace/launch").await;
    assert_eq!((s, &v["error"]), (400, &json!("Missing 'id' parameter")));
    let (s, _, v) = alice
        .call(Method::POST, "/lw-workspace/launch?id=nope")
        .await;
    assert_eq!((s, &v["error"]), (400, &json!("Invalid 'id' parameter")));
    let (s, _, v) = alice.call(Method::POST, "/lw-workspace/terminate").await;
    assert_eq!((s, &v["error"]), (404, &json!("no workspace to terminate")));
    assert_eq!(alice.status().await["status"], "Not Found");

    // launch, and it runs
    assert_eq!(alice.launch("fake").await, (200, "Success".to_owned()));
    let v = alice.until(&["Running"]).await;
    assert_eq!(v["kind"], "fake");
    assert_eq!(v["workspaceType"], "Local");
    assert_eq!(v["idleTimeLimit"], -1);
    assert!(
        v["lastActivityTime"].as_i64().expect("ms") > 1_700_000_000_000,
        "{v}"
    );
    assert!(
        v["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .all(|c| c["status"] == "True"),
        "{v}"
    );
    let (s, _, v) = alice
        .call(Method::POST, &format!("/lw-workspace/launch?id={id}"))
        .await;
    assert_eq!(s, 409, "a second launch: {v}");
    assert!(
        v["error"]
            .as_str()
            .expect("error")
            .contains("already running"),
        "{v}"
    );

    // the proxy: the owner's requests reach her notebook, with her token swapped for the
    // notebook's, and weft's own cookies kept from it
    let r = app
        .client
        .get(format!("{}/lw-workspace/proxy/tree/x?y=1", app.url))
        .bearer_auth(&alice.token)
        .header("cookie", "weft_session=s3cret; _xsrf=abc; csrftoken=t")
        .send()
        .await
        .expect("proxy");
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("json");
    assert_eq!(seen["path"], "/lw-workspace/proxy/tree/x?y=1");
    assert_eq!(seen["cookie"], "_xsrf=abc");
    assert_eq!(
        seen["endpoint"],
        app.host(),
        "GEN3_ENDPOINT is the host, as hatchery's"
    );
    assert_eq!(seen["leaked"], json!([]), "weft's environment stays out");
    let home = home_of(&app, "alice@example.org");
    assert_eq!(
        seen["home"].as_str().expect("home"),
        home.canonicalize().expect("home").to_str().expect("utf-8")
    );
    if weft_workspace::local::can_separate_users() {
        let uid = seen["uid"].as_u64().expect("uid");
        assert!(uid >= 200_000, "a uid of its own: {uid}");
        // it reads its own home, and nothing of weft's data or of another user
        let other = app.config.data_dir.join("workspaces/home/someone-else");
        std::fs::create_dir_all(&other).expect("another home");
        std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        std::fs::write(other.join("notes.txt"), b"private").expect("file");
        let data = app.config.data_dir.canonicalize().expect("data dir");
        for (path, readable) in [
            (home.join(".gen3/credentials.json"), true),
            (data.join("weft.db"), false),
            (data.join("files"), false),
            (data.join("workspaces/logs"), false),
            (other.join("notes.txt"), false),
            (other.clone(), false),
        ] {
            let r = app
                .client
                .get(format!("{}/lw-workspace/proxy/probe", app.url))
                .query(&[("path", path.to_str().expect("utf-8"))])
                .bearer_auth(&alice.token)
                .send()
                .await
                .expect("probe");
            let v: Value = r.json().await.expect("json");
            if app.postgres && path.ends_with("weft.db") {
                continue; // no SQLite file on the PostgreSQL leg
            }
            assert_eq!(v["readable"], readable, "{}", path.display());
        }
    }
    let (s, _, posted) = alice
        .call(Method::POST, "/lw-workspace/proxy/api/kernels")
        .await;
    assert_eq!((s, &posted["method"]), (200, &json!("POST")));

    // hatchery's injections: an API key of hers, in the environment and credentials.json
    let creds: Value = serde_json::from_slice(
        &std::fs::read(home.join(".gen3/credentials.json")).expect("credentials.json"),
    )
    .expect("json");
    assert_eq!(creds["key_id"], seen["api_key_id"]);
    let r = app
        .post_json(
            "/user/credentials/api/access_token",
            &json!({"api_key": creds["api_key"]}),
        )
        .await;
    assert_eq!(r.status, 200, "the workspace's API key works: {}", r.text);

    // nobody else reaches it: bob has no workspace, and a websocket from another site is
    // refused even with her credentials
    let (s, _, v) = bob.call(Method::GET, "/lw-workspace/proxy/tree").await;
    assert_eq!((s, &v["error"]), (404, &json!("no workspace is running")));
    assert_eq!(bob.status().await["status"], "Not Found");
    let r = app
        .client
        .get(format!(
            "{}/lw-workspace/proxy/api/kernels/k/channels",
            app.url
        ))
        .bearer_auth(&alice.token)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("origin", "https://evil.example.org")
        .send()
        .await
        .expect("upgrade");
    assert_eq!(r.status(), 403);

    // a manifest exported now lands in the running workspace
    let r = app
        .client
        .post(format!("{}/manifests/", app.url))
        .bearer_auth(&alice.token)
        .json(&json!([{"object_id": "dg.TEST/1", "file_name": "a.txt"}]))
        .send()
        .await
        .expect("manifest");
    assert_eq!(r.status(), 200);
    let name = r.json::<Value>().await.expect("json")["filename"]
        .as_str()
        .expect("filename")
        .to_owned();
    let placed: Value = serde_json::from_slice(
        &std::fs::read(home.join("manifests").join(&name)).expect("placed manifest"),
    )
    .expect("json");
    assert_eq!(
        placed,
        json!([{"object_id": "dg.TEST/1", "file_name": "a.txt"}])
    );

    // terminate: nothing left running, the key revoked, the home kept
    let (s, text, _) = alice.call(Method::POST, "/lw-workspace/terminate").await;
    assert_eq!((s, text.as_str()), (200, "Terminated workspace"));
    assert_eq!(alice.status().await["status"], "Not Found");
    until_no_processes(&app).await;
    let r = app
        .post_json(
            "/user/credentials/api/access_token",
            &json!({"api_key": creds["api_key"]}),
        )
        .await;
    assert_eq!(r.status, 401, "the key died with the workspace: {}", r.text);
    assert!(
        home.join("manifests").join(&name).exists(),
        "the home survives"
    );
    let (s, _, _) = alice.call(Method::GET, "/lw-workspace/proxy/tree").await;
    assert_eq!(s, 404);
    let (s, _, _) = alice.call(Method::POST, "/lw-workspace/terminate").await;
    assert_eq!(s, 404);
    app.stop().await;
}

#[tokio::test]
async fn faults_become_clear_statuses_and_leave_nothing_behind() {
    let app = app_with(
        vec![
            fake_kind("never", &[("FAKE_MODE", "never")]),
            fake_kind("dies", &[("FAKE_MODE", "die"), ("FAKE_DIE_AFTER", "2")]),
            WorkspaceKind {
                idle_limit_secs: 2,
                ..fake_kind("idle", &[])
            },
            WorkspaceKind {
                command: vec!["/nonexistent/notebook".into()],
                ..fake_kind("missing", &[])
            },
        ],
        |_| {},
    )
    .await;
    let alice = Ws::of(&app, "alice@example.org").await;

    // a command that cannot start: an error at once, nothing recorded as running
    let (s, text) = alice.launch("missing").await;
    assert_eq!(s, 503, "{text}");
    assert!(text.contains("could not be started"), "{text}");
    assert_eq!(alice.status().await["status"], "Not Found");

    // a notebook that never answers: Errored after the launch timeout, and stopped
    assert_eq!(alice.launch("never").await.0, 200);
    assert_eq!(alice.status().await["status"], "Launching");
    let v = alice.until(&["Errored"]).await;
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("did not answer within 3 s"),
        "{v}"
    );
    until_no_processes(&app).await;

    // a notebook that dies: Stopped, with why
    assert_eq!(alice.launch("dies").await.0, 200);
    alice.until(&["Running"]).await;
    let v = alice.until(&["Stopped"]).await;
    assert!(
        v["message"].as_str().expect("message").contains("exited"),
        "{v}"
    );
    until_no_processes(&app).await;

    // an idle notebook: stopped after its idle limit, its home kept
    assert_eq!(alice.launch("idle").await.0, 200);
    let v = alice.until(&["Running"]).await;
    assert_eq!(v["idleTimeLimit"], 2000);
    let v = alice.until(&["Stopped"]).await;
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("without activity"),
        "{v}"
    );
    until_no_processes(&app).await;
    assert!(
        home_of(&app, "alice@example.org")
            .join(".gen3/credentials.json")
            .exists()
    );
    // a stopped workspace is terminated to clear it, then launches again
    let (s, _, _) = alice.call(Method::POST, "/lw-workspace/terminate").await;
    assert_eq!(s, 200);
    assert_eq!(alice.status().await["status"], "Not Found");
    app.stop().await;
}

#[tokio::test]
async fn pay_models_meter_usage_warn_and_stop_at_the_hard_limit() {
    // 3600 an hour: 1 a second
    let app = app_with(
        vec![WorkspaceKind {
            rate_per_hour: 3600.0,
            ..fake_kind("metered", &[])
        }],
        |_| {},
    )
    .await;
    let alice = Ws::of(&app, "alice@example.org").await;
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/paymodels").await;
    assert_eq!((s, &v["error"]), (404, &json!("Current paymodel not set")));
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/allpaymodels").await;
    assert_eq!((s, &v["error"]), (404, &json!("No paymodel set")));

    let stores = weft::open_stores(&app.config).await.expect("stores");
    for (id, current, hard) in [("pm-small", true, 3.0), ("pm-big", false, 1000.0)] {
        stores
            .workspace
            .put_pay_model(weft_store::PayModelRow {
                id: id.into(),
                user: "alice@example.org".into(),
                workspace_type: "Direct Pay".into(),
                account_id: format!("acct-{id}"),
                region: "local".into(),
                local: true,
                request_status: "active".into(),
                soft_limit: 1.0,
                hard_limit: hard,
                total_usage: 0.0,
                current,
            })
            .await
            .expect("pay model");
    }
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/paymodels").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["bmh_workspace_id"], "pm-small");
    assert_eq!(v["hard-limit"], 3.0);
    assert_eq!(v["current_pay_model"], true);
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/allpaymodels").await;
    assert_eq!(s, 200);
    assert_eq!(v["all_pay_models"].as_array().expect("all").len(), 2);
    assert_eq!(v["current_pay_model"]["bmh_workspace_id"], "pm-small");

    // it runs, is charged, warned past the soft limit, and stopped at the hard limit
    assert_eq!(alice.launch("metered").await.0, 200);
    alice.until(&["Running"]).await;
    let (s, _, v) = alice
        .call(Method::POST, "/lw-workspace/setpaymodel?id=pm-big")
        .await;
    assert_eq!(s, 409, "no switching while it runs: {v}");
    let (s, _, v) = alice
        .call(Method::POST, "/lw-workspace/resetpaymodels")
        .await;
    assert_eq!(s, 409, "no reset while it runs: {v}");
    let (s, _, v) = alice.call(Method::POST, "/lw-workspace/setpaymodel").await;
    assert_eq!((s, &v["error"]), (400, &json!("Missing 'id' parameter")));
    let v = alice.until(&["Stopped"]).await;
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("hard limit"),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("past its soft limit"),
        "{v}"
    );
    until_no_processes(&app).await;
    let (_, _, v) = alice.call(Method::GET, "/lw-workspace/paymodels").await;
    assert_eq!(v["request_status"], "above limit");
    assert!(v["total-usage"].as_f64().expect("usage") >= 3.0, "{v}");
    let usage = stores
        .workspace
        .usage(Some("alice@example.org"), 0)
        .await
        .expect("usage");
    assert!(!usage.is_empty());
    assert!(
        usage
            .iter()
            .all(|u| u.account == "pm-small" && u.kind == "metered")
    );
    let charged: f64 = usage.iter().map(|u| u.cost).sum();
    assert!((charged - v["total-usage"].as_f64().expect("usage")).abs() < 1e-6);
    let report = weft::workspace::usage_report(&stores, None, 0)
        .await
        .expect("report");
    let small = report
        .iter()
        .find(|l| l.pay_model == "pm-small")
        .expect("line");
    assert!((small.period_usage - charged).abs() < 1e-6);
    assert!(small.period_hours > 0.0);
    assert!(weft::workspace::usage_table(&report).contains("pm-small"));

    // past the hard limit: no launch
    let (s, text) = alice.launch("metered").await;
    assert_eq!(s, 403, "{text}");
    assert!(text.contains("hard limit"), "{text}");

    // another pay model: launches again; none current: refused
    let (s, _, v) = alice
        .call(Method::POST, "/lw-workspace/setpaymodel?id=pm-big")
        .await;
    assert_eq!((s, &v["bmh_workspace_id"]), (200, &json!("pm-big")));
    let (s, _, v) = alice
        .call(Method::POST, "/lw-workspace/setpaymodel?id=pm-nope")
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, text, _) = alice
        .call(Method::POST, "/lw-workspace/resetpaymodels")
        .await;
    assert_eq!(s, 200, "{text}");
    let (s, text) = alice.launch("metered").await;
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("Current Paymodel is not set"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_default_pay_model_is_given_and_kinds_follow_pay_model_types() {
    let app = app_with(
        vec![
            fake_kind("any", &[]),
            WorkspaceKind {
                pay_models: vec!["STRIDES Credits".into()],
                ..fake_kind("strides-only", &[])
            },
            WorkspaceKind {
                resource_paths: vec!["/workspace/gpu".into()],
                ..fake_kind("gpu", &[])
            },
        ],
        |w| {
            w.default_pay_model = Some(weft_config::workspace::DefaultPayModel {
                workspace_type: "Trial Workspace".into(),
                soft_limit: 5.0,
                hard_limit: 10.0,
            });
        },
    )
    .await;
    let alice = Ws::of(&app, "alice@example.org").await;
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/options").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = v
        .as_array()
        .expect("options")
        .iter()
        .map(|o| o["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["any"],
        "a pay-model kind and an authz kind are hidden"
    );
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/paymodels").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["workspace_type"], "Trial Workspace");
    assert_eq!(v["soft-limit"], 5.0);
    assert_eq!(v["request_status"], "active");
    app.grant(
        "alice@example.org",
        "jupyterhub",
        "launch",
        "/workspace/gpu",
    )
    .await;
    let (_, _, v) = alice.call(Method::GET, "/lw-workspace/options").await;
    assert_eq!(v.as_array().expect("options").len(), 2, "{v}");
    app.stop().await;
}

#[tokio::test]
async fn a_restart_adopts_its_running_workspaces_and_stops_strays() {
    let app = app_with(vec![fake_kind("fake", &[])], |_| {}).await;
    let alice = Ws::of(&app, "alice@example.org").await;
    let bob = Ws::of(&app, "bob@example.org").await;
    assert_eq!(alice.launch("fake").await.0, 200);
    assert_eq!(bob.launch("fake").await.0, 200);
    alice.until(&["Running"]).await;
    bob.until(&["Running"]).await;
    let before = notebook_processes(&app);
    assert_eq!(before.len(), 2, "{before:?}");

    // the server stops (its tasks end; notebooks keep running); bob's row is lost
    app.stop_tasks().await;
    let stores = weft::open_stores(&app.config).await.expect("stores");
    let mut row = stores
        .workspace
        .workspace("bob@example.org")
        .await
        .expect("row")
        .expect("bob's row");
    row.state = "Not Found".into();
    stores.workspace.put_workspace(row).await.expect("put");

    // a new server on the same database and directory
    let runner = weft_tasks::Runner::default();
    let (url, tx, server) = app.twin_on(&runner).await;
    // alice's workspace is adopted: still Running, still reachable
    for _ in 0..100 {
        if notebook_processes(&app).len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(notebook_processes(&app).len(), 1, "bob's stray was stopped");
    let r = app
        .client
        .get(format!("{url}/lw-workspace/proxy/tree"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .expect("proxy");
    assert_eq!(r.status(), 200, "alice's notebook still answers");
    let r = app
        .client
        .get(format!("{url}/lw-workspace/status"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .expect("status");
    assert_eq!(r.json::<Value>().await.expect("json")["status"], "Running");
    let r = app
        .client
        .post(format!("{url}/lw-workspace/terminate"))
        .bearer_auth(&alice.token)
        .send()
        .await
        .expect("terminate");
    assert_eq!(r.status(), 200);
    until_no_processes(&app).await;
    runner.shutdown(Duration::from_secs(5)).await;
    let _ = tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    app.stop().await;
}

/// The JupyterLab environment of the real-notebook test, if there is one.
fn jupyter_env() -> Option<std::path::PathBuf> {
    match std::env::var_os("WEFT_TEST_JUPYTER") {
        Some(p) if std::path::Path::new(&p).join("bin/jupyter").exists() => Some(p.into()),
        _ if std::env::var_os("CI").is_some() => panic!(
            "CI is set but WEFT_TEST_JUPYTER names no JupyterLab environment: run \
             tests/workspace/setup.sh"
        ),
        _ => {
            eprintln!("WEFT_TEST_JUPYTER is unset: skipping the JupyterLab test");
            None
        }
    }
}

/// A connection for the websocket client: plain or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// TLS to 127.0.0.1 trusting only `cert`.
async fn tls_to(
    tcp: tokio::net::TcpStream,
    cert: &std::path::Path,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_file(cert).expect("cert"))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name"),
            tcp,
        )
        .await
        .expect("TLS handshake")
}

/// Run `code` in a kernel of the caller's notebook over its websocket, through the proxy;
/// what it printed.
async fn run_in_kernel(app: &TestApp, token: &str, code: &str) -> String {
    use futures::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let r = app
        .client
        .post(format!("{}/lw-workspace/proxy/api/kernels", app.url))
        .bearer_auth(token)
        .json(&json!({"name": "python3"}))
        .send()
        .await
        .expect("kernel");
    assert_eq!(r.status(), 201, "a kernel starts through the proxy");
    let kernel: Value = r.json().await.expect("json");
    let tls = app.config.tls.cert.clone();
    let url = format!(
        "{}://127.0.0.1:{}/lw-workspace/proxy/api/kernels/{}/channels",
        if tls.is_some() { "wss" } else { "ws" },
        app.port,
        kernel["id"].as_str().expect("kernel id")
    );
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "authorization",
        format!("bearer {token}").parse().expect("header"),
    );
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let stream: Box<dyn Io> = match tls {
        Some(cert) => Box::new(tls_to(tcp, &cert).await),
        None => Box::new(tcp),
    };
    let (mut ws, resp) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("the websocket opens through the proxy");
    assert_eq!(resp.status(), 101);
    let msg_id = uuid::Uuid::new_v4().simple().to_string();
    let execute = json!({
        "header": {"msg_id": msg_id, "username": "test", "session": uuid::Uuid::new_v4().simple().to_string(),
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": false, "store_history": false,
                    "user_expressions": {}, "allow_stdin": false},
    });
    ws.send(Message::text(execute.to_string()))
        .await
        .expect("send");
    let mut out = String::new();
    let read = async {
        while let Some(m) = ws.next().await {
            let Ok(Message::Text(t)) = m else { continue };
            let m: Value = serde_json::from_str(&t).expect("json");
            if m["parent_header"]["msg_id"] != msg_id.as_str() {
                continue;
            }
            match m["msg_type"].as_str() {
                Some("stream") => out.push_str(m["content"]["text"].as_str().unwrap_or_default()),
                Some("error") => out.push_str(&format!("ERROR {}", m["content"]["evalue"])),
                Some("status") if m["content"]["execution_state"] == "idle" => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(120), read)
        .await
        .expect("the kernel answers");
    out
}

#[tokio::test]
async fn jupyterlab_runs_a_kernel_and_pulls_a_manifest() {
    let Some(env) = jupyter_env() else { return };
    let app = TestApp::start_with(|c| {
        c.workspace.python_env = Some(env);
        c.workspace.check_interval_secs = 1;
    })
    .await;
    let alice = Ws::of(&app, "alice@example.org").await;
    app.grant("alice@example.org", "fence", "read-storage", "/programs/p1")
        .await;
    // a file of the commons she may read, and one manifest naming it
    let path = app.config.data_dir.join("files/ws/hello.txt");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"hello from the commons\n").expect("object");
    let rec = app
        .create(json!({"urls": ["file:///ws/hello.txt"], "authz": ["/programs/p1"], "acl": []}))
        .await;
    let r = app
        .client
        .post(format!("{}/manifests/", app.url))
        .bearer_auth(&alice.token)
        .json(&json!([{"object_id": rec.did, "file_name": "hello.txt"}]))
        .send()
        .await
        .expect("manifest");
    let manifest = r.json::<Value>().await.expect("json")["filename"]
        .as_str()
        .expect("filename")
        .to_owned();

    // the default kind: JupyterLab from the environment
    let (s, _, v) = alice.call(Method::GET, "/lw-workspace/options").await;
    assert_eq!((s, &v[0]["name"]), (200, &json!("jupyterlab")), "{v}");
    assert_eq!(alice.launch("jupyterlab").await.0, 200);
    alice.until(&["Running"]).await;
    let r = app
        .client
        .get(format!("{}/lw-workspace/proxy/lab", app.url))
        .bearer_auth(&alice.token)
        .send()
        .await
        .expect("lab");
    assert_eq!(r.status(), 200);
    assert!(r.text().await.expect("html").contains("JupyterLab"));

    // a kernel through the proxy's websocket
    assert_eq!(
        run_in_kernel(&app, &alice.token, "print(1 + 1)").await,
        "2\n"
    );
    // the manifest exported before the launch is there, and its files pull with the SDK
    // as the workspace is set up (credentials.json, GEN3_API_KEY), unchanged
    let code = format!(
        "import json, requests\n\
         from gen3.auth import Gen3Auth\n\
         from gen3.file import Gen3File\n\
         files = Gen3File(Gen3Auth())\n\
         for e in json.load(open('manifests/{manifest}')):\n\
         \x20   url = files.get_presigned_url(e['object_id'])['url']\n\
         \x20   print(e['file_name'], requests.get(url).text, end='')\n"
    );
    assert_eq!(
        run_in_kernel(&app, &alice.token, &code).await,
        "hello.txt hello from the commons\n"
    );
    let (s, _, _) = alice.call(Method::POST, "/lw-workspace/terminate").await;
    assert_eq!(s, 200);
    until_no_processes(&app).await;
    app.stop().await;
}

/// A self-signed certificate for 127.0.0.1 (a leaf, as rustls wants it), in a directory
/// every uid can read (the workspace's own uid reads the certificate).
fn certificate() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert.pem()).expect("cert");
    std::fs::set_permissions(&c, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(&k, key.serialize_pem()).expect("key");
    (dir, c, k)
}

#[tokio::test]
async fn gen3_drs_pull_works_in_a_workspace_unchanged() {
    let Some(env) = jupyter_env() else { return };
    let (_certs, cert, key) = certificate();
    let bundle = cert.to_string_lossy().into_owned();
    // HTTPS, as a commons is served: the SDK's drs-pull builds https://<host> URLs
    let app = TestApp::start_with(|c| {
        c.tls.cert = Some(cert.clone());
        c.tls.key = Some(key);
        c.workspace.python_env = Some(env);
        c.workspace.check_interval_secs = 1;
        c.workspace.kinds = vec![WorkspaceKind {
            name: "jupyterlab".into(),
            env: [("REQUESTS_CA_BUNDLE".to_owned(), bundle)].into(),
            ..WorkspaceKind::default()
        }];
    })
    .await;
    assert!(app.url.starts_with("https://"));
    let alice = Ws::of(&app, "alice@example.org").await;
    app.grant("alice@example.org", "fence", "read-storage", "/programs/p1")
        .await;
    let path = app.config.data_dir.join("files/ws/reads.txt");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"ACGT\n").expect("object");
    let rec = app
        .create(
            json!({"urls": ["file:///ws/reads.txt"], "authz": ["/programs/p1"], "acl": [],
                       "file_name": "reads.txt", "size": 5,
                       "hashes": {"md5": "58ce66d7df0a1cf9b360cabf43da3ea5"}}),
        )
        .await;
    let r = app
        .client
        .post(format!("{}/manifests/", app.url))
        .bearer_auth(&alice.token)
        .json(&json!([{"object_id": rec.did, "commons_url": app.host(), "file_name": "reads.txt"}]))
        .send()
        .await
        .expect("manifest");
    assert_eq!(r.status(), 200);
    let manifest = r.json::<Value>().await.expect("json")["filename"]
        .as_str()
        .expect("filename")
        .to_owned();
    assert_eq!(alice.launch("jupyterlab").await.0, 200);
    alice.until(&["Running"]).await;
    // the CLI as a user types it: its API key and endpoint come from the workspace
    let code = format!(
        "import subprocess\n\
         r = subprocess.run(['gen3', 'drs-pull', 'manifest', 'manifests/{manifest}', 'pulled'],\n\
         \x20                  capture_output=True, text=True)\n\
         try:\n\
         \x20   print(open('pulled/reads.txt').read(), end='')\n\
         except OSError:\n\
         \x20   print(r.returncode, r.stdout[-2000:], r.stderr[-2000:])\n"
    );
    assert_eq!(run_in_kernel(&app, &alice.token, &code).await, "ACGT\n");
    let (s, _, _) = alice.call(Method::POST, "/lw-workspace/terminate").await;
    assert_eq!(s, 200);
    until_no_processes(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn a_browser_session_reaches_the_notebook_as_jupyterlab_calls_it() {
    let app = TestApp::start_with(|c| {
        c.workspace.kinds = vec![fake_kind("fake", &[])];
        c.workspace.check_interval_secs = 1;
        c.login.mock_user = Some("alice@example.org".into());
    })
    .await;
    let alice = Ws::of(&app, "alice@example.org").await;
    let b = crate::support::browser();
    crate::support::mock_login(&app, &b).await;
    assert_eq!(alice.launch("fake").await.0, 200);
    alice.until(&["Running"]).await;

    // JupyterLab's pages send its own `Authorization: token …`: the session still says who
    // asks, and the notebook gets its real secret
    let r = b
        .get(format!("{}/lw-workspace/proxy/api/contents", app.url))
        .header("authorization", "token the-secret-from-the-page-config")
        .send()
        .await
        .expect("proxy");
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("json");
    assert_eq!(seen["path"], "/lw-workspace/proxy/api/contents");
    assert_eq!(seen["cookie"], Value::Null, "weft's cookies stay out");
    // its changes come from this commons' pages (Origin), as a browser sends them
    let r = b
        .post(format!("{}/lw-workspace/proxy/api/sessions", app.url))
        .header("authorization", "token x")
        .header("origin", &app.url)
        .send()
        .await
        .expect("proxy");
    assert_eq!(r.status(), 200);
    let r = b
        .post(format!("{}/lw-workspace/proxy/api/sessions", app.url))
        .header("origin", "https://evil.example.org")
        .send()
        .await
        .expect("proxy");
    assert_eq!(r.status(), 403, "a change from another site");
    // outside the proxy a `token` header is no weft credential
    let r = b
        .get(format!("{}/lw-workspace/status", app.url))
        .header("authorization", "token x")
        .send()
        .await
        .expect("status");
    assert_eq!(r.status(), 401);
    let (s, _, _) = alice.call(Method::POST, "/lw-workspace/terminate").await;
    assert_eq!(s, 200);
    until_no_processes(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn manifestservice_refuses_bad_input() {
    let app = TestApp::start().await;
    let token = app.token("alice@example.org");
    let post = |path: &'static str, body: &'static str, auth: bool| {
        let mut r = app
            .client
            .post(format!("{}{path}", app.url))
            .header("content-type", "application/json")
            .body(body);
        if auth {
            r = r.bearer_auth(&token);
        }
        r.send()
    };
    // no user: 403 "Please log in.", as manifestservice
    for path in ["/manifests/", "/manifests/cohorts", "/manifests/metadata"] {
        let r = post(path, "[]", false).await.expect("post");
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(
            r.json::<Value>().await.expect("json"),
            json!({"error": "Please log in."})
        );
    }
    let r = app
        .get_auth("/manifests/", crate::support::Auth::Bearer)
        .await;
    assert_eq!(r.status, 403, "a forged token is no user");
    for (path, body, needle) in [
        ("/manifests/", "not json", "not JSON"),
        ("/manifests/", r#"{"object_id": "x"}"#, "JSON array"),
        ("/manifests/", "[]", "empty"),
        (
            "/manifests/",
            r#"[{"object_id": "x"}, {"file_name": "y"}]"#,
            "entry 1",
        ),
        ("/manifests/", r#"[{"object_id": ""}]"#, "entry 0"),
        (
            "/manifests/cohorts",
            r#"{"guid": "not-a-guid"}"#,
            "not a GUID",
        ),
        ("/manifests/cohorts", r#"{}"#, "guid"),
        ("/manifests/metadata", "{", "not JSON"),
    ] {
        let r = post(path, body, true).await.expect("post");
        assert_eq!(r.status(), 400, "{path} {body}");
        let v: Value = r.json().await.expect("json");
        assert!(
            v["error"].as_str().expect("error").contains(needle),
            "{path} {body}: {v}"
        );
    }
    // nothing was stored by any of them
    let r = app
        .client
        .get(format!("{}/manifests/", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("list");
    assert_eq!(
        r.json::<Value>().await.expect("json"),
        json!({"manifests": []})
    );
    for (path, status) in [
        ("/manifests/file/manifest-x.txt", 400),
        ("/manifests/file/manifest-none.json", 404),
        ("/manifests/metadata/none.json", 404),
    ] {
        let r = app
            .client
            .get(format!("{}{path}", app.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), status, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_token_service_refuses_bad_input() {
    let app = TestApp::start_with(|c| {
        c.workspace.external_oidc.insert(
            "other".into(),
            weft_config::workspace::ExternalOidc {
                base_url: "http://127.0.0.1:9".into(),
                name: Some("Other".into()),
                client_id: "c".into(),
                client_secret: weft_config::Secret("s".into()),
                scopes: vec!["openid".into()],
                refresh_token_days: 30,
            },
        );
    })
    .await;
    let token = app.token("alice@example.org");
    let get = |path: String, auth: bool| {
        let mut r = app.client.get(format!("{}{path}", app.url));
        if auth {
            r = r.bearer_auth(&token);
        }
        r.send()
    };
    // anyone may list the providers; only a user may ask for theirs
    let v: Value = get("/wts/external_oidc/".into(), false)
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(v["providers"][0]["idp"], "other");
    for (path, auth, status, needle) in [
        ("/wts/external_oidc/?unexpired=true", false, 401, ""),
        ("/wts/token/", false, 401, ""),
        (
            "/wts/token/?idp=nowhere",
            true,
            400,
            "unknown identity provider",
        ),
        ("/wts/token/?idp=other", true, 400, "no refresh token"),
        (
            "/wts/oauth2/connected?idp=other",
            true,
            403,
            "not connected",
        ),
        (
            "/wts/oauth2/connected?idp=nowhere",
            true,
            400,
            "unknown identity provider",
        ),
        ("/wts/oauth2/authorization_url?idp=other", false, 401, ""),
        ("/wts/oauth2/authorization_url", true, 400, "Missing 'idp'"),
        (
            "/wts/oauth2/authorization_url?idp=nowhere",
            true,
            400,
            "unknown identity provider",
        ),
        (
            "/wts/oauth2/authorization_url?idp=other&redirect=//evil.example.org/",
            true,
            400,
            "a path on this commons",
        ),
        (
            "/wts/oauth2/authorize?state=x",
            false,
            400,
            "Missing 'code'",
        ),
        (
            "/wts/oauth2/authorize?code=c&state=forged.sig",
            true,
            400,
            "not one this commons issued",
        ),
        (
            "/wts/oauth2/authorize?error=access_denied",
            false,
            400,
            "access_denied",
        ),
        ("/wts/oauth2/logout?idp=other", true, 404, "no token held"),
        ("/wts/oauth2/logout", true, 400, "Missing 'idp'"),
    ] {
        let r = get(path.into(), auth).await.expect("request");
        assert_eq!(r.status().as_u16(), status, "{path}");
        let v: Value = r.json().await.expect("a JSON error");
        assert!(
            v["error"].as_str().expect("error").contains(needle),
            "{path}: {v}"
        );
    }
    // a good start: a redirect to the provider with a signed state
    let r = crate::support::browser()
        .get(format!(
            "{}/wts/oauth2/authorization_url?idp=other",
            app.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("start");
    assert_eq!(r.status(), 302);
    let to = r.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        to.starts_with("http://127.0.0.1:9/user/oauth2/authorize?"),
        "{to}"
    );
    assert!(to.contains("client_id=c") && to.contains("state="), "{to}");
    app.stop().await;
}
