//! A scripted browser: one user on one keep-alive connection, with cookies
//! and CSRF tokens, doing the login flow.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use twofa_verify::factor::ConsoleSms;

use crate::{PW, Res};

/// A keep-alive browser: one connection, its cookies (the session's and
/// the anonymous CSRF nonce).
pub(crate) struct Browser {
    pub(crate) client: Client<HttpConnector, Full<Bytes>>,
    pub(crate) base: String,
    pub(crate) cookies: std::collections::BTreeMap<String, String>,
}

pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) location: String,
    pub(crate) body: String,
}

impl Browser {
    pub(crate) fn new(base: &str) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .pool_idle_timeout(Duration::from_secs(600))
            .build_http();
        Browser {
            client,
            base: base.to_owned(),
            cookies: Default::default(),
        }
    }

    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Res<Resp> {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let all: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            b = b.header(header::COOKIE, all.join("; "));
        }
        let body = match form {
            Some(f) => {
                b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Bytes::from(serde_urlencoded::to_string(f)?)
            }
            None => Bytes::new(),
        };
        let resp = self.client.request(b.body(Full::new(body))?).await?;
        for c in resp.headers().get_all(header::SET_COOKIE) {
            let Some((name, value)) = c
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            if value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies
                    .insert(name.trim().to_owned(), value.to_owned());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok(Resp {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }

    pub(crate) async fn expect(
        &mut self,
        method: &str,
        path: &str,
        form: Option<&[(&str, &str)]>,
        status: StatusCode,
    ) -> Res<Resp> {
        let r = self.send(method, path, form).await?;
        if r.status != status {
            let snippet: String = r.body.chars().take(400).collect();
            return Err(format!(
                "{method} {path}: expected {status}, got {} (location {:?}): {snippet}",
                r.status, r.location
            )
            .into());
        }
        Ok(r)
    }
}

pub(crate) fn csrf(body: &str) -> Res<String> {
    let prefix = "name=\"csrf_token\" value=\"";
    let start = body.find(prefix).ok_or("no CSRF token in the page")? + prefix.len();
    let end = body[start..].find('"').ok_or("unterminated CSRF token")? + start;
    Ok(body[start..end].to_owned())
}

pub(crate) struct Account {
    pub(crate) username: String,
    pub(crate) phone: String,
}

/// One flow: GET /login, POST /login, GET /verify_2fa, POST /verify_2fa.
pub(crate) async fn flow(b: &mut Browser, a: &Account, sms: &ConsoleSms) -> Res<String> {
    let page = b.expect("GET", "/login", None, StatusCode::OK).await?;
    let token = csrf(&page.body)?;
    let r = b
        .expect(
            "POST",
            "/login",
            Some(&[
                ("csrf_token", &token),
                ("username", &a.username),
                ("password", PW),
                ("next", ""),
            ]),
            StatusCode::SEE_OTHER,
        )
        .await?;
    if r.location != "/verify_2fa" {
        return Err(format!("POST /login went to {:?}", r.location).into());
    }
    let page = b.expect("GET", "/verify_2fa", None, StatusCode::OK).await?;
    let token = csrf(&page.body)?;
    let code = sms
        .last_code_for(&a.phone)
        .ok_or_else(|| format!("no SMS code for {}", a.phone))?;
    let r = b
        .expect(
            "POST",
            "/verify_2fa",
            Some(&[("csrf_token", &token), ("code", &code), ("method", "sms")]),
            StatusCode::SEE_OTHER,
        )
        .await?;
    Ok(r.location)
}

/// Ends the browser's session: log out (so the server drops it), or forget
/// the cookie (a new browser next time; the server keeps the session).
pub(crate) async fn end_session(b: &mut Browser, profile: &str, fresh: bool) -> Res<()> {
    if fresh {
        b.cookies.clear();
        return Ok(());
    }
    let page = b.expect("GET", profile, None, StatusCode::OK).await?;
    let token = csrf(&page.body)?;
    b.expect(
        "POST",
        "/logout",
        Some(&[("csrf_token", &token)]),
        StatusCode::SEE_OTHER,
    )
    .await?;
    Ok(())
}
