//! Request extractors: credentials, raw JSON bodies with JSON errors, query pairs.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use weft_auth::Credentials;
use weft_core::{ErrorCode, WeftError};
use weft_indexd::query::Params;

use crate::error::ApiError;

/// The caller's credentials from the Authorization header. Never rejects: absent or
/// unreadable credentials are `Credentials::None`, which authorization then denies.
pub struct Creds(pub Credentials);

impl<S: Send + Sync> FromRequestParts<S> for Creds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(Self(Credentials::None));
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        let creds = if scheme.eq_ignore_ascii_case("basic") {
            parts
                .headers
                .get(AUTHORIZATION)
                .and_then(basic)
                .map_or(Credentials::None, |(username, password)| {
                    Credentials::Basic { username, password }
                })
        } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Credentials::Bearer(rest.to_owned())
        } else {
            Credentials::None
        };
        Ok(Self(creds))
    }
}

/// The user name and password of an `Authorization: Basic` value (parsed by `headers`:
/// base64, UTF-8, split at the first `:`); `None` if it is not one or is malformed.
pub(crate) fn basic(value: &axum::http::HeaderValue) -> Option<(String, String)> {
    use headers::Header as _;
    use headers::authorization::{Authorization, Basic};
    let auth = Authorization::<Basic>::decode(&mut std::iter::once(value)).ok()?;
    Some((auth.username().to_owned(), auth.password().to_owned()))
}

/// The bearer token of the Authorization header (any case of `Bearer`), if there is one.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// The raw request body; an over-limit body is a JSON 413, an unreadable one a JSON 400.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Self(b)),
            Err(e) if e.status().as_u16() == 413 => Err(WeftError::new(
                ErrorCode::PayloadTooLarge,
                "request body is larger than the configured limit (max_body_bytes)",
            )
            .into()),
            Err(e) => Err(WeftError::invalid(format!("cannot read request body: {e}")).into()),
        }
    }
}

/// Query-string pairs in order, repeats kept (`hash=...&hash=...`).
pub struct Query(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(q)?;
        Ok(Self(Params(pairs)))
    }
}

pub(crate) fn serde_urlencoded_pairs(q: &str) -> Result<Vec<(String, String)>, ApiError> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{q}")
            .parse()
            .map_err(|_| WeftError::invalid("malformed query string"))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| WeftError::invalid(format!("malformed query string: {e}")).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &str) -> Option<(String, String)> {
        basic(&axum::http::HeaderValue::from_str(v).unwrap())
    }

    #[test]
    fn basic_credentials() {
        let pair = |u: &str, p: &str| Some((u.to_owned(), p.to_owned()));
        // admin:secret, any case of the scheme, extra spaces before the value
        assert_eq!(b("Basic YWRtaW46c2VjcmV0"), pair("admin", "secret"));
        assert_eq!(b("basic YWRtaW46c2VjcmV0"), pair("admin", "secret"));
        assert_eq!(b("BASIC   YWRtaW46c2VjcmV0"), pair("admin", "secret"));
        // split at the first colon: "a:b:c" is a / b:c; an empty password is one
        assert_eq!(b("Basic YTpiOmM="), pair("a", "b:c"));
        assert_eq!(b("Basic YTo="), pair("a", ""));
        // malformed: not base64, no colon ("abc"), not UTF-8 (0xff 0x3a), no value, another
        // scheme
        for bad in [
            "Basic !!!not-base64",
            "Basic YWJj",
            "Basic /zo=",
            "Basic",
            "Basic ",
            "Bearer YWRtaW46c2VjcmV0",
            "Basically YWRtaW46c2VjcmV0",
        ] {
            assert_eq!(b(bad), None, "{bad:?}");
        }
    }
}
