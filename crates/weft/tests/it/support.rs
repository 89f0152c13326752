//! `TestApp`: a real weft server on an ephemeral loopback port, over a fresh database.
//!
//! SQLite in a temporary directory by default; with `WEFT_TEST_DATABASE_URL` set, a throwaway
//! PostgreSQL database made from that URL (and a test fails if the server cannot be reached:
//! it never silently falls back to SQLite).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weft_config::{Config, Secret};
use weft_store_postgres::testing::TempDatabase;

pub const ADMIN: &str = "admin";
/// The bootstrap admin of the policy engine in every test server.
pub const ROOT: &str = "root@weft.test";
pub const PASSWORD: &str = "secret";
pub const MD5: &str = "0123456789abcdef0123456789abcdef";
pub const MD5_B: &str = "fedcba9876543210fedcba9876543210";
pub const SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    None,
    Admin,
    WrongPassword,
    Bearer,
}

/// A response, read completely.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    /// The body as JSON; `Value::Null` when it is not JSON.
    pub json: Value,
}

impl Resp {
    /// Read a response completely.
    pub async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = resp.text().await.expect("reading the body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            content_type,
            text,
            json,
        }
    }

    /// Assert the status (showing the body on failure) and return the JSON body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "expected HTTP {status}, got {}: {}",
            self.status, self.text
        );
        self.json
    }

    /// Assert an indexd-style error: the status, a JSON body `{"error": "..."}` whose message
    /// contains `needle`.
    #[track_caller]
    pub fn expect_error(self, status: u16, needle: &str) -> String {
        assert_eq!(
            self.status, status,
            "expected HTTP {status}, got {}: {}",
            self.status, self.text
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "error body is not JSON ({}): {}",
            self.content_type,
            self.text
        );
        let msg = self.json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"error\" string in {}", self.text))
            .to_owned();
        assert!(
            msg.contains(needle),
            "error {msg:?} does not mention {needle:?}"
        );
        msg
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    pub port: u16,
    /// The configuration the server runs with (its `base_url` set).
    pub config: Config,
    /// Issues tokens the server accepts (same keys, same issuer).
    pub tokens: Arc<weft_identity::Tokens>,
    pub client: reqwest::Client,
    pub postgres: bool,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    db: Option<TempDatabase>,
    /// The background tasks of this server (stopped by `stop` and `stop_tasks`).
    pub runner: weft_tasks::Runner,
    _dir: tempfile::TempDir,
}

/// Hashing with argon2 is slow on purpose; do it once per process.
fn admin_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        weft_indexd::auth::hash_password(PASSWORD).expect("hashing the test password")
    })
}

/// `weft::build` may or may not be fallible; accept both.
pub trait IntoApp {
    fn into_app(self) -> axum::Router;
}

impl IntoApp for axum::Router {
    fn into_app(self) -> axum::Router {
        self
    }
}

impl IntoApp for anyhow::Result<axum::Router> {
    fn into_app(self) -> axum::Router {
        self.expect("building the app")
    }
}

