//! Distributed resolution (indexd's `DIST`): ask other index services for ids this one
//! does not hold. Only the global resolver does this, as in indexd.

use std::sync::Arc;

use async_trait::async_trait;
use regex::Regex;
use serde_json::Value;
use weft_config::DistEntry;
use weft_core::WeftError;

/// Fetches a record document from a remote indexd (`GET {host}{id}?no_dist=`).
#[async_trait]
pub trait RemoteIndex: Send + Sync + 'static {
    /// `Ok(None)` when the remote has no such record; errors are the caller's to ignore.
    async fn fetch(&self, host: &str, id: &str) -> Result<Option<Value>, WeftError>;
}

/// The configured remote index services, with compiled hints.
pub struct Dist {
    entries: Vec<(DistEntry, Vec<Regex>)>,
    remote: Arc<dyn RemoteIndex>,
}

impl Dist {
    /// Compile the hints; an invalid regular expression is a configuration error.
    pub fn new(entries: &[DistEntry], remote: Arc<dyn RemoteIndex>) -> Result<Self, WeftError> {
        let mut out = Vec::new();
        for e in entries {
            let hints = e
                .hints
                .iter()
                .map(|h| {
                    // indexd uses re.match: anchored at the start only.
                    Regex::new(&format!("^(?:{h})")).map_err(|err| {
                        WeftError::invalid(format!("index.dist {}: bad hint {h:?}: {err}", e.name))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            out.push((e.clone(), hints));
        }
        Ok(Self {
            entries: out,
            remote,
        })
    }

    /// The entries in the order indexd tries them: those whose hint matches `id` first.
    fn ordered(&self, id: &str) -> Vec<&DistEntry> {
        let (mut hit, miss): (Vec<_>, Vec<_>) = self
            .entries
            .iter()
            .partition(|(_, hints)| hints.iter().any(|h| h.is_match(id)));
        hit.extend(miss);
        hit.into_iter().map(|(e, _)| e).collect()
    }

    /// The first remote that holds `id`, with its document.
    async fn find(&self, id: &str) -> Option<(&DistEntry, Value)> {
        for e in self.ordered(id) {
            if e.kind != "indexd" {
                continue;
            }
            match self.remote.fetch(&e.host, id).await {
                Ok(Some(doc)) => return Some((e, doc)),
                Ok(None) => {}
                Err(err) => tracing::warn!(remote = %e.host, error = %err, "dist lookup failed"),
            }
        }
        None
    }

    /// The first remote document for `id`, tagged with `from_index_service`.
    pub async fn resolve(&self, id: &str) -> Option<Value> {
        let (e, mut doc) = self.find(id).await?;
        if let Value::Object(m) = &mut doc {
            m.insert(
                "from_index_service".into(),
                serde_json::json!({"host": e.host, "name": e.name}),
            );
        }
        Some(doc)
    }

    /// The base URL (ending in `/`) of the commons that holds `id`, for DRS requests this
    /// service cannot answer itself: the remote's `host` without its `index/` tail.
    pub async fn locate(&self, id: &str) -> Option<String> {
        let (e, _) = self.find(id).await?;
        Some(commons_base(&e.host))
    }
}

/// `https://x.org/index/` → `https://x.org/`.
fn commons_base(host: &str) -> String {
    let trimmed = host.trim_end_matches('/');
    let base = trimmed.strip_suffix("/index").unwrap_or(trimmed);
    format!("{base}/")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    struct Fake {
        asked: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl RemoteIndex for Fake {
        async fn fetch(&self, host: &str, id: &str) -> Result<Option<Value>, WeftError> {
            self.asked.lock().unwrap().push(host.to_owned());
            if host.contains("b") && id.starts_with("dg.B/") {
                return Ok(Some(serde_json::json!({"did": id})));
            }
            if host.contains("broken") {
                return Err(WeftError::internal("down"));
            }
            Ok(None)
        }
    }

    fn entry(name: &str, host: &str, hint: &str) -> DistEntry {
        DistEntry {
            name: name.into(),
            host: host.into(),
            hints: vec![hint.into()],
            kind: "indexd".into(),
        }
    }

    #[tokio::test]
    async fn hinted_entries_first_and_tagged() {
        let fake = Arc::new(Fake {
            asked: Mutex::new(vec![]),
        });
        let dist = Dist::new(
            &[
                entry("A", "http://broken/index/", "dg\\.A/.*"),
                entry("B", "http://b/index/", "dg\\.B/.*"),
            ],
            fake.clone(),
        )
        .unwrap();
        let doc = dist.resolve("dg.B/123").await.unwrap();
        assert_eq!(doc["from_index_service"]["name"], "B");
        assert_eq!(*fake.asked.lock().unwrap(), vec!["http://b/index/"]);
        assert!(dist.resolve("dg.C/1").await.is_none());
        assert_eq!(dist.locate("dg.B/9").await.as_deref(), Some("http://b/"));
        assert_eq!(dist.locate("dg.C/9").await, None);
        assert_eq!(commons_base("https://x.org/a/index"), "https://x.org/a/");
        assert!(Dist::new(&[entry("X", "h", "(")], fake).is_err());
    }
}
