//! The workspace token service: tokens for other commons of the mesh, from refresh tokens
//! this weft holds per user and identity provider.
//!
//! A user connects a commons once (`oauth2/authorization_url?idp=`): this weft, an OAuth2
//! client of that commons' fence (or weft), sends the browser there, and the callback
//! (`oauth2/authorize`) trades the code for a refresh token, stored per user and provider.
//! From then on `token/?idp=` answers an access token of that commons, refreshed as needed,
//! so a workspace here (the hub or any commons) can pull from every connected commons.
//! The default provider (`idp` absent, `default` or `local`) is this weft itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use weft_core::{ErrorCode, WeftError};
use weft_identity::Tokens;
use weft_store::{ExternalTokenRow, WorkspaceStore};

/// How long a connect request may take from the redirect to the callback.
const STATE_TTL_SECS: i64 = 600;

/// Seconds an access token for this weft (the default provider) lives.
const OWN_TOKEN_SECS: i64 = 1200;

/// Another commons this weft can hold tokens for.
#[derive(Debug, Clone)]
pub struct Provider {
    pub idp: String,
    pub name: String,
    /// Its base URL, without a trailing slash.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub scopes: Vec<String>,
    pub refresh_days: u64,
}

/// What the signed `state` of a connect request carries.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    user: String,
    idp: String,
    redirect: String,
    exp: i64,
    nonce: String,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// The token service.
pub struct TokenService {
    providers: BTreeMap<String, Provider>,
    store: Arc<dyn WorkspaceStore>,
    tokens: Arc<Tokens>,
    /// This weft's base URL (the callback is `<base>/wts/oauth2/authorize`).
    base_url: String,
    http: reqwest::Client,
    /// Access tokens got from a refresh, by (user, idp), until shortly before they expire.
    cache: Mutex<HashMap<(String, String), (String, i64)>>,
}

/// How a refresh token is kept: sealed with AES-256-GCM under a key derived from this
/// weft's signing keys (`wts-refresh`), as `v1:` + base64url(nonce ‖ ciphertext), so a copy
/// of the database alone yields no token.
mod sealed {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    use ring::rand::{SecureRandom as _, SystemRandom};

    const PREFIX: &str = "v1:";

    fn key(secret: &[u8; 32]) -> Option<LessSafeKey> {
        UnboundKey::new(&AES_256_GCM, secret)
            .ok()
            .map(LessSafeKey::new)
    }

