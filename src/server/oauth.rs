//! airun as an OAuth 2.1 protected resource (the MCP authorization spec): the metadata
//! document of RFC 9728 at `/.well-known/oauth-protected-resource` (and its path-suffixed
//! form for `/mcp`), and the `WWW-Authenticate` challenges of RFC 6750 that point
//! clients to it.
//!
//! The tokens themselves are checked by [`crate::identity::Verifier`] (signature,
//! algorithm, issuer, audience per RFC 8707, lifetime).

use crate::identity::Verifier;
use crate::settings::OAuthPolicy;
use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The path of the protected-resource metadata document.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The operator's `[oauth]` setup: the verifier and where its metadata is published.
#[derive(Debug)]
pub struct OAuth {
    verifier: Verifier,
    metadata_url: String,
}

/// The metadata URL of `resource` (RFC 9728 section 3.1): the well-known path inserted
/// between the host and the resource's path.
pub fn metadata_url(resource: &str) -> Result<String, String> {
    let url = url::Url::parse(resource)
        .map_err(|e| format!("oauth.audience `{resource}` is not a URL: {e}"))?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Ok(format!("{origin}{METADATA_PATH}{path}"))
}

/// A quoted-string of a header parameter: printable ASCII, no quotes or backslashes.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

impl OAuth {
    /// The setup for `policy` (with `[oauth]` turned on), or what is wrong with it.
    pub fn new(policy: &OAuthPolicy) -> Result<OAuth, String> {
        Ok(OAuth {
            verifier: Verifier::new(policy)?,
            metadata_url: metadata_url(&policy.audience)?,
        })
    }

    /// The token checker.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Where the metadata document is.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The RFC 9728 document.
    pub fn document(&self) -> Response {
        let policy = self.verifier.policy();
        Json(json!({
            "resource": policy.audience,
            "authorization_servers": [policy.issuer],
            "bearer_methods_supported": ["header"],
            "resource_name": "airun",
        }))
        .into_response()
    }
}

/// The `WWW-Authenticate` value of a 401: `Bearer` with the metadata URL when OAuth is
/// set up, and `error="invalid_token"` with `why` when a token was sent and refused.
pub fn challenge(oauth: Option<&OAuth>, why: Option<&str>) -> String {
    let mut params = Vec::new();
    match oauth {
        Some(o) => params.push(format!(
            "resource_metadata=\"{}\"",
            quoted(o.metadata_url())
        )),
        None => params.push("realm=\"airun\"".to_string()),
    }
    if let Some(why) = why {
        params.push("error=\"invalid_token\"".to_string());
        params.push(format!("error_description=\"{}\"", quoted(why)));
    }
    format!("Bearer {}", params.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_and_challenges() {
        assert_eq!(
            metadata_url("https://airun.example.com/mcp").unwrap(),
            "https://airun.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
        );
        assert!(metadata_url("not a url").is_err());
        assert_eq!(challenge(None, None), "Bearer realm=\"airun\"");
        assert_eq!(
            challenge(None, Some("the \"token\" expired\n")),
            "Bearer realm=\"airun\", error=\"invalid_token\", error_description=\"the 'token' expired?\""
        );
    }
}
