//! Secrets derived from the signing keys, for services that need a symmetric key every weft
//! instance on one database shares (signed local-storage URLs).
//!
//! A derived secret changes when a newer signing key is added, exactly as the token signing
//! key does; holders keep the secrets of every stored key to verify what older keys signed.

use sha2::{Digest, Sha256};
use weft_store::SigningKey;

/// A 32-byte secret for `purpose`, derived from a signing key: SHA-256 over a fixed label,
/// the purpose, and the key's private PEM. The PEM never leaves this crate; the secret
/// reveals nothing about it.
#[must_use]
pub fn derived_secret(key: &SigningKey, purpose: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"weft derived secret v1\0");
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(key.private_pem.as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pem: &str) -> SigningKey {
        SigningKey {
            kid: "k".into(),
            private_pem: pem.into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn stable_per_key_and_purpose() {
        let a = derived_secret(&key("pem-a"), "local-urls");
        assert_eq!(a, derived_secret(&key("pem-a"), "local-urls"));
        assert_ne!(a, derived_secret(&key("pem-b"), "local-urls"));
        assert_ne!(a, derived_secret(&key("pem-a"), "other"));
    }
}
