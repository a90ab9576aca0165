//! `passkeys list` and `passkeys remove`: the passkeys of the logged-in
//! user. A terminal cannot create one (the browser's WebAuthn talks to the
//! authenticator), so adding stays with the web demo's Passkeys page; a
//! removal asks for the same step-up as `2fa disable` (the password and a
//! current code: authenticator app, SMS or recovery code).

use std::fmt::Write as _;

use serde_json::json;
use twofa_verify::passkey::Passkey;

use crate::PasskeysCmd;
use crate::account::roughly;
use crate::commands::{Ctx, Proof, factor_names, step_up, user_json};
use crate::output::{CliError, Outcome};

/// `passkeys ...`.
pub async fn run(ctx: &mut Ctx, cmd: &PasskeysCmd) -> Result<Outcome, CliError> {
    match cmd {
        PasskeysCmd::List => list(ctx).await,
        PasskeysCmd::Remove {
            id,
            name,
            code,
            sms,
        } => remove(ctx, id.as_deref(), name.as_deref(), code.as_deref(), *sms).await,
    }
}

/// Where the passkey is kept, in the Passkeys page's words.
fn kept(p: &Passkey) -> &'static str {
    if p.backed_up {
        "synced to other devices"
    } else if p.backup_eligible {
        "not synced yet"
    } else {
        "on one device only"
    }
}

fn passkey_json(p: &Passkey) -> serde_json::Value {
    json!({
        "id": p.id,
        "name": p.name,
        "created_at": p.created_at.as_millis(),
        "last_used_at": p.last_used_at.map(|t| t.as_millis()),
        "backup_eligible": p.backup_eligible,
        "backed_up": p.backed_up,
    })
}

async fn list(ctx: &mut Ctx) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let now = ctx.now();
    let list = ctx.backend.auth.passkeys(user.id).await?;
    let mut text = String::new();
    if list.is_empty() {
        text.push_str("No passkeys. Add one on the web demo's Passkeys page.");
    }
    for p in &list {
        let used = match p.last_used_at {
            Some(t) => format!("last used {} ago", roughly(t.until(now))),
            None => "never used".to_owned(),
        };
        let _ = writeln!(
            text,
            "{}  {}  added {} ago, {used}, {}",
            p.id,
            p.name,
            roughly(p.created_at.until(now)),
            kept(p),
        );
    }
    if !list.is_empty() {
        text.push_str("Remove one with `cli passkeys remove ID` (or --name NAME).");
    }
    let json: Vec<_> = list.iter().map(passkey_json).collect();
    Ok(Outcome::done("passkeys", text).with("passkeys", json))
}

/// The passkey named by `id` or by `name` (which must name exactly one).
fn pick<'a>(
    list: &'a [Passkey],
    id: Option<&str>,
    name: Option<&str>,
) -> Result<&'a Passkey, CliError> {
    let unknown = |what: String| {
        CliError::bad_input(
            "unknown_passkey",
            format!("no passkey {what}: see `cli passkeys list`"),
        )
    };
    match (id, name) {
        (Some(id), _) => list
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| unknown(id.to_owned())),
        (None, Some(name)) => {
            let mut found = list.iter().filter(|p| p.name == name);
            match (found.next(), found.next()) {
                (Some(p), None) => Ok(p),
                (Some(_), Some(_)) => Err(CliError::bad_input(
                    "ambiguous_passkey",
                    format!("several passkeys are named {name:?}: remove one by its id"),
                )),
                (None, _) => Err(unknown(format!("named {name:?}"))),
            }
        }
        (None, None) => Err(CliError::bad_input("usage", "give a passkey id or --name")),
    }
}

async fn remove(
    ctx: &mut Ctx,
    id: Option<&str>,
    name: Option<&str>,
    code: Option<&str>,
    sms: bool,
) -> Result<Outcome, CliError> {
    let user = ctx.current_user().await?;
    let list = ctx.backend.auth.passkeys(user.id).await?;
    // Named before the step-up: a typo costs no code and no failed attempt.
    let p = pick(&list, id, name)?;
    let next = format!("cli passkeys remove {} --code CODE", p.id);
    let proof = match step_up(ctx, &user, code, sms, &next).await? {
        Proof::Ready(s) => s,
        Proof::Pending(o) => return Ok(o),
    };
    let user = ctx
        .backend
        .auth
        .remove_passkey(user.id, &p.id, &proof)
        .await?;
    ctx.restamp(&user)?;
    let mut text = format!("The passkey {} is removed.", p.name);
    if !user.has_second_factor() {
        text.push_str(" Two-factor authentication is off; your recovery codes were deleted.");
    }
    Ok(Outcome::done("passkey_removed", text)
        .with("passkey", passkey_json(p))
        .with("factors", factor_names(&user))
        .with("user", user_json(&user)))
}
