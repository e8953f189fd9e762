//! The operator's web console at `/`: one HTML page, one stylesheet and one script,
//! built into the binary (no CDN, no build step, works offline), over the REST API.
//!
//! The page reads everything from `/api/v1` with the browser's session cookie (see
//! `crate::server::login`) and sends the session's CSRF token with every change. The
//! script builds the page with `textContent` only, never with markup from data, and every
//! answer here carries a Content-Security-Policy that allows only this server's own
//! script and styles.
//!
//! The listener decides who sees the page (a browser that is not logged in is sent to
//! `/login`); this module only answers with the files.

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, StatusCode};

/// The console page.
const INDEX: &str = include_str!("assets/index.html");
/// The login form (its message slot is `<!--MESSAGE-->`).
const LOGIN: &str = include_str!("assets/login.html");
/// The console's script.
const SCRIPT: &str = include_str!("assets/console.js");
/// The console's stylesheet.
const STYLE: &str = include_str!("assets/console.css");

/// The console's files besides the page, by URL path.
pub const ASSETS: [&str; 2] = ["/console.js", "/console.css"];

/// The Content-Security-Policy of every console answer: this server's own script, styles
/// and connections only; no framing, no plugins, forms post only here.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// The headers every console answer carries.
pub fn security_headers(headers: &mut HeaderMap) {
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

fn page(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    body: String,
) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(h);
    r
}

/// The console page.
pub fn index() -> Response {
    page(
        StatusCode::OK,
        "text/html; charset=utf-8",
        "no-store",
        INDEX.to_string(),
    )
}

/// The login form with `status`, and a `message` (a fixed sentence of this program's,
/// escaped anyway) above it.
pub fn login(status: StatusCode, message: Option<&str>) -> Response {
    let slot = message
        .map(|m| format!(r#"<p class="message" role="alert">{}</p>"#, escape(m)))
        .unwrap_or_default();
    page(
        status,
        "text/html; charset=utf-8",
        "no-store",
        LOGIN.replace("<!--MESSAGE-->", &slot),
    )
}

/// The file at `path` (one of [`ASSETS`]), or `None`.
pub fn asset(path: &str) -> Option<Response> {
    let (content_type, body) = match path {
        "/console.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/console.css" => ("text/css; charset=utf-8", STYLE),
        _ => return None,
    };
    // Revalidated on every load, so a new binary's files are picked up at once.
    Some(page(
        StatusCode::OK,
        content_type,
        "no-cache",
        body.to_string(),
    ))
}

/// `text` with the characters HTML gives a meaning to replaced by entities.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_carry_the_security_headers() {
        for r in [
            index(),
            login(StatusCode::UNAUTHORIZED, Some("<b>")),
            asset("/console.js").unwrap(),
        ] {
            assert!(
                r.headers()["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .starts_with("default-src 'self'")
            );
            assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        }
        assert!(asset("/other.js").is_none());
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn the_script_never_writes_markup() {
        for bad in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.contains(bad), "console.js uses {bad}");
        }
    }
}
