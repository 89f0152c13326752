//! Distributed resolution (indexd's `DIST`): ask other index services for ids this one
//! does not hold. Only the global resolver does this, as in indexd.

use std::sync::Arc;

use async_trait::async_trait;
use regex::Regex;
use serde_json::Value;
use weft_config::DistEntry;
use weft_core::{ErrorCode, WeftError};

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

    /// The entries in the order indexd tries them: those whose hint matches `id` first,
    /// each with whether it matched.
    fn ordered(&self, id: &str) -> Vec<(&DistEntry, bool)> {
        let (mut hit, miss): (Vec<_>, Vec<_>) = self
            .entries
            .iter()
            .map(|(e, hints)| (e, hints.iter().any(|h| h.is_match(id))))
            .partition(|(_, hinted)| *hinted);
        hit.extend(miss);
        hit
    }

    /// The first remote that holds `id`, with its document; else the remotes that could
    /// not answer and may own it: those hinted for `id`, or any when none is.
    async fn find(&self, id: &str) -> Found<'_> {
        let ordered = self.ordered(id);
        let any_hinted = ordered.iter().any(|(_, hinted)| *hinted);
        let mut unreachable = Vec::new();
        for (e, hinted) in ordered {
            if e.kind != "indexd" {
                continue;
            }
            match self.remote.fetch(&e.host, id).await {
                Ok(Some(doc)) => return Found::Held(e, doc),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(remote = %e.host, error = %err, "dist lookup failed");
                    if hinted || !any_hinted {
                        unreachable.push(e);
                    }
                }
            }
        }
        if unreachable.is_empty() {
            Found::Nowhere
        } else {
            Found::Unreachable(unreachable)
        }
    }

    /// The first remote document for `id`, tagged with `from_index_service` (remotes that
    /// fail count as not holding it, as in indexd).
    pub async fn resolve(&self, id: &str) -> Option<Value> {
        let Found::Held(e, mut doc) = self.find(id).await else {
            return None;
        };
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
    /// `Ok(None)` when no remote holds it and every one that may own it (hinted for `id`, or
    /// any when none is) answered; else an `Unavailable` error naming those that could not
    /// be asked (down, an HTTP error, an unreadable answer).
    pub async fn locate(&self, id: &str) -> Result<Option<String>, WeftError> {
        match self.find(id).await {
            Found::Held(e, _) => Ok(Some(commons_base(&e.host))),
            Found::Nowhere => Ok(None),
            Found::Unreachable(down) => {
                let names: Vec<&str> = down.iter().map(|e| e.name.as_str()).collect();
                Err(WeftError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "{id} is not held here and the commons that may own it could not be \
                         reached: {}",
                        names.join(", ")
                    ),
                ))
            }
        }
    }
}

/// What the remotes said about an id.
enum Found<'a> {
    /// This remote holds it: its document.
    Held(&'a DistEntry, Value),
    /// No remote holds it, and every one that may own it answered.
    Nowhere,
    /// No remote that answered holds it, and these, which may own it, could not answer.
    Unreachable(Vec<&'a DistEntry>),
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
            if host.contains("b") && id.starts_with("dg.B/") && !id.ends_with("/gone") {
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
        // the broken remote fails, so resolving ignores it and locating says so
        assert!(dist.resolve("dg.C/1").await.is_none());
        assert_eq!(
            dist.locate("dg.B/9").await.unwrap().as_deref(),
            Some("http://b/")
        );
        let down = dist.locate("dg.C/9").await.unwrap_err();
        assert_eq!(down.code, ErrorCode::Unavailable);
        assert_eq!(
            down.message,
            "dg.C/9 is not held here and the commons that may own it could not be reached: A"
        );
        // a hinted remote answered: the failure of one not hinted does not matter
        assert_eq!(dist.locate("dg.B/gone").await.unwrap(), None);
        let down = dist.locate("dg.A/1").await.unwrap_err();
        assert!(down.message.ends_with("could not be reached: A"), "{down}");
        let answered =
            Dist::new(&[entry("B", "http://b/index/", "dg\\.B/.*")], fake.clone()).unwrap();
        assert_eq!(answered.locate("dg.C/9").await.unwrap(), None);
        assert_eq!(commons_base("https://x.org/a/index"), "https://x.org/a/");
        assert!(Dist::new(&[entry("X", "h", "(")], fake).is_err());
    }
}
