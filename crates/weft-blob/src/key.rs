//! Object keys of local storage, and how record URLs name them.
//!
//! A record URL `file:///<key>` names the object `<key>` under the local root (never a path
//! on the host: `file:///etc/passwd` is `<local_root>/etc/passwd`). The key is the URL's
//! path after `file:///`, percent-decoded. `file` is the DRS access-method type for such
//! URLs, so DRS objects stay valid against the DRS schema.

use crate::BlobError;

/// A key that cannot leave the local root: relative, `/`-separated, no empty, `.` or `..`
/// segment, no backslash, no control character (NUL included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Check a decoded key.
    pub fn parse(raw: &str) -> Result<Self, BlobError> {
        let bad = |why: &str| Err(BlobError::InvalidKey(format!("{why}: {raw:?}")));
        if raw.is_empty() {
            return bad("empty object key");
        }
        if raw.starts_with('/') {
            return bad("object keys are relative to the storage root");
        }
        if raw.contains('\\') {
            return bad("object keys use `/` as separator, not `\\`");
        }
        if raw.chars().any(char::is_control) {
            return bad("object keys hold no control characters");
        }
        for segment in raw.split('/') {
            match segment {
                "" => return bad("object keys have no empty segments"),
                "." | ".." => return bad("object keys have no `.` or `..` segments"),
                _ => {}
            }
        }
        // What object_store accepts, so a valid key never fails later on its rules.
        object_store::path::Path::parse(raw).map_err(|e| BlobError::InvalidKey(format!("{e}")))?;
        Ok(Self(raw.to_owned()))
    }

    /// The key of a `file:///<key>` record URL.
    pub fn from_file_url(url: &str) -> Result<Self, BlobError> {
        let Some(rest) = url.strip_prefix("file://") else {
            return Err(BlobError::InvalidKey(format!("not a file:// URL: {url:?}")));
        };
        let Some(path) = rest.strip_prefix('/') else {
            return Err(BlobError::InvalidKey(format!(
                "file URLs name no host (file:///<key>): {url:?}"
            )));
        };
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .map_err(|_| BlobError::InvalidKey(format!("key is not UTF-8: {url:?}")))?;
        Self::parse(&decoded)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The record URL naming this object.
    #[must_use]
    pub fn file_url(&self) -> String {
        format!("file:///{}", self.url_path())
    }

    /// The key with each segment percent-encoded, for URLs.
    #[must_use]
    pub fn url_path(&self) -> String {
        self.0
            .split('/')
            .map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    pub(crate) fn location(&self) -> object_store::path::Path {
        // Checked by `parse`, so this cannot fail; `from` would re-encode instead.
        object_store::path::Path::parse(&self.0).unwrap_or_else(|_| self.0.as_str().into())
    }
}

/// Everything but unreserved characters is encoded in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_keys() {
        for k in [
            "a",
            "a/b.txt",
            "dir/sub/file name.bam",
            "ü/x",
            "a..b",
            ".hidden",
        ] {
            assert_eq!(ObjectKey::parse(k).unwrap().as_str(), k);
        }
    }

    #[test]
    fn traversal_and_odd_keys_are_refused() {
        for k in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/./b",
            "..",
            "a//b",
            "a/",
            "a\\..\\b",
            "a\0b",
            "a\nb",
        ] {
            assert!(
                matches!(ObjectKey::parse(k), Err(BlobError::InvalidKey(_))),
                "{k:?}"
            );
        }
    }

    #[test]
    fn file_urls() {
        let k = ObjectKey::from_file_url("file:///dir/a%20b.txt").unwrap();
        assert_eq!(k.as_str(), "dir/a b.txt");
        assert_eq!(k.file_url(), "file:///dir/a%20b.txt");
        assert_eq!(k.url_path(), "dir/a%20b.txt");
        for bad in [
            "file://host/a",
            "file:////etc/passwd",
            "file:///a/%2e%2e/%2e%2e/b",
            "file:///..%2Fx",
            "file:///a%00b",
            "file:///%ff",
            "s3://b/k",
        ] {
            assert!(ObjectKey::from_file_url(bad).is_err(), "{bad}");
        }
    }
}
