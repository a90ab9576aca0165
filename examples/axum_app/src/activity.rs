//! "Recent security activity": the user's own audit trail (the library's
//! `Authenticator::security_activity`): when, what, from which network
//! (never the full address) and which device.

use axum::extract::State;
use minijinja::context;
use minijinja::value::Serde;
use serde::Serialize;
use twofa_verify::axum::RequireUser;
use twofa_verify::store::AuditRecord;

use super::AppState;
use super::render::{Page, Visitor, ok};

/// How many records the page shows.
const SHOWN: usize = 50;

#[derive(Serialize)]
struct ActivityView {
    date: String,
    event: String,
    location: String,
    device: String,
}

/// What a person reads for an audit record's kind (and its detail).
fn describe(kind: &str, detail: Option<&str>) -> String {
    let factor = match detail {
        Some("sms") => " (SMS code)",
        Some("totp") => " (authenticator app)",
        Some("recovery_code") => " (recovery code)",
        Some("passkey") => " (passkey)",
        _ => "",
    };
    let text = match kind {
        "registered" => "Account created",
        "login_succeeded" => "Signed in",
        "second_factor_required" => "Password accepted, code asked for",
        "login_failed" => "Failed sign-in (wrong password)",
        "code_rejected" => "Wrong code entered",
        "totp_replay_refused" => "A used authenticator code was refused",
        "locked" => "Locked after too many failed attempts",
        "code_sent" => "Sign-in code sent",
        "send_limited" => "Code not sent (too many requests)",
        "factor_enabled" => "Two-factor authentication enabled",
        "factor_disabled" => "Two-factor authentication disabled",
        "phone_changed" => "Phone number changed",
        "recovery_code_used" => "Recovery code used",
        "recovery_codes_generated" => "New recovery codes made",
        "password_changed" => "Password changed",
        "password_reset_requested" => "Password reset requested",
        "password_rehashed" => "Password storage upgraded",
        "profile_updated" => "Username changed",
        "email_change_requested" => "Email change requested",
        "email_changed" => "Email address changed",
        "signed_out_everywhere" => "Signed out everywhere",
        "device_remembered" => "Device remembered",
        "device_forgotten" => "Remembered device forgotten",
        "mail_suppressed" => "An email was held back (too many)",
        "user_imported" => "Account imported",
        "registration_started" => "Someone tried to register with your address",
        "admin_locked" => "Locked by support",
        "admin_unlocked" => "Unlocked by support",
        "admin_second_factor_reset" => "Two-factor authentication removed by support",
        "admin_sessions_revoked" => "Signed out everywhere by support",
        "admin_password_reset_forced" => "Password reset required by support",
        "second_factor_enrollment_due" => "Two-factor authentication asked for",
        "step_up_passed" => "Identity confirmed for a change",
        "step_up_failed" => "Identity confirmation failed",
        "passkey_added" => "Passkey added",
        "passkey_renamed" => "Passkey renamed",
        "passkey_removed" => "Passkey removed",
        "passkey_clone_suspected" => "A passkey looked copied (its counter went back)",
        other => other,
    };
    let factor = if kind.ends_with("_enabled")
        || kind.ends_with("_disabled")
        || kind == "login_succeeded"
        || kind == "code_rejected"
        || kind == "step_up_passed"
    {
        factor
    } else {
        ""
    };
    format!("{text}{factor}")
}

/// `YYYY-MM-DD HH:MM UTC`.
fn date_time(r: &AuditRecord) -> String {
    jiff::Timestamp::from_millisecond(r.entry.at.as_millis())
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// GET /security_activity
pub async fn page(State(state): State<AppState>, v: Visitor, RequireUser(me): RequireUser) -> Page {
    let records = state.auth.security_activity(me.id, None, SHOWN).await?;
    let rows: Vec<ActivityView> = records
        .iter()
        .map(|r| ActivityView {
            date: date_time(r),
            event: describe(&r.entry.kind, r.entry.detail.as_deref()),
            location: r.entry.network.clone().unwrap_or_else(|| "unknown".into()),
            device: r.entry.device.clone().unwrap_or_else(|| "unknown".into()),
        })
        .collect();
    ok(
        &state,
        &v,
        "security_activity.html",
        context! { rows => Serde(rows), username => me.username },
    )
    .await
}
