//! An identity provider made by the test: RSA and P-256 keys (by `openssl`), their JWKS
//! served on loopback, and tokens signed with them.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// True when `openssl` runs here (the keys are made with it).
pub fn have_openssl() -> bool {
    Command::new("openssl").arg("version").output().is_ok()
}

/// Runs `openssl ARGS` and returns its standard output.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An RSA key: its signing key, its JWK (as `kid`) and its public key in PEM.
pub struct Rsa {
    /// Signs tokens.
    pub signing: EncodingKey,
    /// The public key as the provider publishes it.
    pub jwk: Value,
    /// The public key in PEM (the secret of an HS/RS confusion attempt).
    pub public_pem: Vec<u8>,
}

/// A new RSA key named `kid`, its files under `dir`.
pub fn rsa(dir: &Path, kid: &str) -> Rsa {
    let pem = dir.join(format!("{kid}.pem"));
    let pem = pem.to_str().unwrap();
    openssl(&["genrsa", "-out", pem, "2048"]);
    let der = openssl(&["rsa", "-in", pem, "-outform", "DER", "-traditional"]);
    let modulus = String::from_utf8(openssl(&["rsa", "-in", pem, "-noout", "-modulus"])).unwrap();
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    Rsa {
        signing: EncodingKey::from_rsa_der(&der),
        jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": B64.encode(n), "e": "AQAB"}),
        public_pem: openssl(&["rsa", "-in", pem, "-pubout"]),
    }
}

/// A new P-256 key named `kid`: its signing key and its JWK.
pub fn ec(dir: &Path, kid: &str) -> (EncodingKey, Value) {
    let pem = dir.join(format!("{kid}.pem"));
    let pem = pem.to_str().unwrap();
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        pem,
    ]);
    let pkcs8 = openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", pem, "-outform", "DER"]);
    let spki = openssl(&["ec", "-in", pem, "-pubout", "-outform", "DER"]);
    let point = &spki[spki.len() - 65..];
    assert_eq!(point[0], 4, "an uncompressed point");
    let jwk = json!({"kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
        "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..])});
    (EncodingKey::from_ec_der(&pkcs8), jwk)
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `claims` signed with `key` under `alg`, naming key `kid`.
pub fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    encode(&header, claims, key).unwrap()
}

/// An unsigned token (`alg: none`) carrying `claims`.
pub fn unsigned(claims: &Value) -> String {
    let header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", B64.encode(claims.to_string()))
}

/// Serves `keys` as a JWKS document at `http://127.0.0.1:PORT/jwks.json`.
pub async fn jwks_server(keys: Arc<Mutex<Value>>) -> String {
    async fn doc(State(keys): State<Arc<Mutex<Value>>>) -> axum::Json<Value> {
        axum::Json(keys.lock().unwrap().clone())
    }
    let app = Router::new().route("/jwks.json", get(doc)).with_state(keys);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/jwks.json")
}
