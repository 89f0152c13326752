//! Signing keys, access tokens and their verification.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use base64::Engine as _;
use chrono::Utc;
use dashmap::DashMap;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::RsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts as _;
use serde::{Deserialize, Serialize};
use weft_store::{IdentityStore, SigningKey, StoreError};

/// How many verified tokens are remembered at most (a token and its claims take about
/// 1.5 KB, so at most ~15 MB).
const VERIFIED_MAX: usize = 10_000;

/// The audience every weft token carries, as fence's do.
pub const GEN3_AUDIENCE: &str = "gen3";

/// How far in the future a token's `nbf` or `iat` may lie (clocks of the issuing and the
/// verifying server differ a little), in seconds. `exp` has no leeway.
pub const CLOCK_LEEWAY_SECS: i64 = 60;

/// At most one reload of the signing keys from the store per this interval when a token
/// names a key this weft does not hold; in between such a token is refused without
/// touching the store (else any request with a made-up `kid` is a database read).
pub const KEY_RELOAD_EVERY: Duration = Duration::from_secs(10);

/// Why a token was not accepted. Every variant is a 401 for the caller; the messages say
/// what is wrong in words, never the JWT library's parser messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT (three base64url parts with JSON header and claims), or claims missing.
    Malformed,
    /// Signed with an algorithm other than RS256 (`alg: none` included).
    Algorithm(String),
    /// The header names no `kid`, or one this weft does not hold.
    UnknownKey,
    /// The signature is not the one the key makes over these header and claims.
    BadSignature,
    Expired,
    /// `nbf` or `iat` lies in the future (beyond [`CLOCK_LEEWAY_SECS`]).
    NotYetValid,
    /// `iss` is another server's.
    WrongIssuer(String),
    /// `aud` names neither `gen3` nor this issuer.
    WrongAudience,
    MissingScope(String),
    WrongPurpose(String),
    /// An API key that was revoked (or never stored).
    Revoked,
    /// An access token may not outlive the API key it comes from.
    OutlivesKey,
    /// Anything else (no signing key, a store failure while checking an API key).
    Invalid(String),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed => f.write_str("token is not a well-formed JWT"),
            Self::Algorithm(a) => {
                write!(f, "token algorithm {a} is not accepted; tokens are RS256")
            }
            Self::UnknownKey => f.write_str("unknown signing key"),
            Self::BadSignature => f.write_str("token signature does not verify"),
            Self::Expired => f.write_str("token expired"),
            Self::NotYetValid => f.write_str("token is not valid yet"),
            Self::WrongIssuer(iss) => write!(f, "token issuer {iss} is not this server"),
            Self::WrongAudience => f.write_str("token audience is not this server"),
            Self::MissingScope(s) => write!(f, "token lacks scope {s}"),
            Self::WrongPurpose(p) => write!(f, "token purpose `{p}` is not accepted here"),
            Self::Revoked => f.write_str("the API key was revoked"),
            Self::OutlivesKey => f.write_str(
                "Cannot issue an access token that would expire after the provided API key does",
            ),
            Self::Invalid(m) => write!(f, "invalid token: {m}"),
        }
    }
}

impl std::error::Error for TokenError {}

impl From<TokenError> for weft_core::WeftError {
    fn from(e: TokenError) -> Self {
        Self::unauthenticated(e.to_string())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    pub name: String,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserClaims>,
}

/// fence's access-token claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub aud: Vec<String>,
    pub iat: i64,
    /// Not before: optional (fence's tokens carry none), checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub exp: i64,
    pub jti: String,
    pub scope: Vec<String>,
    pub pur: String,
    #[serde(default)]
    pub azp: String,
    #[serde(default)]
    pub context: ContextClaims,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `context.user.name`, if the token speaks for a user.
    pub user: Option<String>,
    /// `azp`, if the token was issued to an OAuth client.
    pub client: Option<String>,
    pub claims: Claims,
}

