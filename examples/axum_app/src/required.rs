//! A second factor required of every user (`REQUIRE_2FA=1`): the notice at
//! a login within the grace period, and the enrollment page, the only page
//! (with the enable pages) of a login that ended at enrollment.

use axum::extract::State;
use minijinja::context;
use twofa_verify::User;
use twofa_verify::axum::EnrollingUser;
use twofa_verify::policy::GraceLeft;

use super::AppState;
use super::render::{Page, Visitor, civil_date, ok};

/// The enrollment page (`/enroll_2fa`).
pub const ENROLL_PAGE: &str = "/enroll_2fa";

/// The flash of a login within the grace period: what is left of it.
pub fn grace_notice(grace: &GraceLeft) -> String {
    let mut text =
        "This site requires two-factor authentication for your account: please set it up now."
            .to_owned();
    match grace.sign_ins {
        Some(0) => text.push_str(" This was your last sign-in without it."),
        Some(1) => text.push_str(" You can sign in once more without it."),
        Some(n) => text.push_str(&format!(" You can sign in {n} more times without it.")),
        None => {}
    }
    if let Some(until) = grace.until {
        text.push_str(&format!(
            " After {} a sign-in will ask you to set it up first.",
            civil_date(until.as_millis())
        ));
    }
    text
}

/// The flash of a login that ended at enrollment.
pub fn enrollment_notice(user: &User) -> String {
    format!(
        "{}, your account needs two-factor authentication before you can sign in.",
        user.username
    )
}

/// GET /enroll_2fa: why, and the two ways to set up a second factor.
pub async fn enroll_page(
    State(state): State<AppState>,
    v: Visitor,
    EnrollingUser(_me): EnrollingUser,
) -> Page {
    let ctx = context! {
        grace_over => v.enrolling().is_some(),
        sms_available => state.auth.sms_available(),
    };
    ok(&state, &v, "enroll_2fa.html", ctx).await
}
