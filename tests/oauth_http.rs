//! `airun serve` as an OAuth 2.1 resource server over real HTTP on 127.0.0.1, with an
//! identity provider this test makes (keys by `openssl`, its JWKS served on loopback): a
//! valid access token maps to the right user and role and their calls land in their own
//! workspace (REST and MCP); expired, wrong-audience, wrong-issuer, `alg: none`, HS256
//! signed with the RSA public key and unknown-key tokens get 401 with the
//! `WWW-Authenticate` challenge of RFC 6750 / RFC 9728; a rotated JWKS is picked up
//! without a restart; the protected-resource metadata document is served.

mod support;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use support::http::{Api, mcp_initialize};
use support::jwt::{have_openssl, jwks_server, now, rsa, sign, unsigned};
use support::mcp::{AIRUN, Dirs};
use support::serve::{command, start};

const ISSUER: &str = "https://idp.test/";
const RESOURCE: &str = "https://airun.test/mcp";
const METADATA: &str = "https://airun.test/.well-known/oauth-protected-resource/mcp";
const OPERATOR: &str = "oauth-operator-token-0123456789";

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": ISSUER, "aud": RESOURCE, "sub": "u-1", "email": "ann@example.com",
        "groups": ["devs"], "exp": now() + 600, "iat": now()});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn policy(jwks_url: &str) -> String {
    format!(
        r#"[oauth]
issuer = "{ISSUER}"
audience = "{RESOURCE}"
jwks_url = "{jwks_url}"
name_claim = "email"
default_role = "viewer"
jwks_refetch_seconds = 1

[[oauth.roles]]
claim = "groups"
value = "devs"
role = "agent"

[[oauth.roles]]
claim = "groups"
value = "ops"
role = "admin"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_name_users_and_bad_ones_are_refused() {
    if !support::ci::require("openssl", have_openssl()) {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dirs = Dirs::new();
    let keydir = tempfile::tempdir().unwrap();
    let k1 = rsa(keydir.path(), "k1");
    let keys = Arc::new(Mutex::new(json!({"keys": [k1.jwk.clone()]})));
    let jwks = jwks_server(keys.clone()).await;
    std::fs::write(dirs.home.join("policy.toml"), policy(&jwks)).unwrap();
    let server = start(command(
        Path::new(AIRUN),
        &dirs.ws,
        &dirs.home,
        &["--token", OPERATOR, "--yes"],
    ));
    let api = Api::new(&server.addr);

    // The protected-resource metadata (RFC 9728), at both well-known paths.
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let (s, doc) = api.get("", path).await;
        assert_eq!(s, 200, "{path}: {doc}");
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }

    // No token: 401 pointing to the metadata, without an error code.
    let (history, mcp) = ("/api/v1/history", "/mcp");
    for (method, url) in [("GET", history), ("POST", mcp)] {
        let r = api.reply("", method, url, mcp_initialize("raw")).await;
        let (s, challenge) = (r.status, r.header("www-authenticate"));
        assert_eq!(s, 401, "{url}");
        assert_eq!(
            challenge,
            format!("Bearer resource_metadata=\"{METADATA}\"")
        );
    }

    // A valid token: ann, an agent by her group, in her own workspace.
    let ann = sign(Algorithm::RS256, "k1", &k1.signing, &claims(json!({})));
    let (s, v) = api.get(&ann, "/api/v1/session").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["user"].as_str(), v["role"].as_str()),
        (Some("ann@example.com"), Some("agent"))
    );
    api.write(&ann, "hello.txt", "from ann\n").await;
    let own = dirs.home.join("users/ann@example.com/workspace");
    assert_eq!(
        std::fs::read_to_string(own.join("hello.txt")).unwrap(),
        "from ann\n"
    );
    assert!(
        !dirs.ws.join("hello.txt").exists(),
        "not the server's workspace"
    );
    // Over MCP with the same token.
    let client = api.mcp(&ann).await;
    let r = support::mcp::call(
        &client,
        "io_fs_write_file",
        json!({"path": "mcp.txt", "content": "x\n"}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert!(own.join("mcp.txt").is_file());
    client.cancel().await.ok();
    // An admin by group sees ann's lane; a viewer by default may not call.
    let bo = sign(
        Algorithm::RS256,
        "k1",
        &k1.signing,
        &claims(json!({"sub": "u-2", "email": "bo@example.com", "groups": ["ops"]})),
    );
    let (s, v) = api
        .get(&bo, &format!("{history}?user=ann@example.com"))
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.to_string().contains("hello.txt"), "{v}");
    let guest = sign(
        Algorithm::RS256,
        "k1",
        &k1.signing,
        &claims(json!({"sub": "u-3", "email": "guest@example.com", "groups": []})),
    );
    let (s, v) = api.call(&guest, "io.fs.exists", json!({"path": "."})).await;
    assert_eq!(
        (s, v["error"]["kind"].as_str()),
        (403, Some("denied_role")),
        "{v}"
    );

    // Each bad token: 401, invalid_token, and why.
    let stranger = rsa(keydir.path(), "k9");
    let bad: Vec<(&str, String)> = vec![
        (
            "expired",
            sign(
                Algorithm::RS256,
                "k1",
                &k1.signing,
                &claims(json!({"exp": now() - 3600})),
            ),
        ),
        (
            "another resource",
            sign(
                Algorithm::RS256,
                "k1",
                &k1.signing,
                &claims(json!({"aud": "https://other.example/mcp"})),
            ),
        ),
        (
            "another issuer",
            sign(
                Algorithm::RS256,
                "k1",
                &k1.signing,
                &claims(json!({"iss": "https://evil.example/"})),
            ),
        ),
        ("not a signed JWT", unsigned(&claims(json!({})))),
        (
            "not accepted",
            sign(
                Algorithm::HS256,
                "k1",
                &EncodingKey::from_secret(&k1.public_pem),
                &claims(json!({})),
            ),
        ),
        (
            "does not publish",
            sign(
                Algorithm::RS256,
                "k9",
                &stranger.signing,
                &claims(json!({})),
            ),
        ),
        (
            "does not verify",
            sign(
                Algorithm::RS256,
                "k1",
                &stranger.signing,
                &claims(json!({})),
            ),
        ),
    ];
    for (why, token) in &bad {
        for (method, url) in [("GET", history), ("POST", mcp)] {
            let r = api.reply(token, method, url, mcp_initialize("raw")).await;
            let (s, challenge, body) = (r.status, r.header("www-authenticate"), r.body);
            assert_eq!(s, 401, "{why} at {url}: {body}");
            assert!(
                challenge.starts_with(&format!("Bearer resource_metadata=\"{METADATA}\", error=\"invalid_token\", error_description=\"")),
                "{why}: {challenge}"
            );
            assert!(challenge.contains(why), "{why}: {challenge}");
        }
    }

    // The provider rotates k1 out for k2: picked up without a restart.
    let k2 = rsa(keydir.path(), "k2");
    *keys.lock().unwrap() = json!({"keys": [k2.jwk.clone()]});
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = sign(Algorithm::RS256, "k2", &k2.signing, &claims(json!({})));
    let (s, v) = api.get(&rotated, history).await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.to_string().contains("hello.txt"),
        "ann's own history: {v}"
    );
    // The operator's token still works.
    let (s, v) = api.get(OPERATOR, history).await;
    assert_eq!(s, 200, "{v}");
}