impl TestApp {
    /// The default configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A configuration changed by `tweak` before the store opens.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_full(tweak, None).await
    }

    /// Full control: a configuration tweak and an optional Prometheus handle.
    pub async fn start_full(
        tweak: impl FnOnce(&mut Config),
        metrics: Option<weft_http::PrometheusHandleAlias>,
    ) -> Self {
        Self::start_at("127.0.0.1", None, tweak, metrics).await
    }

    /// A server whose public URL names `host` (e.g. `localhost`, so two test servers on
    /// one machine do not share browser cookies, which ignore ports), on `listener` if
    /// given (to know its URL before it starts).
    pub async fn start_at(
        host: &str,
        listener: Option<tokio::net::TcpListener>,
        tweak: impl FnOnce(&mut Config),
        metrics: Option<weft_http::PrometheusHandleAlias>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        // Set but unreachable must fail the test, never skip it.
        let db = TempDatabase::from_env()
            .await
            .expect("WEFT_TEST_DATABASE_URL is set but no test database could be created");
        if let Some(db) = &db {
            config.database_url = Some(Secret(db.url().to_owned()));
        }
        config.authz.admin_users = vec![ROOT.to_owned()];
        tweak(&mut config);
        let postgres = config.uses_postgres();
        assert_eq!(
            postgres,
            db.is_some(),
            "backend differs from the environment"
        );

        let stores = weft::open_stores(&config).await.expect("opening the store");
        stores
            .index
            .put_index_user(ADMIN, admin_hash())
            .await
            .expect("storing the index user");

        let listener = match listener {
            Some(l) => l,
            None => tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("binding 127.0.0.1:0"),
        };
        let addr = listener.local_addr().expect("local addr");
        let scheme = if config.tls.enabled() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{host}:{}", addr.port());
        config.listen = addr;
        config.base_url = Some(url.clone());

        let tokens = weft::tokens(&config, &stores).await.expect("signing keys");
        let runner = weft_tasks::Runner::default();
        let app = weft::build_with(config.clone(), stores.clone(), metrics, &runner)
            .await
            .into_app();
        let (tx, rx) = oneshot::channel::<()>();
        let tls = config.tls.cert.clone().zip(config.tls.key.clone());
        let mut client = reqwest::Client::builder().timeout(Duration::from_secs(30));
        let server = match &tls {
            Some((cert, key)) => {
                let tls = weft::tls::server_config(cert, key).expect("tls");
                let listener = weft::tls::TlsListener::new(listener, tls).expect("tls listener");
                client = client.add_root_certificate(
                    reqwest::Certificate::from_pem(&std::fs::read(cert).expect("cert"))
                        .expect("a PEM certificate"),
                );
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await
                        .expect("server error");
                })
            }
            None => tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .expect("server error");
            }),
        };
        let client = client.build().expect("http client");
        Self {
            url,
            port: addr.port(),
            config,
            tokens,
            client,
            postgres,
            shutdown: Some(tx),
            server: Some(server),
            db,
            runner,
            _dir: dir,
        }
    }

    /// Stop the background tasks (as a stopping server does), keeping the HTTP server.
    pub async fn stop_tasks(&self) {
        self.runner.shutdown(Duration::from_secs(10)).await;
    }

    /// Shut the server down gracefully and drop the PostgreSQL database, if any.
    pub async fn stop(mut self) {
        self.runner.shutdown(Duration::from_secs(10)).await;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Idle keep-alive connections would otherwise hold the graceful shutdown up.
        self.client = reqwest::Client::new();
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("server did not shut down within 10 s")
                .expect("server task failed");
        }
        if let Some(db) = self.db.take() {
            db.drop_database()
                .await
                .expect("dropping the test database");
        }
    }

    /// An access token for `user` with the scopes a logged-in user's token has.
    pub fn token(&self, user: &str) -> String {
        self.tokens
            .issue_access(
                user,
                &[
                    "openid".into(),
                    "user".into(),
                    "data".into(),
                    "fence".into(),
                ],
                600,
            )
            .expect("issuing a token")
    }

    /// A second weft server on the same database and configuration (another instance
    /// behind the same load balancer). Returns its URL and a stop handle.
    pub async fn twin(&self) -> (String, oneshot::Sender<()>, JoinHandle<()>) {
        self.twin_on(&weft_tasks::Runner::default()).await
    }

    /// As [`Self::twin`], its background tasks on `runner`.
    pub async fn twin_on(
        &self,
        runner: &weft_tasks::Runner,
    ) -> (String, oneshot::Sender<()>, JoinHandle<()>) {
        let stores = weft::open_stores(&self.config)
            .await
            .expect("opening the store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = weft::build_with(self.config.clone(), stores, None, runner)
            .await
            .into_app();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .expect("server error");
        });
        (url, tx, server)
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Resp::read(req.send().await.expect("request failed")).await
    }

    /// A request to the policy API as the bootstrap admin.
    pub async fn root(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let t = self.token(ROOT);
        self.call(method, path, body, Some(&t)).await
    }

    /// Give `user` a policy allowing `service` `method` on `path` (creating the resource,
    /// role, policy and user as needed) through the policy API.
    pub async fn grant(&self, user: &str, service: &str, method: &str, path: &str) {
        let id = format!("{service}-{method}-{}", path.replace('/', "."));
        let r = self
            .root(
                Method::POST,
                "/authz/resource?p",
                Some(json!({"path": path})),
            )
            .await;
        assert!(r.status == 201 || r.status == 409, "resource: {}", r.text);
        let role = json!({"id": id, "permissions": [
            {"id": id, "action": {"service": service, "method": method}}]});
        let r = self.root(Method::POST, "/authz/role", Some(role)).await;
        assert!(r.status == 201 || r.status == 409, "role: {}", r.text);
        let policy = json!({"id": id, "role_ids": [id], "resource_paths": [path]});
        let r = self.root(Method::POST, "/authz/policy", Some(policy)).await;
        assert!(r.status == 201 || r.status == 409, "policy: {}", r.text);
        let r = self
            .root(Method::POST, "/authz/user", Some(json!({"name": user})))
            .await;
        assert!(r.status == 201 || r.status == 409, "user: {}", r.text);
        self.root(
            Method::POST,
            &format!("/authz/user/{user}/policy"),
            Some(json!({"policy": id})),
        )
        .await
        .expect(204);
    }

    /// The host and port, as in `drs://HOST:PORT/...`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Auth,
    ) -> Resp {
        let mut req = self.client.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        req = match auth {
            Auth::None => req,
            Auth::Admin => req.basic_auth(ADMIN, Some(PASSWORD)),
            Auth::WrongPassword => req.basic_auth(ADMIN, Some("not-the-password")),
            Auth::Bearer => req.bearer_auth("some.jwt.token"),
        };
        Resp::read(req.send().await.expect("request failed")).await
    }

    /// Send raw bytes over a fresh TCP connection (for requests reqwest will not make);
    /// returns the status and the body. The request should say `Connection: close`.
    pub async fn raw_http(&self, request: &[u8]) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        // The server may answer and close before reading everything; that is fine.
        let _ = stream.write_all(request).await;
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status line in {text:?}"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None, Auth::None).await
    }

    pub async fn get_auth(&self, path: &str, auth: Auth) -> Resp {
        self.request(Method::GET, path, None, auth).await
    }

    /// POST a JSON body with admin credentials.
    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.post_json_auth(path, body, Auth::Admin).await
    }

    pub async fn post_json_auth(&self, path: &str, body: &Value, auth: Auth) -> Resp {
        self.request(
            Method::POST,
            path,
            Some(body.to_string().into_bytes()),
            auth,
        )
        .await
    }

    /// PUT a JSON body with admin credentials.
    pub async fn put_json(&self, path: &str, body: &Value) -> Resp {
        self.put_json_auth(path, body, Auth::Admin).await
    }

    pub async fn put_json_auth(&self, path: &str, body: &Value, auth: Auth) -> Resp {
        self.request(Method::PUT, path, Some(body.to_string().into_bytes()), auth)
            .await
    }

    /// DELETE with admin credentials.
    pub async fn delete(&self, path: &str) -> Resp {
        self.delete_auth(path, Auth::Admin).await
    }

    pub async fn delete_auth(&self, path: &str, auth: Auth) -> Resp {
        self.request(Method::DELETE, path, None, auth).await
    }

    /// Send raw bytes (for bodies that are not valid JSON).
    pub async fn send_raw(&self, method: Method, path: &str, body: &[u8]) -> Resp {
        self.request(method, path, Some(body.to_vec()), Auth::Admin)
            .await
    }

    /// Create a record from [`record`]`(extra)`; returns `{did, rev, baseid}`.
    pub async fn create(&self, extra: Value) -> Ids {
        let v = self
            .post_json("/index/index/", &record(extra))
            .await
            .expect(200);
        Ids::from(&v)
    }

    /// The full record document.
    pub async fn doc(&self, did: &str) -> Value {
        self.get(&format!("/index/index/{did}")).await.expect(200)
    }

    /// Every did `GET /index/index/` returns for `query` (one page, limit 1024 unless `ids`).
    pub async fn list_dids(&self, query: &str) -> Vec<String> {
        // `ids` cannot be combined with paging parameters
        let path = if query.split('&').any(|p| p.starts_with("ids=")) {
            format!("/index/index/?{query}")
        } else if query.is_empty() {
            "/index/index/?limit=1024".to_owned()
        } else {
            format!("/index/index/?limit=1024&{query}")
        };
        let v = self.get(&path).await.expect(200);
        dids(&v["records"])
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Reached without `stop()` only when a test panics: stop the server; the
        // TempDatabase drops its database itself.
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// `{did, rev, baseid}` of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub did: String,
    pub rev: String,
    pub baseid: String,
}

