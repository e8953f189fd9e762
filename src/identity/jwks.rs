//! The identity provider's signing keys: a JWKS document fetched over HTTP, kept, and
//! fetched again when a token names a key not in it (the provider rotated its keys), at
//! most once per `jwks_refetch_seconds`.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// The keys of one JWKS URL.
#[derive(Debug)]
pub struct KeyCache {
    url: String,
    min_refetch: Duration,
    client: reqwest::Client,
    state: Mutex<State>,
    // One fetch at a time; the others wait for it and read its result.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<JwkSet>,
    fetched: Option<Instant>,
    fetches: u64,
}

impl KeyCache {
    /// The keys at `url`, fetched again on an unknown key id at most every `min_refetch`.
    pub fn new(url: &str, min_refetch: Duration) -> Result<KeyCache, String> {
        static TLS: std::sync::Once = std::sync::Once::new();
        TLS.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("airun/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client for the JWKS: {e}"))?;
        Ok(KeyCache {
            url: url.to_string(),
            min_refetch,
            client,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times the document was fetched (for tests and metrics).
    pub fn fetches(&self) -> u64 {
        self.lock().fetches
    }

    /// The key `kid` names (or the only key, when the token names none), fetching the
    /// document first when it was never fetched, and again when `kid` is unknown and
    /// the last fetch is older than the refetch interval.
    pub async fn key(&self, kid: Option<&str>) -> Result<Jwk, String> {
        if let Some(k) = self.find(kid) {
            return Ok(k);
        }
        let _one = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(k) = self.find(kid) {
            return Ok(k);
        }
        let recent = self
            .lock()
            .fetched
            .is_some_and(|at| at.elapsed() < self.min_refetch);
        if !recent {
            let keys = self.fetch().await?;
            let mut state = self.lock();
            state.keys = Some(keys);
            state.fetched = Some(Instant::now());
        }
        self.find(kid).ok_or_else(|| match kid {
            Some(kid) => format!(
                "the token was signed by key `{kid}`, which the identity provider does not publish"
            ),
            None => {
                "the token names no key (`kid`) and the identity provider publishes more than one"
                    .to_string()
            }
        })
    }

    fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        let state = self.lock();
        let keys = state.keys.as_ref()?;
        match kid {
            Some(kid) => keys.find(kid).cloned(),
            None if keys.keys.len() == 1 => keys.keys.first().cloned(),
            None => None,
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        self.lock().fetches += 1;
        let why = |e: &dyn std::fmt::Display| {
            format!(
                "cannot fetch the identity provider's keys from {}: {e}",
                self.url
            )
        };
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| why(&e))?;
        if !response.status().is_success() {
            return Err(why(&format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| why(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(why(&"the document is larger than 1 MiB"));
            }
        }
        serde_json::from_slice(&body).map_err(|e| why(&format!("not a JWKS document: {e}")))
    }
}