struct KeySet {
    /// The newest key: it signs.
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    /// Every key's public half, newest first, for JWKS and fence's `/jwt/keys`.
    public: Vec<PublicKey>,
}

/// A verification key as weft publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub kid: String,
    /// SubjectPublicKeyInfo PEM.
    pub pem: String,
    /// RSA modulus and exponent, base64url without padding (RFC 7518).
    pub n: String,
    pub e: String,
}

fn key_set(keys: &[SigningKey]) -> Result<KeySet, StoreError> {
    let mut verifying = HashMap::new();
    let mut signing = None;
    let mut public = Vec::new();
    for k in keys {
        let private = RsaPrivateKey::from_pkcs8_pem(&k.private_pem).map_err(|e| {
            StoreError::Backend(format!("signing key {} is unreadable: {e}", k.kid))
        })?;
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let dec = DecodingKey::from_rsa_pem(public_pem.as_bytes())
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        verifying.insert(k.kid.clone(), dec);
        let public_key = private.to_public_key();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        public.push(PublicKey {
            kid: k.kid.clone(),
            pem: public_pem.clone(),
            n: b64(&public_key.n().to_bytes_be()),
            e: b64(&public_key.e().to_bytes_be()),
        });
        if signing.is_none() {
            let enc = EncodingKey::from_rsa_pem(k.private_pem.as_bytes())
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            signing = Some((k.kid.clone(), enc));
        }
    }
    Ok(KeySet {
        signing,
        verifying,
        public,
    })
}

/// Issues and verifies tokens for one weft (one issuer).
pub struct Tokens {
    store: Arc<dyn IdentityStore>,
    /// Tokens whose signature checked out, until they expire.
    verified: DashMap<Box<str>, Identity, foldhash::fast::RandomState>,
    keys: ArcSwap<KeySet>,
    issuer: String,
    /// Held while keys are reloaded; holds when they last were (see [`KEY_RELOAD_EVERY`]).
    reload: tokio::sync::Mutex<Instant>,
    reload_every: Duration,
    /// How many times the signing keys were read from the store.
    key_reads: AtomicU64,
}

impl Tokens {
    /// Load the keys, generating the first one if there is none. `issuer` is the public
    /// base URL with `/user`, as fence's `BASE_URL`.
    pub async fn open(
        store: Arc<dyn IdentityStore>,
        issuer: String,
    ) -> Result<Arc<Self>, StoreError> {
        Self::open_with_reload_interval(store, issuer, KEY_RELOAD_EVERY).await
    }

    /// [`Tokens::open`] with another interval between reloads for unknown `kid`s (tests).
    pub async fn open_with_reload_interval(
        store: Arc<dyn IdentityStore>,
        issuer: String,
        reload_every: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let mut keys = store.signing_keys().await?;
        if keys.is_empty() {
            let key = tokio::task::spawn_blocking(generate_key)
                .await
                .map_err(|e| StoreError::Backend(e.to_string()))??;
            match store.add_signing_key(key).await {
                Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
            keys = store.signing_keys().await?;
        }
        Ok(Arc::new(Self {
            verified: DashMap::default(),
            keys: ArcSwap::from_pointee(key_set(&keys)?),
            store,
            issuer,
            reload: tokio::sync::Mutex::new(Instant::now()),
            reload_every,
            key_reads: AtomicU64::new(1),
        }))
    }

    /// How many times the signing keys were read from the store (opening counts one).
    #[must_use]
    pub fn key_reads(&self) -> u64 {
        self.key_reads.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Key rotation: generate a new signing key and make it the one that signs. Older keys
    /// stay and keep verifying what they signed (remove them from the database once their
    /// tokens and API keys have expired). Other instances pick the new key up when they
    /// meet its `kid`. Returns the new `kid`.
    pub async fn rotate(&self) -> Result<String, StoreError> {
        let key = tokio::task::spawn_blocking(generate_key)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))??;
        let kid = key.kid.clone();
        self.store.add_signing_key(key).await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    /// Symmetric secrets for `purpose` derived from every stored signing key, newest (the
    /// one to sign with) first: see [`crate::secret`].
    pub async fn derived_secrets(&self, purpose: &str) -> Result<Vec<[u8; 32]>, StoreError> {
        Ok(self
            .store
            .signing_keys()
            .await?
            .iter()
            .map(|k| crate::secret::derived_secret(k, purpose))
            .collect())
    }

    /// Every verification key, newest (the signing key) first.
    #[must_use]
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.load().public.clone()
    }

