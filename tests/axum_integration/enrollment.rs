//! A login that ends at enrollment (`Policy::second_factor_required` after
//! the grace): the session is not logged in, the guard keeps it on the
//! enrollment pages, and confirming a factor turns it into a login.

use axum::Form;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Redirect;
use axum::routing::{get, post};
use secrecy::SecretString;
use twofa_verify::axum::{
    AuthConfig, AuthLayer, AuthSession, CsrfToken, EnrollingUser, PendingGuard, RequireUser,
    WebError,
};
use twofa_verify::clock::ManualClock;
use twofa_verify::event::RecordingSink;
use twofa_verify::policy::SecondFactorRequirement;
use twofa_verify::{Authenticator, ConsoleSms, LocalCodes, Login, MemoryStore, Policy, StepUp};

use crate::app::{App, GOOD, Jar, PHONE, key, location};

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

async fn login(mut s: AuthSession, Form(f): Form<LoginForm>) -> Result<Redirect, WebError> {
    let password = SecretString::from(f.password);
    Ok(match s.auth().login(&f.username, &password).await? {
        Login::Complete(user) => {
            s.login(&user, false).await?;
            Redirect::to("/")
        }
        Login::EnrollSoon { user, .. } => {
            s.login(&user, false).await?;
            Redirect::to("/enroll")
        }
        Login::EnrollmentRequired(e) => {
            s.begin_enrollment(&e).await?;
            Redirect::to("/enroll")
        }
        Login::SecondFactor(c) => {
            s.begin_second_factor(&c, false).await?;
            Redirect::to("/code")
        }
        _ => Redirect::to("/login"),
    })
}

#[derive(serde::Deserialize)]
struct PhoneForm {
    password: String,
}

async fn start_sms(
    EnrollingUser(me): EnrollingUser,
    s: AuthSession,
    Form(f): Form<PhoneForm>,
) -> Result<&'static str, WebError> {
    s.auth()
        .start_sms_enrollment(me.id, PHONE, &StepUp::password(f.password))
        .await?;
    Ok("sent")
}

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
}

async fn confirm_sms(
    EnrollingUser(me): EnrollingUser,
    mut s: AuthSession,
    Form(f): Form<CodeForm>,
) -> Result<Redirect, WebError> {
    let enrolled = s
        .auth()
        .confirm_sms_enrollment(me.id, &SecretString::from(f.code))
        .await?;
    s.enrolled(&enrolled.user).await?;
    Ok(Redirect::to("/"))
}

fn enrollment_app(guarded: bool) -> App {
    let clock = ManualClock::starting_now();
    let sms = ConsoleSms::quiet();
    let events = RecordingSink::new();
    let mut policy = Policy::default();
    policy.second_factor_required = Some(SecondFactorRequirement::everyone());
    let auth = Authenticator::builder()
        .store(MemoryStore::new())
        .secret_key(key())
        .sms(LocalCodes::new(sms.clone()))
        .clock(clock.clone())
        .events(events.clone())
        .policy(policy)
        .build()
        .unwrap();
    let mut guard = PendingGuard::new("/code").allow("/logout").allow("/form");
    if guarded {
        guard = guard
            .enrollment("/enroll")
            .allow_enrolling_prefix("/enroll/");
    }
    let layer = AuthLayer::builder(&auth, "http://localhost")
        .config(AuthConfig::new().login_url("/login"))
        .pending_guard(guard)
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/",
            get(|RequireUser(u): RequireUser| async move { format!("hello {}", u.username) }),
        )
        .route(
            "/account",
            get(|RequireUser(u): RequireUser| async move { format!("account {}", u.id) }),
        )
        .route(
            "/enroll",
            get(|EnrollingUser(u): EnrollingUser| async move { format!("enroll {}", u.username) }),
        )
        .route("/enroll/sms", post(start_sms))
        .route("/enroll/sms/confirm", post(confirm_sms))
        .route("/login", post(login))
        .route("/form", get(|t: CsrfToken| async move { t.value().await }))
        .layer(layer)
        .with_state(auth.clone());
    App {
        router,
        auth,
        sms,
        clock,
        events,
    }
}