    /// Seal `plain` with the newest key.
    pub(super) fn seal(secret: &[u8; 32], plain: &str) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let mut buf = plain.as_bytes().to_vec();
        key(secret)?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend(buf);
        Some(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Open a sealed token with whichever key sealed it.
    pub(super) fn open(secrets: &[[u8; 32]], stored: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(stored.strip_prefix(PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        secrets.iter().find_map(|s| {
            let mut buf = sealed.to_vec();
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            let plain = key(s)?.open_in_place(nonce, Aad::empty(), &mut buf).ok()?;
            String::from_utf8(plain.to_vec()).ok()
        })
    }
}

fn bad(msg: impl Into<String>) -> WeftError {
    WeftError::new(ErrorCode::InvalidInput, msg)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Whether `idp` names this weft itself.
#[must_use]
pub fn is_own(idp: Option<&str>) -> bool {
    matches!(idp, None | Some("" | "default" | "local"))
}

impl TokenService {
    #[must_use]
    pub fn new(
        providers: Vec<Provider>,
        store: Arc<dyn WorkspaceStore>,
        tokens: Arc<Tokens>,
        base_url: &str,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            providers: providers.into_iter().map(|p| (p.idp.clone(), p)).collect(),
            store,
            tokens,
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn callback_url(&self) -> String {
        format!("{}/wts/oauth2/authorize", self.base_url)
    }

    fn provider(&self, idp: &str) -> Result<&Provider, WeftError> {
        self.providers
            .get(idp)
            .ok_or_else(|| bad(format!("unknown identity provider {idp:?}")))
    }

    /// `external_oidc`: the providers, each with when the user's refresh token expires
    /// (`user` known) and the URL that connects it. With `unexpired`, only those the user
    /// holds a live refresh token for.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn external_oidc(
        &self,
        user: Option<&str>,
        unexpired: bool,
    ) -> Result<Value, WeftError> {
        let held: HashMap<String, i64> = match user {
            Some(u) => self
                .store
                .external_tokens(u)
                .await?
                .into_iter()
                .map(|t| (t.idp, t.expires))
                .collect(),
            None => HashMap::new(),
        };
        let t = now();
        let providers: Vec<Value> = self
            .providers
            .values()
            .filter_map(|p| {
                let exp = held.get(&p.idp).copied().filter(|e| *e > t);
                if unexpired && exp.is_none() {
                    return None;
                }
                Some(json!({
                    "base_url": p.base_url,
                    "idp": p.idp,
                    "name": p.name,
                    "refresh_token_expiration": exp,
                    "urls": [{
                        "name": p.name,
                        "url": format!(
                            "{}/wts/oauth2/authorization_url?idp={}",
                            self.base_url, p.idp
                        ),
                    }],
                }))
            })
            .collect();
        Ok(json!({"providers": providers}))
    }

    async fn state_key(&self) -> Result<[u8; 32], WeftError> {
        self.tokens
            .derived_secrets("wts-state")
            .await
            .map_err(WeftError::from)?
            .into_iter()
            .next()
            .ok_or_else(|| WeftError::internal("no signing key"))
    }

    fn sign(key: &[u8; 32], payload: &str) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The provider's authorization URL for the user, with a signed state that brings
    /// them back to `redirect` (a path on this weft) after the callback.
    ///
    /// # Errors
    /// 400 for an unknown provider or a redirect off this weft.
    pub async fn authorization_url(
        &self,
        user: &str,
        idp: &str,
        redirect: Option<&str>,
    ) -> Result<String, WeftError> {
        let p = self.provider(idp)?;
        let redirect = redirect.unwrap_or("/identity");
        if !redirect.starts_with('/') || redirect.starts_with("//") {
            return Err(bad("redirect must be a path on this commons"));
        }
        let state = State {
            user: user.to_owned(),
            idp: idp.to_owned(),
            redirect: redirect.to_owned(),
            exp: now() + STATE_TTL_SECS,
            nonce: weft_identity::oauth::random_string(16),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&state).unwrap_or_default());
        let sig = Self::sign(&self.state_key().await?, &payload);
        let mut url = url::Url::parse(&format!("{}/user/oauth2/authorize", p.base_url))
            .map_err(|e| bad(format!("provider {idp}: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.client_id)
            .append_pair("redirect_uri", &self.callback_url())
            .append_pair("scope", &p.scopes.join(" "))
            .append_pair("state", &format!("{payload}.{sig}"));
        Ok(url.into())
    }

    /// The callback: check the state, trade the code for tokens at the provider, keep the
    /// refresh token. Returns where to send the browser.
    ///
    /// # Errors
    /// 400 for a bad or expired state, 401 when `caller` is not the state's user (or no
    /// one), 503
    /// when the provider refuses the code.
    pub async fn callback(
        &self,
        caller: Option<&str>,
        code: &str,
        state: &str,
    ) -> Result<String, WeftError> {
        let (payload, sig) = state
            .split_once('.')
            .ok_or_else(|| bad("the state is not one this commons issued"))?;
        let keys = self
            .tokens
            .derived_secrets("wts-state")
            .await
            .map_err(WeftError::from)?;
        let valid = keys.iter().any(|k| {
            let mut mac = <Hmac<Sha256>>::new_from_slice(k).unwrap_or_else(|_| unreachable!());
            mac.update(payload.as_bytes());
            URL_SAFE_NO_PAD
                .decode(sig)
                .is_ok_and(|s| mac.verify_slice(&s).is_ok())
        });
        if !valid {
            return Err(bad("the state is not one this commons issued"));
        }
        let st: State = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("the state is not one this commons issued"))?;
        if st.exp < now() {
            return Err(bad("the connect request expired: start again"));
        }
        // the browser that finishes the flow must be the one of the user who started it:
        // else another user's code could be linked to this account
        if caller != Some(st.user.as_str()) {
            return Err(WeftError::new(
                ErrorCode::Unauthenticated,
                "log in as the user who started this connect request, then start it again",
            ));
        }
        let p = self.provider(&st.idp)?;
        let resp = self
            .grant(
                p,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &self.callback_url()),
                ],
            )
            .await?;
        let refresh = resp.refresh_token.ok_or_else(|| {
            WeftError::new(
                ErrorCode::Unavailable,
                format!("{} gave no refresh token", p.name),
            )
        })?;
        let days = i64::try_from(p.refresh_days).unwrap_or(30);
        self.store
            .put_external_token(ExternalTokenRow {
                user: st.user.clone(),
                idp: st.idp.clone(),
                refresh_token: self.seal(&refresh).await?,
                expires: now() + days * 86_400,
            })
            .await?;
        self.remember(&st.user, &st.idp, resp.access_token, resp.expires_in);
        Ok(st.redirect)
    }

    async fn grant(&self, p: &Provider, form: &[(&str, &str)]) -> Result<TokenResponse, WeftError> {
        let resp = self
            .http
            .post(format!("{}/user/oauth2/token", p.base_url))
            .basic_auth(&p.client_id, Some(&p.client_secret))
            .form(form)
            .send()
            .await
            .map_err(|e| {
                WeftError::new(
                    ErrorCode::Unavailable,
                    format!("{} could not be reached: {e}", p.name),
                )
            })?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            return Err(WeftError::new(
                ErrorCode::Unavailable,
                format!(
                    "{} refused the token request ({status}): {}",
                    p.name,
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ),
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            WeftError::new(
                ErrorCode::Unavailable,
                format!("{} answered no token: {e}", p.name),
            )
        })
    }

    async fn seal(&self, refresh: &str) -> Result<String, WeftError> {
        let secrets = self
            .tokens
            .derived_secrets("wts-refresh")
            .await
            .map_err(WeftError::from)?;
        secrets
            .first()
            .and_then(|k| sealed::seal(k, refresh))
            .ok_or_else(|| WeftError::internal("sealing a refresh token failed"))
    }

    fn remember(&self, user: &str, idp: &str, token: String, expires_in: Option<i64>) {
        let until = now() + expires_in.unwrap_or(600) - 60;
        if let Ok(mut c) = self.cache.lock() {
            c.insert((user.to_owned(), idp.to_owned()), (token, until));
        }
    }

    /// An access token for `user` at `idp` (this weft's own for the default provider).
    ///
    /// # Errors
    /// 400 for an unknown provider or one the user never connected (or whose refresh
    /// token expired); 503 when the provider refuses the refresh.
    pub async fn token(&self, user: &str, idp: Option<&str>) -> Result<String, WeftError> {
        if is_own(idp) {
            let scopes: Vec<String> = ["openid", "user", "data", "fence"]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            return self
                .tokens
                .issue_access(user, &scopes, OWN_TOKEN_SECS)
                .map_err(WeftError::internal);
        }
        let idp = idp.unwrap_or_default();
        let p = self.provider(idp)?;
        if let Ok(c) = self.cache.lock()
            && let Some((t, until)) = c.get(&(user.to_owned(), idp.to_owned()))
            && *until > now()
        {
            return Ok(t.clone());
        }
        let held = self
            .store
            .external_tokens(user)
            .await?
            .into_iter()
            .find(|t| t.idp == idp && t.expires > now())
            .ok_or_else(|| {
                bad(format!(
                    "no refresh token for {idp:?}: connect {} on your profile page first",
                    p.name
                ))
            })?;
        let secrets = self
            .tokens
            .derived_secrets("wts-refresh")
            .await
            .map_err(WeftError::from)?;
        let refresh = sealed::open(&secrets, &held.refresh_token).ok_or_else(|| {
            bad(format!(
                "the token held for {idp:?} can no longer be read: connect {} again",
                p.name
            ))
        })?;
        let resp = self
            .grant(
                p,
                &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            )
            .await?;
        if let Some(new) = resp.refresh_token.filter(|r| *r != refresh) {
            self.store
                .put_external_token(ExternalTokenRow {
                    refresh_token: self.seal(&new).await?,
                    ..held
                })
                .await?;
        }
        self.remember(user, idp, resp.access_token.clone(), resp.expires_in);
        Ok(resp.access_token)
    }

    /// Whether the user holds a live refresh token for `idp` (WTS's `oauth2/connected`).
    ///
    /// # Errors
    /// 400 for an unknown provider.
    pub async fn connected(&self, user: &str, idp: &str) -> Result<bool, WeftError> {
        self.provider(idp)?;
        Ok(self
            .store
            .external_tokens(user)
            .await?
            .iter()
            .any(|t| t.idp == idp && t.expires > now()))
    }

    /// Forget the user's token for `idp`.
    ///
    /// # Errors
    /// 404 when none is held.
    pub async fn disconnect(&self, user: &str, idp: &str) -> Result<(), WeftError> {
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&(user.to_owned(), idp.to_owned()));
        }
        if self.store.delete_external_token(user, idp).await? {
            Ok(())
        } else {
            Err(WeftError::new(
                ErrorCode::NotFound,
                format!("no token held for {idp:?}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::sealed;

    #[test]
    fn refresh_tokens_are_sealed_and_open_with_any_current_key() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let s = sealed::seal(&old, "refresh-me").unwrap();
        assert!(s.starts_with("v1:") && !s.contains("refresh-me"));
        assert_ne!(
            s,
            sealed::seal(&old, "refresh-me").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(sealed::open(&[new, old], &s).unwrap(), "refresh-me");
        assert_eq!(
            sealed::open(&[new], &s),
            None,
            "a key it was not sealed with"
        );
        assert_eq!(sealed::open(&[old], "refresh-me"), None, "not sealed");
        let mut tampered = s;
        tampered.push('A');
        assert_eq!(sealed::open(&[old], &tampered), None);
    }
}
