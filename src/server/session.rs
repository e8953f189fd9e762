//! The browser's sessions: after a login with the operator's token, a random 256-bit
//! session id in an HttpOnly, SameSite=Strict cookie, and a CSRF token the page reads
//! from `GET /api/v1/session` and sends back in `X-CSRF-Token` with every request that
//! changes something.
//!
//! Sessions live in memory only (a restart logs every browser out), expire after
//! [`SESSION_TTL`] without use, and are capped at [`MAX_SESSIONS`] (the oldest goes).

use http::HeaderMap;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie that carries the session id.
pub const COOKIE: &str = "airun_session";

/// The header a cookie request that changes something carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts without being used.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// The most sessions kept at once.
pub const MAX_SESSIONS: usize = 256;

/// One logged-in browser.
#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    expires: Instant,
}

/// The sessions of one listener.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// A session as a request found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The session's CSRF token.
    pub csrf: String,
    /// Seconds until it expires unless used again.
    pub expires_in: u64,
}

/// 256 random bits in hex, or `None` when the system has no randomness to give.
pub fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Compares without an early exit, so timing does not reveal how much of a guess matched.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session id a request's `Cookie` headers carry, if any.
pub fn cookie_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The `Set-Cookie` value that gives the browser session `id`.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session: its id (for the cookie), or `None` without randomness.
    pub fn create(&self) -> Option<String> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                csrf,
                expires: now + SESSION_TTL,
            },
        );
        Some(id)
    }

    /// The live session `id`, its expiry pushed back; `None` when unknown or expired.
    pub fn touch(&self, id: &str) -> Option<Found> {
        let now = Instant::now();
        let mut map = self.lock();
        // Look up by comparing every key in constant time, so timing tells nothing
        // about how close a guessed id came.
        let key = map
            .keys()
            .find(|k| same(k.as_bytes(), id.as_bytes()))
            .cloned()?;
        let s = map.get_mut(&key)?;
        if s.expires <= now {
            map.remove(&key);
            return None;
        }
        s.expires = now + SESSION_TTL;
        Some(Found {
            csrf: s.csrf.clone(),
            expires_in: SESSION_TTL.as_secs(),
        })
    }

    /// Ends the session `id` (no-op when unknown).
    pub fn remove(&self, id: &str) {
        let mut map = self.lock();
        let key = map
            .keys()
            .find(|k| same(k.as_bytes(), id.as_bytes()))
            .cloned();
        if let Some(key) = key {
            map.remove(&key);
        }
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        let now = Instant::now();
        self.lock().values().filter(|s| s.expires > now).count()
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_touch_remove() {
        let s = Sessions::default();
        let id = s.create().unwrap();
        assert_eq!(id.len(), 64);
        let found = s.touch(&id).unwrap();
        assert_eq!(found.csrf.len(), 64);
        assert_ne!(found.csrf, id);
        assert!(s.touch("nope").is_none());
        s.remove(&id);
        assert!(s.touch(&id).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn capped() {
        let s = Sessions::default();
        let first = s.create().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        for _ in 0..MAX_SESSIONS {
            s.create().unwrap();
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.touch(&first).is_none(), "the oldest went");
    }

    #[test]
    fn cookie_header() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; airun_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_id(&h), Some("abc"));
        assert!(set_cookie("x").contains("HttpOnly; SameSite=Strict; Path=/"));
    }
}
