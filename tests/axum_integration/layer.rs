//! `AuthLayer`: the site's URL decides the cookies, a custom session
//! store and the app's own layer around the guards, and a router without
//! the layer fails loudly.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request as AxumRequest;
use axum::http::{Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_sessions::session::{Id, Record};
use tower_sessions::{SessionStore, session_store};
use twofa_verify::axum::{AuthConfig, AuthSession, RequireUser, StateSessionStore, WebError};
use twofa_verify::clock::ManualClock;
use twofa_verify::{ConsoleSms, MemoryStore};

use super::app::{GOOD, Jar, app_at, app_with, key};

/// Over https every cookie is `Secure` and `__Host-`; the browser that
/// sends them back is logged in.
#[tokio::test]
async fn an_https_site_gets_secure_host_cookies() {
    let app = app_at(
        "https://site.example",
        MemoryStore::new(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    );
    app.user("alice").await;
    let mut jar = Jar::default();
    // The anonymous CSRF nonce of the login form.
    let (status, _, _) = jar.get(&app, "/form").await;
    assert_eq!(status, StatusCode::OK);
    let nonce = jar.last_set.join("\n");
    assert!(nonce.starts_with("__Host-twofa_csrf="), "{nonce}");
    assert!(
        nonce.contains("Secure") && nonce.contains("HttpOnly"),
        "{nonce}"
    );
    let (status, _, _) = jar
        .post(&app, "/login", &[("username", "alice"), ("password", GOOD)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = jar
        .last_set
        .iter()
        .find(|l| l.starts_with("__Host-twofa_session="))
        .unwrap_or_else(|| panic!("{:?}", jar.last_set));
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    assert_eq!(jar.home(&app).await, StatusCode::OK);
}

/// The extractors without the layer: a 500 whose logged error names the
/// missing layer, not a silent failure.
#[tokio::test]
async fn a_router_without_the_layer_answers_500_and_says_why() {
    let app = app_at(
        "http://localhost",
        MemoryStore::new(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
    );
    let bare: Router = Router::new()
        .route(
            "/",
            get(|RequireUser(u): RequireUser| async move { u.username }),
        )
        .with_state(app.auth.clone());
    let resp = bare
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let logged = WebError::NoSessionLayer.to_string();
    assert!(logged.contains("AuthLayer"), "{logged}");
}

/// A session store of the app's own (here one that wraps the
/// authenticator's and counts), given to the builder: every session
/// lives there, and logins, pending logins and logouts work through it.
#[tokio::test]
async fn a_custom_session_store_holds_the_sessions() {
    let auth_store = MemoryStore::new();
    let counting = Counting::new(StateSessionStore::new(auth_store.clone(), key()));
    let app = app_with(
        "http://localhost",
        auth_store,
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
        |layer, _| layer.session_store(counting.clone()),
    );
    app.user("alice").await;
    let mut jar = Jar::default();
    assert_eq!(jar.home(&app).await, StatusCode::UNAUTHORIZED);
    assert_eq!(counting.live(), 0);
    jar.login(&app, "alice", false).await;
    assert_eq!(jar.home(&app).await, StatusCode::OK);
    let id: Id = jar.session().unwrap().parse().unwrap();
    assert!(counting.holds(&id), "the login's session is in the store");
    assert!(counting.loads() >= 1, "read back from it");
    assert_eq!(counting.live(), 1);
    jar.post(&app, "/bye", &[]).await;
    assert_eq!(counting.live(), 0, "the logout deleted it there");
    assert_eq!(jar.home(&app).await, StatusCode::UNAUTHORIZED);
}

/// The app's layer between the session layer and the guards sees the
/// session and the guards' refusals: a CSRF refusal becomes the site's
/// own page, naming the visitor.
#[tokio::test]
async fn the_apps_layer_around_the_guards_renders_their_refusals() {
    async fn pages(session: AuthSession, req: AxumRequest, next: Next) -> Response {
        let resp = next.run(req).await;
        if resp.status() != StatusCode::FORBIDDEN {
            return resp;
        }
        let who = session.user().map_or("stranger", |u| u.username.as_str());
        (
            StatusCode::FORBIDDEN,
            format!("<h1>Form expired, {who}</h1>"),
        )
            .into_response()
    }
    let app = app_with(
        "http://localhost",
        MemoryStore::new(),
        AuthConfig::new(),
        ManualClock::starting_now(),
        ConsoleSms::quiet(),
        |layer, auth| layer.around_guards(middleware::from_fn_with_state(auth.clone(), pages)),
    );
    app.user("alice").await;
    let mut jar = Jar::default();
    let (status, _, body) = jar.post_raw(&app, "/note", &[]).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "<h1>Form expired, stranger</h1>")
    );
    jar.login(&app, "alice", false).await;
    let (status, _, body) = jar
        .post_raw(&app, "/note", &[("csrf_token", "forged")])
        .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::FORBIDDEN, "<h1>Form expired, alice</h1>")
    );
    assert_eq!(jar.post(&app, "/note", &[]).await.0, StatusCode::OK);
}

/// The store of the app's own: the authenticator's, counting what it
/// holds and how often it is read.
#[derive(Debug, Clone)]
struct Counting {
    inner: StateSessionStore,
    ids: Arc<Mutex<HashSet<Id>>>,
    loads: Arc<AtomicUsize>,
}

impl Counting {
    fn new(inner: StateSessionStore) -> Self {
        Counting {
            inner,
            ids: Arc::default(),
            loads: Arc::default(),
        }
    }
    fn live(&self) -> usize {
        self.ids.lock().unwrap().len()
    }
    fn holds(&self, id: &Id) -> bool {
        self.ids.lock().unwrap().contains(id)
    }
    fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl SessionStore for Counting {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.inner.create(record).await?;
        self.ids.lock().unwrap().insert(record.id);
        Ok(())
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(record).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.inner.load(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.ids.lock().unwrap().remove(id);
        self.inner.delete(id).await
    }
}