    /// An API key (`pur: api_key`) for `user`, stored so it can be listed and revoked.
    /// Returns `(jwt, jti)`.
    pub async fn issue_api_key(
        &self,
        user: &str,
        scopes: &[String],
        expires_in: i64,
    ) -> Result<(String, String), TokenError> {
        let claims = self.claims(Some(user), None, scopes, expires_in, "api_key");
        let jti = claims.jti.clone();
        let jwt = self.sign(&claims)?;
        self.store
            .add_api_key(weft_store::ApiKey {
                jti: jti.clone(),
                username: user.to_owned(),
                expires_at: claims.exp,
                revoked: false,
            })
            .await
            .map_err(|e| TokenError::Invalid(format!("storing the API key: {e}")))?;
        Ok((jwt, jti))
    }

    /// A user's live API keys.
    pub async fn api_keys(&self, user: &str) -> Result<Vec<weft_store::ApiKey>, StoreError> {
        self.store.api_keys(user, Utc::now().timestamp()).await
    }

    /// Revoke one of a user's API keys; false if they have no such key. No key id holds a
    /// NUL character (PostgreSQL refuses one in text): false for such an id, on every
    /// backend.
    pub async fn revoke_api_key(&self, user: &str, jti: &str) -> Result<bool, StoreError> {
        if jti.contains('\0') {
            return Ok(false);
        }
        self.store.revoke_api_key(user, jti).await
    }

    /// Verify an API key: signature, issuer, audience, expiry, purpose `api_key`, the `fence`
    /// scope, and that it is stored and not revoked.
    pub async fn verify_api_key(&self, api_key: &str) -> Result<Claims, TokenError> {
        let claims = self.verify_claims(api_key).await?;
        if claims.pur != "api_key" {
            return Err(TokenError::WrongPurpose(claims.pur));
        }
        if !claims.scope.iter().any(|s| s == "fence") {
            return Err(TokenError::MissingScope("fence".into()));
        }
        match self.store.api_key(&claims.jti).await {
            Ok(Some(k)) if !k.revoked => Ok(claims),
            Ok(_) => Err(TokenError::Revoked),
            Err(e) => Err(TokenError::Invalid(format!("looking up the API key: {e}"))),
        }
    }

    /// fence's exchange: an access token for the API key's user and scopes, living at most
    /// `expires_in` seconds and never past the API key.
    pub async fn exchange_api_key(
        &self,
        api_key: &str,
        expires_in: i64,
    ) -> Result<String, TokenError> {
        let claims = self.verify_api_key(api_key).await?;
        let user = claims
            .context
            .user
            .as_ref()
            .map(|u| u.name.clone())
            .or(claims.sub.clone())
            .ok_or_else(|| TokenError::Invalid("the API key names no user".into()))?;
        let now = Utc::now().timestamp();
        if now + expires_in > claims.exp {
            return Err(TokenError::OutlivesKey);
        }
        self.issue_access(&user, &claims.scope, expires_in)
    }

    /// An access token for `user` with `scopes`, valid for `expires_in` seconds.
    pub fn issue_access(
        &self,
        user: &str,
        scopes: &[String],
        expires_in: i64,
    ) -> Result<String, TokenError> {
        let claims = self.claims(Some(user), None, scopes, expires_in, "access");
        self.sign(&claims)
    }

