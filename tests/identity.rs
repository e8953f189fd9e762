//! airun as an OAuth resource server: JWT access tokens checked against a real JWKS
//! endpoint on loopback, with keys this test makes (RSA and P-256, by `openssl`): a good
//! token names its user and role; expired, wrong-audience, wrong-issuer, `alg: none`,
//! HS/RS confusion, a key used for the wrong algorithm and unknown keys are refused;
//! rotated keys are fetched again, at most once per interval.

mod support;

use airun::identity::Verifier;
use airun::settings::{OAuthPolicy, RoleRule};
use airun::users::Role;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::jwt::{Rsa, ec, have_openssl, jwks_server, now, rsa, sign, unsigned};

const ISSUER: &str = "https://idp.test/";
const AUDIENCE: &str = "http://127.0.0.1:8765/mcp";

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "email": "ann@example.com",
        "groups": ["devs"], "exp": now() + 600, "iat": now()});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn policy(jwks_url: &str) -> OAuthPolicy {
    OAuthPolicy {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        jwks_url: jwks_url.into(),
        name_claim: "email".into(),
        roles: vec![
            RoleRule {
                claim: "groups".into(),
                value: "devs".into(),
                role: "agent".into(),
            },
            RoleRule {
                claim: "groups".into(),
                value: "ops".into(),
                role: "admin".into(),
            },
        ],
        jwks_refetch_seconds: 1,
        ..OAuthPolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_against_the_providers_keys() {
    if !support::ci::require("openssl", have_openssl()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let k1 = rsa(dir.path(), "k1");
    let (es, es_jwk) = ec(dir.path(), "e1");
    let keys = Arc::new(Mutex::new(json!({"keys": [k1.jwk, es_jwk]})));
    let url = jwks_server(keys.clone()).await;
    let v = Verifier::new(&policy(&url)).unwrap();

    // Good tokens, RSA and EC: the user and the highest role the rules give.
    let id = v
        .verify(&sign(
            Algorithm::RS256,
            "k1",
            &k1.signing,
            &claims(json!({})),
        ))
        .await
        .unwrap();
    assert_eq!(
        (id.name.as_str(), id.subject.as_str(), id.role),
        ("ann@example.com", "u-1", Role::Agent)
    );
    let ops = claims(json!({"groups": ["devs", "ops"]}));
    let id = v
        .verify(&sign(Algorithm::ES256, "e1", &es, &ops))
        .await
        .unwrap();
    assert_eq!(id.role, Role::Admin);
    assert_eq!(v.key_fetches(), 1, "the keys are fetched once and kept");

    // Each refusal says why.
    let refused = |token: String, why: &'static str| {
        let v = &v;
        async move {
            let e = v.verify(&token).await.expect_err(why);
            assert!(e.0.contains(why), "expected `{why}`, got `{e}`");
        }
    };
    let rs = |c: Value| sign(Algorithm::RS256, "k1", &k1.signing, &c);
    refused(rs(claims(json!({"exp": now() - 3600}))), "expired").await;
    refused(rs(claims(json!({"nbf": now() + 3600}))), "not valid yet").await;
    refused(
        rs(claims(json!({"aud": "https://other.example/mcp"}))),
        "another resource",
    )
    .await;
    refused(
        rs(claims(json!({"iss": "https://evil.example/"}))),
        "another issuer",
    )
    .await;
    refused(rs(claims(json!({"exp": null}))), "no `exp` claim").await;
    refused(
        rs(claims(json!({"groups": ["guests"]}))),
        "no [[oauth.roles]] rule",
    )
    .await;

    // alg: none, with or without a signature part.
    refused(unsigned(&claims(json!({}))), "not a signed JWT").await;

    // HS/RS confusion: HMAC with the RSA public key as the secret, naming the RSA key.
    let hs = sign(
        Algorithm::HS256,
        "k1",
        &EncodingKey::from_secret(&k1.public_pem),
        &claims(json!({})),
    );
    refused(hs, "not accepted").await;
    // A key used for an algorithm it is not for: RS256 naming the EC key.
    refused(
        sign(Algorithm::RS256, "e1", &k1.signing, &claims(json!({}))),
        "is not for",
    )
    .await;
    // A signature by a key the provider does not publish under that id.
    let stranger = rsa(dir.path(), "k9");
    refused(
        sign(
            Algorithm::RS256,
            "k1",
            &stranger.signing,
            &claims(json!({})),
        ),
        "does not verify",
    )
    .await;

    // Rotation: the provider replaces k1 by k2; a k2 token makes airun fetch again.
    let k2 = rsa(dir.path(), "k2");
    *keys.lock().unwrap() = json!({"keys": [k2.jwk]});
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let id = v
        .verify(&sign(
            Algorithm::RS256,
            "k2",
            &k2.signing,
            &claims(json!({})),
        ))
        .await
        .unwrap();
    assert_eq!(id.name, "ann@example.com");
    assert_eq!(v.key_fetches(), 2);
    // k1 is still cached from before, but tokens of unknown keys cannot hammer the
    // provider: a flood of unknown ids makes at most one more fetch per interval.
    for n in 0..20 {
        refused(rs_kid(&stranger, &format!("x{n}")), "does not publish").await;
    }
    assert!(v.key_fetches() <= 3, "{} fetches", v.key_fetches());
}

fn rs_kid(key: &Rsa, kid: &str) -> String {
    sign(Algorithm::RS256, kid, &key.signing, &claims(json!({})))
}

#[test]
fn a_policy_without_issuer_audience_or_keys_is_refused() {
    let mut p = policy("http://127.0.0.1:9/jwks.json");
    p.audience.clear();
    let e = Verifier::new(&p).unwrap_err();
    assert!(e.contains("oauth.audience"), "{e}");
    let text = "[oauth]\nalgorithms = [\"HS256\"]\n";
    let e = airun::policy::parse(text, Path::new("policy.toml")).unwrap_err();
    assert!(e.message.contains("HS256"), "{}", e.message);
    let text = "[oauth]\ndefault_role = \"root\"\n";
    let e = airun::policy::parse(text, Path::new("policy.toml")).unwrap_err();
    assert!(e.message.contains("not a role"), "{}", e.message);
}
