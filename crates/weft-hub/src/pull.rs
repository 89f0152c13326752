//! Pulling one commons' metadata: `GET {mds_url}/mds/metadata?data=True&_guid_type=..
//! &limit=N&offset=M` page after page until a page comes back short, as aggregate MDS's
//! gen3 adapter does. Unlike aggregate MDS, any failure (no answer, an HTTP error, a body
//! that is not a JSON object, a page or a pull over its limit, a redirect to another host)
//! fails the whole pull, so a half-read commons never replaces its last good copy.
//!
//! Each page is handed to a [`PageSink`] as soon as it is read, so only one raw page is held
//! at a time. A page's body is read chunk by chunk and abandoned past
//! [`Limits::page_bytes`]; a pull stops past [`Limits::pull_bytes`] read or
//! [`Limits::pull_records`] distinct records.

use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};
use serde_json::{Map, Value};

use crate::HubError;
use crate::mapping::CommonsSpec;

/// Pages past this many are not asked for: a commons that ignores `offset` would otherwise
/// be read forever.
const MAX_PAGES: u64 = 100_000;

/// Redirects followed within one origin before a page request fails.
const MAX_REDIRECTS: usize = 10;

/// How much one pull of a commons may read (`hub.max_page_bytes`, `hub.max_pull_bytes`,
/// `hub.max_pull_records`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one page's body.
    pub page_bytes: u64,
    /// Bytes of all pages' bodies of one pull.
    pub pull_bytes: u64,
    /// Distinct records of one pull.
    pub pull_records: u64,
}

impl Limits {
    /// The limits of a `[hub]` configuration.
    #[must_use]
    pub const fn of(config: &weft_config::HubConfig) -> Self {
        Self {
            page_bytes: config.max_page_bytes,
            pull_bytes: config.max_pull_bytes,
            pull_records: config.max_pull_records,
        }
    }
}

/// Takes the pages of one pull as they are read.
pub trait PageSink: Send {
    /// Take one page (`{guid: record}`); answer how many distinct records the pull has
    /// brought so far, this page included.
    fn take(&mut self, page: Map<String, Value>) -> BoxFuture<'_, Result<u64, HubError>>;
}

/// The HTTP client the hub pulls with.
#[derive(Clone)]
pub struct Puller {
    client: reqwest::Client,
    limits: Limits,
}

/// Whether two URLs have the same scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Follow a redirect only within the origin it came from; otherwise hand the 3xx back
/// (`Puller::page` turns it into an error) without asking the other host anything.
fn redirect(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let from = attempt.previous().last();
    if attempt.previous().len() <= MAX_REDIRECTS
        && from.is_some_and(|from| same_origin(from, attempt.url()))
    {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

impl Puller {
    /// A client whose requests time out after `timeout`, reading within `limits`.
    pub fn new(timeout: Duration, limits: Limits) -> Result<Self, HubError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .redirect(Policy::custom(redirect))
            .build()
            .map_err(|e| HubError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { client, limits })
    }

    /// Read every page of the commons into `sink`.
    pub async fn pull(&self, spec: &CommonsSpec, sink: &mut dyn PageSink) -> Result<(), HubError> {
        let page_size = u64::from(spec.page_size.max(1));
        let limit = spec
            .max_items
            .map_or(page_size, |m| m.min(page_size))
            .max(1);
        let mut offset = 0;
        let mut read = 0;
        let mut records = 0;
        for _ in 0..MAX_PAGES {
            let url = spec.page_url(limit, offset);
            let page = self.page(&url, &mut read).await?;
            let n = page.len() as u64;
            let before = records;
            records = sink.take(page).await?;
            if records > self.limits.pull_records {
                return Err(HubError::Pull(format!(
                    "GET {url}: the pull brought more than hub.max_pull_records ({}) records",
                    self.limits.pull_records
                )));
            }
            let full = spec.max_items.is_some_and(|m| records >= m);
            if n < limit || records == before || full {
                break;
            }
            offset += n;
        }
        Ok(())
    }

    /// One page; `read` counts the body bytes of the pull so far.
    async fn page(&self, url: &str, read: &mut u64) -> Result<Map<String, Value>, HubError> {
        let resp = self
            .client
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| HubError::Pull(format!("GET {url}: {}", describe(&e))))?;
        let status = resp.status();
        if status.is_redirection() {
            return Err(HubError::Pull(refused_redirect(url, &resp)));
        }
        if !status.is_success() {
            return Err(HubError::Pull(format!("GET {url}: HTTP {status}")));
        }
        let room = self.limits.pull_bytes.saturating_sub(*read);
        let body = match read_bounded(resp, self.limits.page_bytes.min(room)).await {
            Ok(body) => body,
            Err(BodyError::Read(e)) => {
                return Err(HubError::Pull(format!(
                    "GET {url}: reading the body: {}",
                    describe(&e)
                )));
            }
            Err(BodyError::TooLarge) if self.limits.page_bytes <= room => {
                return Err(HubError::Pull(format!(
                    "GET {url}: the page is larger than hub.max_page_bytes ({} bytes)",
                    self.limits.page_bytes
                )));
            }
            Err(BodyError::TooLarge) => {
                return Err(HubError::Pull(format!(
                    "GET {url}: the pull read more than hub.max_pull_bytes ({} bytes)",
                    self.limits.pull_bytes
                )));
            }
        };
        *read += body.len() as u64;
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

/// Why [`read_bounded`] returned no body.
#[derive(Debug)]
pub enum BodyError {
    /// The body is (or says it will be) longer than the bound.
    TooLarge,
    Read(reqwest::Error),
}

/// A response body read as it arrives, given up as soon as it passes `max` bytes (at once
/// when its `Content-Length` says it will): an answer from another server is never read
/// whole before it is measured.
pub async fn read_bounded(mut resp: reqwest::Response, max: u64) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why a 3xx answer was not followed.
fn refused_redirect(url: &str, resp: &reqwest::Response) -> String {
    let status = resp.status();
    let target = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| resp.url().join(l).ok());
    match target {
        Some(t) if !same_origin(resp.url(), &t) => format!(
            "GET {url}: HTTP {status}: refused a redirect to another host ({}); the hub \
             follows redirects only within the same scheme, host and port",
            t.origin().ascii_serialization()
        ),
        Some(_) => format!("GET {url}: HTTP {status}: more than {MAX_REDIRECTS} redirects"),
        None => format!("GET {url}: HTTP {status} without a usable Location"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(same_origin(&u("http://a.org/x"), &u("http://a.org:80/y?z")));
        assert!(same_origin(&u("https://a.org/x"), &u("https://a.org:443/")));
        assert!(!same_origin(&u("http://a.org/"), &u("https://a.org/")));
        assert!(!same_origin(&u("http://a.org/"), &u("http://b.org/")));
        assert!(!same_origin(
            &u("http://127.0.0.1:8080/"),
            &u("http://127.0.0.1:8081/")
        ));
        assert!(!same_origin(
            &u("http://127.0.0.1/"),
            &u("http://localhost/")
        ));
    }
}
