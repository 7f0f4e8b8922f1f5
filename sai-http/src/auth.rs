//! JWT verification: the token the PowerSync service accepts, checked the same way here.
//!
//! A [`JwtVerifier`] holds the keys, by one of two sources:
//! - [`JwtVerifier::hs256`]: a shared secret (HS256), as PowerSync's development setups use;
//! - [`JwtVerifier::jwks`]: a JWKS URL (your auth provider's `/.well-known/jwks.json`),
//!   fetched over HTTP and cached; a token's key is selected by its header's `kid`, and only
//!   EdDSA (Ed25519) and RS256 keys are used. An unknown `kid` refetches the set (at most
//!   once per [`JwksOptions::min_refetch`]), so a rotated key is picked up without a restart.
//!
//! Every token must carry `exp` (checked, with [`JwtVerifier::with_leeway`] seconds of
//! clock skew), `aud` (one of the verifier's audiences) and a non-empty `sub`: the user the
//! request acts for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Why a request is not authenticated. Every kind but
/// [`KeysUnavailable`](AuthError::KeysUnavailable) is the token's fault (401);
/// that one is the key server's (503: retry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer …` header.
    #[error("no bearer token in the Authorization header")]
    MissingToken,
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// The token's `aud` is not an audience of this backend.
    #[error("the token is for another audience")]
    WrongAudience,
    /// The signature does not verify with the key the token names.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The token's header names no key (`kid`), or a key the JWKS does not hold.
    #[error("no key for the token: {0}")]
    UnknownKey(String),
    /// The token's algorithm is not the one its key is for (or not EdDSA/RS256/HS256).
    #[error("the token's algorithm is not accepted")]
    WrongAlgorithm,
    /// The token has no `sub`, or an empty one.
    #[error("the token names no user (`sub`)")]
    NoSubject,
    /// The token is not a well-formed JWT, or a required claim is missing or mistyped.
    #[error("the token is malformed: {0}")]
    Malformed(#[source] jsonwebtoken::errors::Error),
    /// The JWKS could not be fetched or read: not the token's fault.
    #[error("the JWKS at {url} is unavailable: {reason}")]
    KeysUnavailable {
        /// The JWKS URL.
        url: String,
        /// What failed.
        reason: String,
    },
}

impl AuthError {
    /// Whether the request may succeed as it is, later (the key server failed).
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::KeysUnavailable { .. })
    }
}

impl From<jsonwebtoken::errors::Error> for AuthError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::InvalidAlgorithm => AuthError::WrongAlgorithm,
            _ => AuthError::Malformed(e),
        }
    }
}

/// An HS256 secret must not be empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the HS256 secret is empty")]
pub struct EmptySecret;

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// Checks bearer tokens and says whose they are. Cheap to share behind an `Arc`.
pub struct JwtVerifier {
    keys: Keys,
    audiences: Vec<String>,
    leeway_secs: u64,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.keys {
            Keys::Secret(_) => "HS256 secret".to_owned(),
            Keys::Jwks(j) => format!("JWKS {}", j.url),
        };
        f.debug_struct("JwtVerifier")
            .field("keys", &source)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

enum Keys {
    Secret(DecodingKey),
    Jwks(Jwks),
}

/// How a JWKS is cached.
#[derive(Clone, Copy, Debug)]
pub struct JwksOptions {
    /// A fetched set is used this long, then fetched again.
    pub max_age: Duration,
    /// An unknown `kid` refetches the set only if the last fetch is at least this old (so
    /// tokens with made-up key ids cannot hammer the key server).
    pub min_refetch: Duration,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            max_age: Duration::from_secs(300),
            min_refetch: Duration::from_secs(10),
        }
    }
}

struct Jwks {
    url: String,
    http: reqwest::Client,
    options: JwksOptions,
    cache: tokio::sync::Mutex<Cached>,
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched_at: Option<Instant>,
}

/// Whether to fetch the key set before looking up a key: pure policy, `now` given.
fn should_fetch(
    fetched_at: Option<Instant>,
    now: Instant,
    kid_known: bool,
    options: JwksOptions,
) -> bool {
    let Some(at) = fetched_at else { return true };
    let age = now.saturating_duration_since(at);
    age >= options.max_age || (!kid_known && age >= options.min_refetch)
}

