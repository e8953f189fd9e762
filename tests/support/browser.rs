//! A browser-like client for the console's login over real HTTP: the login form, the
//! session cookie and the CSRF token kept by hand.

use serde_json::Value;

/// A browser-like client: no bearer token, no redirects followed, cookies by hand.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub site: String,
    /// The session cookie (`name=value`) of the last login that set one.
    pub cookie: Option<String>,
    /// The CSRF token `GET /api/v1/session` gave after that login.
    pub csrf: Option<String>,
}

/// One answer.
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// The response's headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Page {
    /// The body as JSON (`null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The header `name`, when there is one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Browser {
    /// A browser for the site whose API is at `api` (`http://127.0.0.1:PORT` or
    /// `http://127.0.0.1:PORT/api/v1`).
    pub fn new(api: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            site: api.trim_end_matches("/api/v1").to_string(),
            cookie: None,
            csrf: None,
        }
    }

    /// `method path` with the cookie (when logged in), `headers` and a `(content type,
    /// body)`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Page {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.site));
        if let Some(cookie) = &self.cookie {
            req = req.header("Cookie", cookie);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((content_type, body)) = body {
            req = req.header("Content-Type", content_type).body(body);
        }
        let r = req.send().await.unwrap();
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap_or_default(),
        }
    }

    /// Posts the login form with `token`; when it sets a cookie, keeps it and the CSRF
    /// token of `GET /api/v1/session`.
    pub async fn login(&mut self, token: &str) -> Page {
        let body = format!("token={token}");
        let a = self
            .send(
                "POST",
                "/login",
                &[],
                Some(("application/x-www-form-urlencoded", body)),
            )
            .await;
        if let Some(set) = a.header("set-cookie") {
            self.cookie = set.split(';').next().map(str::to_string);
            let session = self.send("GET", "/api/v1/session", &[], None).await;
            self.csrf = session.json()["csrf_token"].as_str().map(str::to_string);
        }
        a
    }

    /// `POST /api/v1{path}` with a JSON body and `extra` headers.
    pub async fn post_json(&self, path: &str, body: Value, extra: &[(&str, &str)]) -> Page {
        self.send(
            "POST",
            &format!("/api/v1{path}"),
            extra,
            Some(("application/json", body.to_string())),
        )
        .await
    }
}
