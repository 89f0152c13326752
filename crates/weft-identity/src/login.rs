//! weft as an OpenID Connect client: logging people in through external providers (another
//! weft or fence, Keycloak, Google, ...) with the authorization-code flow, PKCE (S256), and
//! state and nonce checks, through the `openidconnect` crate.
//!
//! The flow's state lives in the browser, in a cookie weft signs (the `cookie` crate's signed
//! jar: HMAC-SHA256 of the value, with a key derived from the token signing
//! keys), so any weft instance on the same database can
//! finish a login another started, and nothing is stored for logins never finished.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::Utc;
use cookie::{Cookie, CookieJar, Key};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;
use weft_config::OidcProviderConfig;

/// The cookie that carries a login from start to callback.
pub const LOGIN_COOKIE: &str = "weft_login";

/// Seconds a login may take from start to callback.
const LOGIN_TTL: i64 = 600;

/// Why a login failed. `Upstream` and `Config` are the provider's or the operator's
/// fault (502/500); the rest are the caller's (400/401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    UnknownProvider(String),
    /// The callback does not belong to a login this browser started, or it expired.
    BadState(String),
    /// The provider refused or its answer did not verify.
    Denied(String),
    Upstream(String),
    Config(String),
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownProvider(p) => write!(f, "no login provider `{p}` is configured"),
            Self::BadState(m) => write!(f, "login state check failed: {m}"),
            Self::Denied(m) => write!(f, "login refused: {m}"),
            Self::Upstream(m) => write!(f, "the identity provider failed: {m}"),
            Self::Config(m) => write!(f, "login misconfigured: {m}"),
        }
    }
}

impl std::error::Error for LoginError {}

/// The signed cookie that carries a login from start to callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LoginState {
    idp: String,
    state: String,
    nonce: String,
    verifier: String,
    /// Where to send the browser once logged in.
    after: Option<String>,
    exp: i64,
}

/// A login under way: send the browser to `url` with `cookie` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginStart {
    pub url: String,
    pub cookie: String,
}

/// Who logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    pub username: String,
    pub email: Option<String>,
    pub idp: String,
    pub after: Option<String>,
}

/// A provider as `/user/login` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
}

/// The configured external providers of one weft.
pub struct Login {
    providers: BTreeMap<String, OidcProviderConfig>,
    /// Discovered metadata (with the provider's keys) per provider.
    metadata: RwLock<BTreeMap<String, CoreProviderMetadata>>,
    http: openidconnect::reqwest::Client,
    /// `<base URL>/user`: callbacks are `<this>/login/<idp>/login`.
    fence_base: String,
}

