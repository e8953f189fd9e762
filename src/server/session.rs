//! The browser's sessions: after a login with the operator's or a user's token, a random 256-bit
//! session id in an HttpOnly, SameSite=Strict cookie, and a CSRF token the page reads
//! from `GET /api/v1/session` and sends back in `X-CSRF-Token` with every request that
//! changes something.
//!
//! By default sessions live in memory only (a restart logs every browser out), expire
//! after [`SESSION_TTL`] without use, and are capped at [`MAX_SESSIONS`] (the oldest
//! goes). With a key several instances share ([`Sessions::sealed`]) a session is instead
//! its own proof: the cookie carries its expiry and a random nonce under an HMAC, the
//! CSRF token is an HMAC of the nonce, so every instance accepts what another issued; a
//! logout marks the nonce in a folder the instances share, and they all refuse it.
//!
//! A session keeps the name of who logged in (never their token): the access check reads
//! that user again on every request, so a removed user's browser is out at once.

use crate::fsutil::Marks;
use crate::types::same_secret;
use http::HeaderMap;
use std::collections::HashMap;
use std::path::PathBuf;
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
    name: String,
}

/// The sessions of one listener.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    sealed: Option<Sealed>,
}

/// Self-proving sessions under a shared key.
struct Sealed {
    key: Vec<u8>,
    revoked: Marks,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("revoked", &self.revoked.dir())
            .finish()
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Sealed {
    fn mac(&self, text: &str) -> HmacSha256 {
        use hmac::{KeyInit, Mac};
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(text.as_bytes());
        mac
    }

    fn create(&self, name: &str) -> Option<String> {
        use hmac::Mac;
        let nonce = random_hex()?;
        let body = format!(
            "{}.{nonce}.{}",
            unix_now() + SESSION_TTL.as_secs(),
            hex::encode(name.as_bytes())
        );
        Some(format!(
            "{body}.{}",
            hex::encode(self.mac(&body).finalize().into_bytes())
        ))
    }

    /// The nonce, expiry and name of a genuine, unexpired, not logged-out session.
    fn open<'a>(&self, id: &'a str) -> Option<(&'a str, u64, String)> {
        use hmac::Mac;
        let (body, tag) = id.rsplit_once('.')?;
        let mut parts = body.splitn(3, '.');
        let (expiry, nonce, name) = (parts.next()?, parts.next()?, parts.next()?);
        let tag = hex::decode(tag).ok()?;
        // Constant-time comparison of the tag.
        self.mac(body).verify_slice(&tag).ok()?;
        let expiry: u64 = expiry.parse().ok()?;
        let now = unix_now();
        if expiry <= now || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        if self.revoked.contains(nonce) {
            return None;
        }
        let name = String::from_utf8(hex::decode(name).ok()?).ok()?;
        Some((nonce, expiry - now, name))
    }

    fn csrf(&self, nonce: &str) -> String {
        use hmac::Mac;
        hex::encode(self.mac(&format!("csrf.{nonce}")).finalize().into_bytes())
    }

    fn revoke(&self, nonce: &str) {
        self.revoked.mark(nonce);
    }
}

/// A session as a request found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The session's CSRF token.
    pub csrf: String,
    /// Seconds until it expires unless used again.
    pub expires_in: u64,
    /// Who logged in: `operator` or a user's name.
    pub name: String,
}

/// 256 random bits in hex, or `None` when the system has no randomness to give.
pub fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
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
    /// Sessions every instance with `key` accepts; logouts are marked in `revoked`, a
    /// folder those instances share (on one host).
    pub fn sealed(key: Vec<u8>, revoked: PathBuf) -> std::io::Result<Sessions> {
        // A mark older than a session's life stands for a session that expired anyway.
        let revoked = Marks::open(revoked, SESSION_TTL)?;
        Ok(Sessions {
            map: Mutex::default(),
            sealed: Some(Sealed { key, revoked }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for `name` (`operator` or a user's): its id (for the cookie), or
    /// `None` without randomness.
    pub fn create(&self, name: &str) -> Option<String> {
        if let Some(sealed) = &self.sealed {
            return sealed.create(name);
        }
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
                name: name.to_string(),
            },
        );
        Some(id)
    }

    /// The live session `id`, its expiry pushed back; `None` when unknown or expired.
    pub fn touch(&self, id: &str) -> Option<Found> {
        if let Some(sealed) = &self.sealed {
            let (nonce, expires_in, name) = sealed.open(id)?;
            return Some(Found {
                csrf: sealed.csrf(nonce),
                expires_in,
                name,
            });
        }
        let now = Instant::now();
        let mut map = self.lock();
        // Look up by comparing every key in constant time, so timing tells nothing
        // about how close a guessed id came.
        let key = map
            .keys()
            .find(|k| same_secret(k.as_bytes(), id.as_bytes()))
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
            name: s.name.clone(),
        })
    }

    /// Ends the session `id` (no-op when unknown).
    pub fn remove(&self, id: &str) {
        if let Some(sealed) = &self.sealed {
            if let Some((nonce, _, _)) = sealed.open(id) {
                sealed.revoke(nonce);
            }
            return;
        }
        let mut map = self.lock();
        let key = map
            .keys()
            .find(|k| same_secret(k.as_bytes(), id.as_bytes()))
            .cloned();
        if let Some(key) = key {
            map.remove(&key);
        }
    }

    /// How many sessions are live (in memory; sealed sessions are not counted).
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
        let id = s.create("ann").unwrap();
        assert_eq!(id.len(), 64);
        let found = s.touch(&id).unwrap();
        assert_eq!(found.name, "ann");
        assert_eq!(found.csrf.len(), 64);
        assert_ne!(found.csrf, id);
        assert!(s.touch("nope").is_none());
        s.remove(&id);
        assert!(s.touch(&id).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn sealed_sessions_are_shared_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let a = Sessions::sealed(vec![1; 32], dir.path().join("revoked")).unwrap();
        let b = Sessions::sealed(vec![1; 32], dir.path().join("revoked")).unwrap();
        let other = Sessions::sealed(vec![2; 32], dir.path().join("other")).unwrap();
        let id = a.create("bob@example.com").unwrap();
        let on_a = a.touch(&id).unwrap();
        let on_b = b.touch(&id).unwrap();
        assert_eq!(on_a.csrf, on_b.csrf);
        assert_eq!(on_b.name, "bob@example.com");
        assert!(on_b.expires_in > SESSION_TTL.as_secs() - 5);
        assert!(other.touch(&id).is_none(), "another key");
        let mut forged = id.clone();
        forged.replace_range(0..1, if id.starts_with('9') { "8" } else { "9" });
        assert!(a.touch(&forged).is_none(), "a changed expiry");
        b.remove(&id);
        assert!(a.touch(&id).is_none(), "logged out everywhere");
    }

    #[test]
    fn capped() {
        let s = Sessions::default();
        let first = s.create("operator").unwrap();
        std::thread::sleep(Duration::from_millis(2));
        for _ in 0..MAX_SESSIONS {
            s.create("operator").unwrap();
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
