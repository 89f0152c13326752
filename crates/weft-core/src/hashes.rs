//! Checksum types indexd accepts, and their value formats.

/// The hash types indexd knows, in the order it lists them.
pub const KNOWN_HASH_TYPES: [&str; 6] = ["md5", "sha1", "sha256", "sha512", "crc", "etag"];

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `value` is a well-formed checksum of type `kind`. Unknown types return `None`.
#[must_use]
pub fn is_valid_hash(kind: &str, value: &str) -> Option<bool> {
    Some(match kind {
        "md5" => is_lower_hex(value, 32),
        "sha1" => is_lower_hex(value, 40),
        "sha256" => is_lower_hex(value, 64),
        "sha512" => is_lower_hex(value, 128),
        "crc" => is_lower_hex(value, 8),
        "etag" => match value.split_once('-') {
            None => is_lower_hex(value, 32),
            Some((h, n)) => {
                is_lower_hex(h, 32) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            }
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let md5 = "0123456789abcdef0123456789abcdef";
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("md5", md5, Some(true)),
            ("md5", "0123456789ABCDEF0123456789abcdef", Some(false)),
            ("md5", "abc", Some(false)),
            ("sha1", &"a".repeat(40), Some(true)),
            ("sha256", &"0".repeat(64), Some(true)),
            ("sha256", &"0".repeat(63), Some(false)),
            ("sha512", &"f".repeat(128), Some(true)),
            ("crc", "deadbeef", Some(true)),
            ("crc", "deadbeefa", Some(false)),
            ("etag", md5, Some(true)),
            ("etag", &format!("{md5}-12"), Some(true)),
            ("etag", &format!("{md5}-"), Some(false)),
            ("etag", &format!("{md5}-x"), Some(false)),
            ("blake3", md5, None),
        ];
        for (kind, value, want) in cases {
            assert_eq!(is_valid_hash(kind, value), *want, "{kind}:{value}");
        }
    }
}