    /// fence's claims for a token with purpose `pur`: for `user` (`sub`, `context.user`)
    /// and/or issued to OAuth `client` (`azp`, and the client in `aud`).
    #[must_use]
    pub fn claims(
        &self,
        user: Option<&str>,
        client: Option<&str>,
        scopes: &[String],
        expires_in: i64,
        pur: &str,
    ) -> Claims {
        let now = Utc::now().timestamp();
        let mut aud = vec![GEN3_AUDIENCE.to_owned(), self.issuer.clone()];
        aud.extend(client.map(str::to_owned));
        Claims {
            iss: self.issuer.clone(),
            sub: user.map(str::to_owned),
            aud,
            iat: now,
            nbf: None,
            exp: now + expires_in,
            jti: uuid::Uuid::new_v4().to_string(),
            scope: scopes.to_vec(),
            pur: pur.to_owned(),
            azp: client.unwrap_or_default().to_owned(),
            context: ContextClaims {
                user: user.map(|u| UserClaims {
                    name: u.to_owned(),
                    is_admin: false,
                }),
            },
        }
    }

    /// Sign arbitrary claims with the newest key.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        self.sign_value(claims)
    }

    /// Sign any serializable claim set (ID tokens have their own) with the newest key.
    pub fn sign_value<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let keys = self.keys.load();
        let Some((kid, key)) = &keys.signing else {
            return Err(TokenError::Invalid("no signing key".into()));
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.clone());
        jsonwebtoken::encode(&header, claims, key).map_err(|e| TokenError::Invalid(e.to_string()))
    }

    async fn reload_keys(&self) -> Result<(), StoreError> {
        let mut last = self.reload.lock().await;
        self.read_keys(&mut last).await
    }

    async fn read_keys(&self, last: &mut Instant) -> Result<(), StoreError> {
        *last = Instant::now();
        self.key_reads.fetch_add(1, Ordering::Relaxed);
        let keys = self.store.signing_keys().await?;
        self.keys.store(Arc::new(key_set(&keys)?));
        Ok(())
    }

    /// The verification key `kid`; a kid not held reloads the keys from the store (perhaps
    /// another weft sharing the database rotated them), at most once per `reload_every`.
    async fn verifying_key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        if let Some(k) = self.keys.load().verifying.get(kid) {
            return Ok(k.clone());
        }
        let mut last = self.reload.lock().await;
        // Another request may have reloaded while this one waited.
        if let Some(k) = self.keys.load().verifying.get(kid) {
            return Ok(k.clone());
        }
        if last.elapsed() < self.reload_every {
            return Err(TokenError::UnknownKey);
        }
        if let Err(e) = self.read_keys(&mut last).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        drop(last);
        self.keys
            .load()
            .verifying
            .get(kid)
            .cloned()
            .ok_or(TokenError::UnknownKey)
    }

    /// Verify an access token: RS256 signature by a known key, issuer, audience, expiry,
    /// `nbf`/`iat`, purpose `access`, and every scope in `required`.
    pub async fn verify(&self, token: &str, required: &[&str]) -> Result<Identity, TokenError> {
        self.verify_for(token, "access", required).await
    }

    /// Verify a token of purpose `purpose` (`access` for API calls) carrying every scope in
    /// `required`. Services call this through `weft_auth`, which makes a principal of it.
    ///
    /// A token that verified once is remembered until it expires (access tokens cannot be
    /// revoked, as in fence), so a client reusing its token pays for the RSA check once;
    /// expiry, purpose and scopes are checked again on every use.
    pub async fn verify_for(
        &self,
        token: &str,
        purpose: &str,
        required: &[&str],
    ) -> Result<Identity, TokenError> {
        let now = Utc::now().timestamp();
        let id = match self.verified.get(token) {
            Some(id) if id.claims.exp > now => id.clone(),
            Some(_) => return Err(TokenError::Expired),
            None => {
                let id = self.verify_signature(token).await?;
                if self.verified.len() >= VERIFIED_MAX {
                    self.verified.retain(|_, v| v.claims.exp > now);
                    if self.verified.len() >= VERIFIED_MAX {
                        self.verified.clear();
                    }
                }
                self.verified.insert(token.into(), id.clone());
                id
            }
        };
        if id.claims.pur != purpose {
            return Err(TokenError::WrongPurpose(id.claims.pur));
        }
        for s in required {
            if !id.claims.scope.iter().any(|c| c == s) {
                return Err(TokenError::MissingScope((*s).to_owned()));
            }
        }
        Ok(id)
    }

    async fn verify_signature(&self, token: &str) -> Result<Identity, TokenError> {
        let claims = self.verify_claims(token).await?;
        Ok(Identity {
            user: claims.context.user.as_ref().map(|u| u.name.clone()),
            client: Some(claims.azp.clone()).filter(|a| !a.is_empty()),
            claims,
        })
    }

    /// Signature by a known key, expiry, issuer, audience, and `nbf`/`iat` not in the future
    /// (within [`CLOCK_LEEWAY_SECS`]); any purpose. Callers check the purpose (and, for API
    /// keys and refresh tokens, revocation).
    pub async fn verify_claims(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.verifying_key(&kid).await?;
        let mut v = Validation::new(Algorithm::RS256);
        // Issuer, nbf and iat are checked below, once the signature is known good, to
        // say which one is wrong.
        v.set_audience(&[GEN3_AUDIENCE, &self.issuer]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        v.validate_nbf = false;
        v.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    TokenError::Algorithm(format!("{:?}", header.alg))
                }
                _ => TokenError::Malformed,
            })?
            .claims;
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer(claims.iss));
        }
        let latest = Utc::now().timestamp().saturating_add(CLOCK_LEEWAY_SECS);
        if claims.iat > latest || claims.nbf.is_some_and(|nbf| nbf > latest) {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }
}

