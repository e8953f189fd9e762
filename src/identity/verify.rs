//! Checking one access token: signature, algorithm, issuer, audience, lifetime.

use super::claims::{self, Identity};
use super::jwks::KeyCache;
use crate::settings::OAuthPolicy;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use std::str::FromStr;
use std::time::Duration;

/// Why a token was refused, in words for the `WWW-Authenticate` header's
/// `error_description` (RFC 6750: `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks access tokens under the operator's `[oauth]` policy.
#[derive(Debug)]
pub struct Verifier {
    policy: OAuthPolicy,
    algorithms: Vec<Algorithm>,
    keys: KeyCache,
}

impl Verifier {
    /// A verifier for `policy`, or what is missing from it.
    pub fn new(policy: &OAuthPolicy) -> Result<Verifier, String> {
        for (key, value) in [
            ("issuer", &policy.issuer),
            ("audience", &policy.audience),
            ("jwks_url", &policy.jwks_url),
        ] {
            if value.is_empty() {
                return Err(format!(
                    "oauth.{key} is not set: accepting tokens needs issuer, audience and jwks_url"
                ));
            }
        }
        let algorithms = policy
            .algorithms
            .iter()
            .map(|a| Algorithm::from_str(a).map_err(|_| format!("`{a}` is not a JWT algorithm")))
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            return Err("oauth.algorithms is empty: no token could be accepted".into());
        }
        Ok(Verifier {
            keys: KeyCache::new(
                &policy.jwks_url,
                Duration::from_secs(policy.jwks_refetch_seconds),
            )?,
            policy: policy.clone(),
            algorithms,
        })
    }

    /// The policy this verifier checks against.
    pub fn policy(&self) -> &OAuthPolicy {
        &self.policy
    }

    /// How many times the provider's keys were fetched.
    pub fn key_fetches(&self) -> u64 {
        self.keys.fetches()
    }

    /// Checks `token` and names who it speaks for.
    pub async fn verify(&self, token: &str) -> Result<Identity, Rejection> {
        let reject = |why: String| Rejection(why);
        // `decode_header` refuses `alg: none` (not an algorithm it knows).
        let header = decode_header(token)
            .map_err(|e| reject(format!("the token is not a signed JWT: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(reject(format!(
                "tokens signed with {:?} are not accepted (oauth.algorithms)",
                header.alg
            )));
        }
        let jwk = self.keys.key(header.kid.as_deref()).await.map_err(reject)?;
        check_key_fits(&jwk, header.alg).map_err(reject)?;
        let key = DecodingKey::from_jwk(&jwk)
            .map_err(|e| reject(format!("the provider's key cannot be used: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.policy.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_audience(&[&self.policy.audience]);
        let data = decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| reject(describe(e.kind())))?;
        claims::identity(&self.policy, &data.claims).map_err(reject)
    }
}

/// A key is used only for the algorithm family it is: an RSA key for RS/PS, an EC key
/// for ES, an OKP key for EdDSA, and for exactly the `alg` it declares, when it does.
/// This is what stops a token "signed" with HMAC over a public key.
fn check_key_fits(jwk: &Jwk, alg: Algorithm) -> Result<(), String> {
    use Algorithm::*;
    let family_ok = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        AlgorithmParameters::EllipticCurve(_) => matches!(alg, ES256 | ES384),
        AlgorithmParameters::OctetKeyPair(_) => matches!(alg, EdDSA),
        AlgorithmParameters::OctetKey(_) => false,
    };
    if !family_ok {
        return Err(format!(
            "the token says {alg:?}, which its key (`{}`) is not for",
            jwk.common.key_id.as_deref().unwrap_or("without id")
        ));
    }
    if let Some(declared) = &jwk.common.key_algorithm {
        // Both enums spell the signature algorithms alike (RS256, ES256, EdDSA, ...).
        let declared = format!("{declared:?}");
        if declared != format!("{alg:?}") {
            return Err(format!(
                "the token says {alg:?}, but its key is for {declared}"
            ));
        }
    }
    if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
        return Err("the token's key is published for encryption, not for signatures".into());
    }
    Ok(())
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "the token has expired".into(),
        K::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        K::InvalidAudience => {
            "the token is for another resource (aud does not name this server)".into()
        }
        K::InvalidIssuer => "the token was issued by another issuer".into(),
        K::InvalidSignature => "the token's signature does not verify".into(),
        K::MissingRequiredClaim(c) => format!("the token has no `{c}` claim"),
        K::InvalidAlgorithm => "the token's algorithm does not fit its key".into(),
        other => format!("the token is not valid: {other:?}"),
    }
}
