//! Identifiers: GUIDs (optionally prefixed, `dg.1234/<uuid>`), base ids and revisions.

/// Whether `s` is a canonical hyphenated UUID (any case).
#[must_use]
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// indexd's rule for a client-supplied `did` or `baseid`: anything, then a canonical UUID.
#[must_use]
pub fn is_valid_guid(s: &str) -> bool {
    s.len() >= 36 && s.is_char_boundary(s.len() - 36) && is_uuid(&s[s.len() - 36..])
}

/// A fresh random UUID (v4), lower-case and hyphenated.
#[must_use]
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh GUID for a new record or bundle: a UUID of version 7, whose leading bits are the
/// creation time, so new records land at the end of the index B-trees instead of at random
/// pages (an order of magnitude less write amplification at a million records). It is a
/// canonical UUID like any other and matches indexd's GUID rule.
#[must_use]
pub fn new_guid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A fresh revision: eight lower-case hex characters, as indexd makes them.
#[must_use]
pub fn new_rev() -> String {
    let mut s = new_uuid();
    s.truncate(8);
    s
}

/// The other spelling of `id` under a GUID prefix: with the prefix stripped if it has it,
/// with the prefix prepended if it lacks it. `None` when no prefix is configured.
#[must_use]
pub fn alternate_prefixed(id: &str, prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return None;
    }
    Some(match id.strip_prefix(prefix) {
        Some(rest) => rest.to_owned(),
        None => format!("{prefix}{id}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_rules() {
        let u = "0f9a6c6e-2b41-4e4b-9f0c-1b0b5b7c1a2e";
        assert!(is_uuid(u));
        assert!(is_valid_guid(u));
        assert!(is_valid_guid(&format!("dg.1234/{u}")));
        assert!(is_valid_guid(&u.to_uppercase()));
        assert!(!is_valid_guid("not-a-guid"));
        assert!(!is_valid_guid(&format!("{u}x")));
        assert!(!is_valid_guid("0f9a6c6e-2b41-4e4b-9f0c-1b0b5b7c1a2"));
        assert!(!is_valid_guid("ééééééééééééééééééééééééééééééééééééé"));
    }

    #[test]
    fn fresh_ids_are_well_formed() {
        assert!(is_uuid(&new_uuid()));
        let (a, b) = (new_guid(), new_guid());
        assert!(
            is_valid_guid(&a) && a < b,
            "v7 GUIDs sort by creation: {a} {b}"
        );
        let rev = new_rev();
        assert_eq!(rev.len(), 8);
        assert!(rev.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn prefix_alternates() {
        assert_eq!(
            alternate_prefixed("dg.1/abc", "dg.1/").as_deref(),
            Some("abc")
        );
        assert_eq!(
            alternate_prefixed("abc", "dg.1/").as_deref(),
            Some("dg.1/abc")
        );
        assert_eq!(alternate_prefixed("abc", ""), None);
    }
}