/// A fresh 2048-bit RSA key with a kid of its creation time and a random suffix.
pub fn generate_key() -> Result<SigningKey, StoreError> {
    let mut rng = rsa::rand_core::OsRng;
    let private =
        RsaPrivateKey::new(&mut rng, 2048).map_err(|e| StoreError::Backend(e.to_string()))?;
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let now = Utc::now();
    Ok(SigningKey {
        kid: format!(
            "weft-{}-{}",
            now.format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
        private_pem: pem.to_string(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn tokens() -> (tempfile::TempDir, Arc<Tokens>) {
        let dir = tempfile::tempdir().unwrap();
        let store = weft_store_sqlite::SqliteStore::open(&dir.path().join("t.db"), 2).unwrap();
        let t = Tokens::open(Arc::new(store), "http://weft.test/user".into())
            .await
            .unwrap();
        (dir, t)
    }

    #[tokio::test]
    async fn issued_tokens_verify_and_carry_the_user() {
        let (_d, t) = tokens().await;
        let tok = t
            .issue_access("Alice@x.org", &["openid".into(), "user".into()], 60)
            .unwrap();
        let id = t.verify(&tok, &["openid"]).await.unwrap();
        assert_eq!(id.user.as_deref(), Some("Alice@x.org"));
        assert_eq!(id.client, None);
        assert_eq!(id.claims.iss, "http://weft.test/user");
        assert_eq!(
            t.verify(&tok, &["data"]).await.unwrap_err(),
            TokenError::MissingScope("data".into())
        );
    }

    #[tokio::test]
    async fn api_keys_exchange_within_their_lifetime_until_revoked() {
        let (_d, t) = tokens().await;
        let scopes = vec!["openid".to_owned(), "fence".to_owned(), "data".to_owned()];
        let (key, jti) = t.issue_api_key("kim", &scopes, 100).await.unwrap();
        let access = t.exchange_api_key(&key, 50).await.unwrap();
        let id = t.verify(&access, &["data"]).await.unwrap();
        assert_eq!(id.user.as_deref(), Some("kim"));
        assert_eq!(id.claims.scope, scopes);
        assert_eq!(
            t.exchange_api_key(&key, 3600).await.unwrap_err(),
            TokenError::OutlivesKey
        );
        // An API key is not an access token, nor the other way round.
        assert!(matches!(
            t.verify(&key, &[]).await,
            Err(TokenError::WrongPurpose(_))
        ));
        assert!(matches!(
            t.exchange_api_key(&access, 10).await,
            Err(TokenError::WrongPurpose(_))
        ));
        assert!(t.revoke_api_key("kim", &jti).await.unwrap());
        assert_eq!(
            t.exchange_api_key(&key, 10).await.unwrap_err(),
            TokenError::Revoked
        );
        // Without the fence scope a key is refused.
        let (weak, _) = t
            .issue_api_key("kim", &["openid".to_owned()], 100)
            .await
            .unwrap();
        assert_eq!(
            t.exchange_api_key(&weak, 10).await.unwrap_err(),
            TokenError::MissingScope("fence".into())
        );
    }

    #[tokio::test]
    async fn remembered_tokens_still_expire_and_need_their_scopes() {
        let (_d, t) = tokens().await;
        // Two seconds: `exp` is whole seconds, so a one-second token issued late in a
        // second may expire a moment later.
        let tok = t.issue_access("a", &["openid".into()], 2).unwrap();
        assert!(t.verify(&tok, &["openid"]).await.is_ok());
        // From the cache now: scopes still checked.
        assert_eq!(
            t.verify(&tok, &["data"]).await.unwrap_err(),
            TokenError::MissingScope("data".into())
        );
        tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
        assert_eq!(t.verify(&tok, &[]).await.unwrap_err(), TokenError::Expired);
    }

    #[tokio::test]
    async fn rotated_keys_sign_new_tokens_and_old_ones_still_verify() {
        let (_d, t) = tokens().await;
        let old = t.issue_access("a", &["openid".into()], 60).unwrap();
        let old_kid = jsonwebtoken::decode_header(&old).unwrap().kid.unwrap();
        let kid = t.rotate().await.unwrap();
        assert_ne!(kid, old_kid);
        let new = t.issue_access("a", &["openid".into()], 60).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&new).unwrap().kid,
            Some(kid.clone())
        );
        assert!(t.verify(&old, &[]).await.is_ok());
        assert!(t.verify(&new, &[]).await.is_ok());
        let kids: Vec<String> = t.public_keys().into_iter().map(|k| k.kid).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0], kid, "the signing key is listed first");
    }

    #[tokio::test]
    async fn wrong_audience_or_issuer_fails() {
        let (_d, t) = tokens().await;
        let mut claims = t.claims(Some("a"), None, &["openid".into()], 60, "access");
        claims.aud = vec!["another-service".into()];
        let wrong_aud = t.sign(&claims).unwrap();
        assert_eq!(
            t.verify(&wrong_aud, &[]).await.unwrap_err(),
            TokenError::WrongAudience
        );
        let mut claims = t.claims(Some("a"), None, &["openid".into()], 60, "access");
        claims.iss = "http://another.commons/user".into();
        let wrong_iss = t.sign(&claims).unwrap();
        let e = t.verify(&wrong_iss, &[]).await.unwrap_err();
        assert_eq!(
            e,
            TokenError::WrongIssuer("http://another.commons/user".into())
        );
        assert_eq!(
            e.to_string(),
            "token issuer http://another.commons/user is not this server"
        );
    }

    #[tokio::test]
    async fn expired_forged_and_unsigned_tokens_fail() {
        let (_d, t) = tokens().await;
        let old = t.issue_access("a", &["openid".into()], -5).unwrap();
        assert_eq!(t.verify(&old, &[]).await.unwrap_err(), TokenError::Expired);

        // Same claims, signature of another key.
        let (_d2, other) = tokens().await;
        let forged = other.issue_access("a", &["openid".into()], 60).unwrap();
        assert_eq!(
            t.verify(&forged, &[]).await.unwrap_err(),
            TokenError::UnknownKey
        );

        // alg none: header and claims without a signature.
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let good = t.issue_access("a", &["openid".into()], 60).unwrap();
        let claims = good.split('.').nth(1).unwrap();
        let none = format!("{}.{claims}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
        assert!(t.verify(&none, &[]).await.is_err());
        assert_eq!(
            t.verify("not.a.jwt", &[]).await.unwrap_err().to_string(),
            "token is not a well-formed JWT"
        );

        // Tampered claims under a valid signature.
        let mut parts: Vec<&str> = good.split('.').collect();
        let evil = b64(&String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap()
        .replace("\"name\":\"a\"", "\"name\":\"admin\""));
        parts[1] = &evil;
        let e = t.verify(&parts.join("."), &[]).await.unwrap_err();
        assert_eq!(e, TokenError::BadSignature);
        assert_eq!(e.to_string(), "token signature does not verify");
    }

    #[tokio::test]
    async fn tokens_from_the_future_are_refused_within_a_leeway() {
        let (_d, t) = tokens().await;
        let now = Utc::now().timestamp();
        let signed = |iat: i64, nbf: Option<i64>| {
            let mut c = t.claims(Some("a"), None, &["openid".into()], 600, "access");
            c.iat = iat;
            c.nbf = nbf;
            t.sign(&c).unwrap()
        };
        let e = t
            .verify(&signed(now, Some(now + 300)), &[])
            .await
            .unwrap_err();
        assert_eq!(e, TokenError::NotYetValid);
        assert_eq!(e.to_string(), "token is not valid yet");
        assert_eq!(
            t.verify(&signed(now + 300, None), &[]).await.unwrap_err(),
            TokenError::NotYetValid
        );
        // A clock a little ahead is tolerated.
        let ahead = now + CLOCK_LEEWAY_SECS - 10;
        assert!(t.verify(&signed(ahead, Some(ahead)), &[]).await.is_ok());
        assert!(t.verify(&signed(now - 5, Some(now - 5)), &[]).await.is_ok());
    }

    #[tokio::test]
    async fn unknown_kids_reload_the_keys_at_most_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn IdentityStore> =
            Arc::new(weft_store_sqlite::SqliteStore::open(&dir.path().join("t.db"), 2).unwrap());
        let every = Duration::from_secs(1);
        let iss = "http://weft.test/user".to_owned();
        let t = Tokens::open_with_reload_interval(Arc::clone(&store), iss.clone(), every)
            .await
            .unwrap();
        assert_eq!(t.key_reads(), 1);
        // The key another instance will rotate to (generated now: it takes a while).
        let rotated = generate_key().unwrap();
        tokio::time::sleep(every).await;
        // A made-up kid, over and over, concurrently: one store read at most.
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let good = t.issue_access("a", &["openid".into()], 60).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","typ":"JWT","kid":"made-up"}"#),
            parts[1],
            parts[2]
        );
        let tries: Vec<_> = (0..200)
            .map(|_| {
                let t = Arc::clone(&t);
                let forged = forged.clone();
                tokio::spawn(async move { t.verify(&forged, &[]).await })
            })
            .collect();
        for r in tries {
            assert_eq!(r.await.unwrap().unwrap_err(), TokenError::UnknownKey);
        }
        assert_eq!(t.key_reads(), 2, "one reload for 200 unknown kids");
        // Another instance on the same database rotates now (as `weft keys rotate`),
        // within the interval: its tokens wait for the next reload.
        store.add_signing_key(rotated).await.unwrap();
        let other = Tokens::open_with_reload_interval(Arc::clone(&store), iss, every)
            .await
            .unwrap();
        let new = other.issue_access("a", &["openid".into()], 60).unwrap();
        assert_eq!(
            t.verify(&new, &[]).await.unwrap_err(),
            TokenError::UnknownKey
        );
        assert_eq!(t.key_reads(), 2);
        tokio::time::sleep(every).await;
        let id = t.verify(&new, &["openid"]).await.unwrap();
        assert_eq!(id.user.as_deref(), Some("a"));
        assert_eq!(t.key_reads(), 3);
        // Known now: no further reads.
        let again = other.issue_access("b", &["openid".into()], 60).unwrap();
        t.verify(&again, &[]).await.unwrap();
        assert_eq!(t.key_reads(), 3);
    }
}