impl From<&Value> for Ids {
    fn from(v: &Value) -> Self {
        let s = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("no string {k} in {v}"))
                .to_owned()
        };
        Self {
            did: s("did"),
            rev: s("rev"),
            baseid: s("baseid"),
        }
    }
}

/// A valid create body: a public object with one s3 URL, with `extra`'s keys replacing the
/// defaults (a `null` in `extra` removes the key).
pub fn record(extra: Value) -> Value {
    let mut base = json!({
        "form": "object",
        "size": 123,
        "urls": ["s3://bucket/key.txt"],
        "hashes": {"md5": MD5},
        "file_name": "key.txt",
        "acl": ["*"],
        "authz": [],
    });
    let (Value::Object(b), Value::Object(e)) = (&mut base, extra) else {
        panic!("record(extra) takes a JSON object");
    };
    for (k, v) in e {
        if v.is_null() {
            b.remove(&k);
        } else {
            b.insert(k, v);
        }
    }
    base
}

/// The `did` of each record in a JSON list.
pub fn dids(records: &Value) -> Vec<String> {
    records
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {records}"))
        .iter()
        .map(|r| r["did"].as_str().expect("did").to_owned())
        .collect()
}

/// Sorted copy.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A canonical lower-case hyphenated UUID.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// Eight lower-case hex characters.
pub fn is_rev(s: &str) -> bool {
    s.len() == 8
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// indexd's date format, `YYYY-MM-DDTHH:MM:SS.ffffff` (naive UTC, no offset).
pub fn is_indexd_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 26
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// DRS's time format, indexd's date with a `Z`: `2020-01-02T03:04:05.000006Z`.
pub fn is_drs_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 27 && s.ends_with('Z') && is_indexd_date(&s[..26]))
}