impl JwtVerifier {
    /// Verifies HS256 tokens signed with `secret`, for `audience`. An empty secret is
    /// refused.
    pub fn hs256(secret: &[u8], audience: impl Into<String>) -> Result<Self, EmptySecret> {
        Ok(JwtVerifier {
            keys: Keys::Secret(DecodingKey::from_secret(secret).map_err(|_| EmptySecret)?),
            audiences: vec![audience.into()],
            leeway_secs: 30,
        })
    }

    /// Verifies EdDSA and RS256 tokens with the keys of the JWKS at `url`, for `audience`.
    /// Nothing is fetched until the first token arrives.
    pub fn jwks(url: impl Into<String>, audience: impl Into<String>) -> Self {
        Self::jwks_with(url, audience, JwksOptions::default())
    }

    /// [`jwks`](Self::jwks) with other caching options.
    pub fn jwks_with(
        url: impl Into<String>,
        audience: impl Into<String>,
        options: JwksOptions,
    ) -> Self {
        JwtVerifier {
            keys: Keys::Jwks(Jwks {
                url: url.into(),
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
                options,
                cache: tokio::sync::Mutex::new(Cached::default()),
            }),
            audiences: vec![audience.into()],
            leeway_secs: 30,
        }
    }

    /// Accepts another audience too.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Allows `secs` seconds of clock skew on `exp` (default 30).
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }

    /// Verifies `token` and returns its user (`sub`).
    pub async fn verify(&self, token: &str) -> Result<String, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(AuthError::Malformed)?;
        let (key, algorithm) = match &self.keys {
            Keys::Secret(key) => (key.clone(), Algorithm::HS256),
            Keys::Jwks(jwks) => {
                let kid = header.kid.as_deref().ok_or_else(|| {
                    AuthError::UnknownKey("the token's header has no `kid`".into())
                })?;
                jwks.key(kid).await?
            }
        };
        if header.alg != algorithm {
            return Err(AuthError::WrongAlgorithm);
        }
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "aud", "sub"]);
        validation.leeway = self.leeway_secs;
        // A token not valid yet is refused as an expired one is.
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)?;
        if data.claims.sub.is_empty() {
            return Err(AuthError::NoSubject);
        }
        Ok(data.claims.sub)
    }
}

impl Jwks {
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        let mut cache = self.cache.lock().await;
        let known = cache.keys.contains_key(kid);
        if should_fetch(cache.fetched_at, Instant::now(), known, self.options) {
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at = Some(Instant::now());
                }
                // A stale set still verifies the keys it holds while the key server is down.
                Err(e) if !known => return Err(e),
                Err(e) => tracing::warn!(error = %e, "JWKS refresh failed; using the cached set"),
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| AuthError::UnknownKey(format!("no key `{kid}` in the JWKS")))
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, AuthError> {
        let unavailable = |reason: String| AuthError::KeysUnavailable {
            url: self.url.clone(),
            reason,
        };
        let response = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable(e.to_string()))?;
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| unavailable(format!("not a JWKS: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            // Only EdDSA and RS256 keys; anything else in the set is skipped, not an error
            // (a provider may publish keys for other uses).
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::OctetKeyPair(p), None | Some(KeyAlgorithm::EdDSA))
                    if p.curve == EllipticCurve::Ed25519 =>
                {
                    Algorithm::EdDSA
                }
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                _ => continue,
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (key, algorithm));
                }
                Err(e) => tracing::warn!(kid = %kid, error = %e, "JWKS key does not read; skipped"),
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_set_is_fetched_when_missing_old_or_lacking_a_recent_enough_kid() {
        let options = JwksOptions {
            max_age: Duration::from_secs(300),
            min_refetch: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert!(should_fetch(None, t0, false, options));
        assert!(!should_fetch(Some(t0), at(5), true, options));
        // An unknown kid right after a fetch does not refetch…
        assert!(!should_fetch(Some(t0), at(5), false, options));
        // …but does once `min_refetch` has passed.
        assert!(should_fetch(Some(t0), at(10), false, options));
        assert!(!should_fetch(Some(t0), at(299), true, options));
        assert!(should_fetch(Some(t0), at(300), true, options));
    }
}
