//! Pulling one commons' metadata: `GET {mds_url}/mds/metadata?data=True&_guid_type=..
//! &limit=N&offset=M` page after page until a page comes back short, as aggregate MDS's
//! gen3 adapter does. Unlike aggregate MDS, any failure (no answer, an HTTP error, a body
//! that is not a JSON object) fails the whole pull, so a half-read commons never replaces
//! its last good copy.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::HubError;
use crate::mapping::CommonsSpec;

/// Pages past this many are not asked for: a commons that ignores `offset` would otherwise
/// be read forever.
const MAX_PAGES: u64 = 100_000;

/// The HTTP client the hub pulls with.
#[derive(Clone)]
pub struct Puller {
    client: reqwest::Client,
}

impl Puller {
    /// A client whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, HubError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .build()
            .map_err(|e| HubError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// Every record of the commons, `{guid: record}`.
    pub async fn pull(&self, spec: &CommonsSpec) -> Result<Map<String, Value>, HubError> {
        let page_size = u64::from(spec.page_size.max(1));
        let limit = spec
            .max_items
            .map_or(page_size, |m| m.min(page_size))
            .max(1);
        let mut out = Map::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let url = spec.page_url(limit, offset);
            let page = self.page(&url).await?;
            let n = page.len() as u64;
            let before = out.len();
            out.extend(page);
            let full = spec.max_items.is_some_and(|m| out.len() as u64 >= m);
            if n < limit || out.len() == before || full {
                break;
            }
            offset += n;
        }
        Ok(out)
    }

    async fn page(&self, url: &str) -> Result<Map<String, Value>, HubError> {
        let resp = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| HubError::Pull(format!("GET {url}: {}", describe(&e))))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(HubError::Pull(format!("GET {url}: HTTP {status}")));
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| HubError::Pull(format!("GET {url}: reading the body: {e}")))?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(other) => Err(HubError::Pull(format!(
                "GET {url}: expected a JSON object {{guid: metadata}}, got {}",
                kind(&other)
            ))),
            Err(e) => Err(HubError::Pull(format!(
                "GET {url}: the body is not JSON: {e}"
            ))),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        e.to_string()
    }
}