impl Login {
    pub fn new(
        providers: BTreeMap<String, OidcProviderConfig>,
        fence_base: String,
    ) -> Result<Self, LoginError> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            // Following redirects would expose the client to SSRF (openidconnect's advice).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| LoginError::Config(e.to_string()))?;
        Ok(Self {
            providers,
            metadata: RwLock::new(BTreeMap::new()),
            http,
            fence_base,
        })
    }

    #[must_use]
    pub fn providers(&self) -> Vec<ProviderInfo> {
        self.providers
            .iter()
            .map(|(id, p)| ProviderInfo {
                id: id.clone(),
                name: p.display_name.clone().unwrap_or_else(|| id.clone()),
            })
            .collect()
    }

    #[must_use]
    pub fn has(&self, idp: &str) -> bool {
        self.providers.contains_key(idp)
    }

    /// The redirect URI registered at the provider for `idp`.
    #[must_use]
    pub fn callback_url(&self, idp: &str) -> String {
        format!("{}/login/{idp}/login", self.fence_base)
    }

    fn provider(&self, idp: &str) -> Result<&OidcProviderConfig, LoginError> {
        self.providers
            .get(idp)
            .ok_or_else(|| LoginError::UnknownProvider(idp.to_owned()))
    }

    async fn discover(&self, idp: &str, fresh: bool) -> Result<CoreProviderMetadata, LoginError> {
        if !fresh && let Some(m) = self.metadata.read().await.get(idp) {
            return Ok(m.clone());
        }
        let p = self.provider(idp)?;
        let issuer = IssuerUrl::new(p.issuer.clone())
            .map_err(|e| LoginError::Config(format!("issuer {}: {e}", p.issuer)))?;
        let m = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| LoginError::Upstream(format!("discovery at {}: {e}", p.issuer)))?;
        self.metadata
            .write()
            .await
            .insert(idp.to_owned(), m.clone());
        Ok(m)
    }

    fn client(
        &self,
        idp: &str,
        metadata: CoreProviderMetadata,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        LoginError,
    > {
        let p = self.provider(idp)?;
        let redirect = RedirectUrl::new(self.callback_url(idp))
            .map_err(|e| LoginError::Config(format!("callback URL: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(p.client_id.clone()),
            p.client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_owned())),
        )
        .set_redirect_uri(redirect))
    }

    /// Start a login at `idp`: the provider URL to send the browser to, and the signed
    /// state cookie to set. `after` is where to go once logged in (already checked).
    pub async fn start(
        &self,
        idp: &str,
        after: Option<String>,
        key: &[u8; 32],
    ) -> Result<LoginStart, LoginError> {
        let p = self.provider(idp)?;
        let client = self.client(idp, self.discover(idp, false).await?)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in p.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        let cookie = seal(
            &LoginState {
                idp: idp.to_owned(),
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                after,
                exp: Utc::now().timestamp() + LOGIN_TTL,
            },
            key,
        );
        Ok(LoginStart {
            url: url.to_string(),
            cookie,
        })
    }

    /// Finish a login at the callback: check the state against the cookie (verified with
    /// any of `keys`), redeem the code with the PKCE verifier, verify the ID token
    /// (signature, issuer, audience, expiry, nonce) and read the user name from it.
    pub async fn finish(
        &self,
        idp: &str,
        code: &str,
        state: &str,
        cookie: Option<&str>,
        keys: &[[u8; 32]],
    ) -> Result<LoggedIn, LoginError> {
        let p = self.provider(idp)?;
        let cookie =
            cookie.ok_or_else(|| LoginError::BadState("no login under way here".into()))?;
        let st = open(cookie, keys)?;
        if st.idp != idp {
            return Err(LoginError::BadState(format!(
                "the login was started at `{}`, not `{idp}`",
                st.idp
            )));
        }
        if st.exp <= Utc::now().timestamp() {
            return Err(LoginError::BadState("the login took too long".into()));
        }
        {
            use subtle::ConstantTimeEq as _;
            if !bool::from(st.state.as_bytes().ct_eq(state.as_bytes())) {
                return Err(LoginError::BadState("`state` does not match".into()));
            }
        }
        let client = self.client(idp, self.discover(idp, false).await?)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| LoginError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(st.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| LoginError::Denied(format!("redeeming the code: {}", describe(&e))))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::Denied("the provider sent no ID token".into()))?;
        let nonce = Nonce::new(st.nonce.clone());
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            Err(first) => {
                // Perhaps the provider rotated its keys since discovery: look again, once.
                let client = self.client(idp, self.discover(idp, true).await?)?;
                id_token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|_| LoginError::Denied(format!("the ID token: {first}")))?
                    .clone()
            }
        };
        let email = claims.email().map(|e| e.as_str().to_owned());
        let username = match p.username_claim.as_str() {
            "email" => email.clone(),
            "sub" => Some(claims.subject().as_str().to_owned()),
            "preferred_username" => claims.preferred_username().map(|u| u.as_str().to_owned()),
            other => {
                return Err(LoginError::Config(format!(
                    "username_claim `{other}`: use email, sub or preferred_username"
                )));
            }
        }
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            LoginError::Denied(format!(
                "the ID token has no `{}` claim to name the user",
                p.username_claim
            ))
        })?;
        Ok(LoggedIn {
            username,
            email,
            idp: idp.to_owned(),
            after: st.after,
        })
    }
}

fn describe<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// The value of the signed [`LOGIN_COOKIE`] carrying `state` (base64url JSON, signed).
fn seal(state: &LoginState, key: &[u8; 32]) -> String {
    let body = b64().encode(serde_json::to_vec(state).unwrap_or_default());
    let mut jar = CookieJar::new();
    jar.signed_mut(&Key::derive_from(key))
        .add(Cookie::new(LOGIN_COOKIE, body));
    jar.get(LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

/// The login state of a [`LOGIN_COOKIE`] value, if one of `keys` signed it.
fn open(cookie: &str, keys: &[[u8; 32]]) -> Result<LoginState, LoginError> {
    let bad = |m: &str| LoginError::BadState(m.to_owned());
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new(LOGIN_COOKIE, cookie.to_owned()));
    let verified = keys
        .iter()
        .find_map(|k| jar.signed(&Key::derive_from(k)).get(LOGIN_COOKIE))
        .ok_or_else(|| bad("the login cookie's signature does not verify"))?;
    let json = b64()
        .decode(verified.value())
        .map_err(|_| bad("malformed login cookie"))?;
    serde_json::from_slice(&json).map_err(|_| bad("malformed login cookie"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LoginState {
        LoginState {
            idp: "b".into(),
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            after: Some("/user/user".into()),
            exp: 9_999_999_999,
        }
    }

    #[test]
    fn sealed_state_opens_with_its_key_only() {
        let sealed = seal(&state(), &[1; 32]);
        assert_eq!(open(&sealed, &[[2; 32], [1; 32]]).unwrap(), state());
        assert!(matches!(
            open(&sealed, &[[2; 32]]),
            Err(LoginError::BadState(_))
        ));
        // A changed body under the old signature fails (the signed jar's value is the
        // base64 MAC, 44 characters, then the body).
        let (sig, _) = sealed.split_at(44);
        let mut other = state();
        other.after = Some("https://evil.example/".into());
        let forged = format!("{sig}{}", b64().encode(serde_json::to_vec(&other).unwrap()));
        assert!(matches!(
            open(&forged, &[[1; 32]]),
            Err(LoginError::BadState(_))
        ));
        // The cookie value is plain cookie octets.
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b",;\\\"".contains(&b))
        );
        assert!(open("garbage", &[[1; 32]]).is_err());
    }
}