/// Past the grace, the password leads to enrollment only: every other page
/// sends the session back there, no page of a logged-in user opens, and
/// confirming a factor logs in (with a new session id each time).
#[tokio::test]
async fn a_login_at_enrollment_reaches_only_the_enrollment_pages() {
    let app = enrollment_app(true);
    let alice = app.user("alice").await;
    let mut jar = Jar::default();
    let before = jar.session().map(str::to_owned);
    let (s, h) = jar.login(&app, "alice", false).await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/enroll"));
    let at_enrollment = jar.session().unwrap().to_owned();
    assert_ne!(Some(at_enrollment.clone()), before);
    for path in ["/", "/account"] {
        let (s, h, _) = jar.get(&app, path).await;
        assert_eq!(
            (s, location(&h)),
            (StatusCode::SEE_OTHER, "/enroll"),
            "{path}"
        );
    }
    let (s, _, body) = jar.get(&app, "/enroll").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "enroll alice"));

    // A wrong password at the step-up is refused; the right one sends.
    let (s, _, _) = jar
        .post(&app, "/enroll/sms", &[("password", "not the password")])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, body) = jar.post(&app, "/enroll/sms", &[("password", GOOD)]).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "sent"));
    let code = app.sms.last_code_for(PHONE).unwrap();
    let (s, h, _) = jar
        .post(&app, "/enroll/sms/confirm", &[("code", code.as_str())])
        .await;
    assert_eq!((s, location(&h)), (StatusCode::SEE_OTHER, "/"));
    assert_ne!(jar.session().unwrap(), at_enrollment, "new id at login");
    let (s, _, body) = jar.get(&app, "/").await;
    assert_eq!((s, body), (StatusCode::OK, "hello alice".to_owned()));
    let (s, _, _) = jar.get(&app, "/account").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        app.auth
            .user(alice.id)
            .await
            .unwrap()
            .unwrap()
            .has_second_factor()
    );
}

/// Without an enrollment page in the guard, a session at enrollment is
/// simply not logged in: pages of a logged-in user refuse it.
#[tokio::test]
async fn without_the_guard_a_session_at_enrollment_is_not_logged_in() {
    let app = enrollment_app(false);
    app.user("bob").await;
    let mut jar = Jar::default();
    jar.login(&app, "bob", false).await;
    let (s, h, _) = jar.get(&app, "/account").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location(&h).starts_with("/login?next="), "{h:?}");
    let (s, _, body) = jar.get(&app, "/enroll").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "enroll bob"));
}

/// A session at enrollment ends when the user's credentials change
/// elsewhere (the password changed by its owner), and after 30 minutes.
#[tokio::test]
async fn a_session_at_enrollment_dies_with_a_credential_change_and_in_time() {
    let app = enrollment_app(true);
    let carol = app.user("carol").await;
    let mut stolen = Jar::default();
    stolen.login(&app, "carol", false).await;
    app.auth
        .change_password(
            carol.id,
            &StepUp::password(GOOD),
            &SecretString::from("a brand new horse"),
        )
        .await
        .unwrap();
    let (s, h, _) = stolen.get(&app, "/enroll").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location(&h).starts_with("/login"), "{h:?}");
    // The fence lifted with the state: nothing left to enroll for.
    let (s, h, _) = stolen.get(&app, "/account").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location(&h).starts_with("/login"), "{h:?}");

    app.user("dan").await;
    let mut late = Jar::default();
    late.login(&app, "dan", false).await;
    app.clock.advance(std::time::Duration::from_secs(30 * 60));
    let (s, h, _) = late.get(&app, "/enroll").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(location(&h).starts_with("/login"), "{h:?}");
}