/// Whether no value anywhere in `v` is `null` (DRS schemas allow none).
pub fn no_nulls(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => a.iter().all(no_nulls),
        Value::Object(o) => o.values().all(no_nulls),
        _ => true,
    }
}

/// A fresh UUID for client-chosen dids, made from the server's own minting.
pub async fn mint(app: &TestApp) -> String {
    let v = app.get("/index/guid/mint").await.expect(200);
    let g = v["guids"][0].as_str().expect("a guid").to_owned();
    // strip any configured prefix
    g.rsplit('/').next().expect("uuid").to_owned()
}

/// Percent-encode everything but unreserved characters, for ids inside a path segment.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Decode a chunked HTTP body.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `POST {url}/authz/auth/request` with `token` in the body for one (resource, service,
/// method); the answer's `auth`.
pub async fn auth_request(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    resource: &str,
    service: &str,
    method: &str,
) -> bool {
    let body = json!({"user": {"token": token}, "requests": [
        {"resource": resource, "action": {"service": service, "method": method}}]});
    let r = client
        .post(format!("{url}/authz/auth/request"))
        .json(&body)
        .send()
        .await
        .expect("auth request");
    let v = Resp::read(r).await.expect(200);
    v["auth"].as_bool().expect("auth is a boolean")
}

/// A client that follows no redirects and keeps cookies, as a browser would.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a cookie-keeping client")
}

/// Log the browser in with the development login (`login.mock_user` must be set).
pub async fn mock_login(app: &TestApp, b: &reqwest::Client) {
    let r = b
        .get(format!("{}/user/login/mock", app.url))
        .send()
        .await
        .expect("the development login answers");
    assert_eq!(r.status(), 200);
}
