//! `import-flask`: the users of the Flask tutorial app ("Two-factor
//! Authentication Using Twilio Verify in Flask"), read from its SQLite
//! `user` table, into the configured store.

use std::path::Path;

use serde::Serialize;
use twofa_verify::{Error, ImportedUser};

use crate::commands::Ctx;
use crate::output::{CliError, Outcome};

/// One row of the Flask app's `user` table (the columns we use).
struct FlaskUser {
    id: i64,
    username: Option<String>,
    email: Option<String>,
    password_hash: Option<String>,
    phone: Option<String>,
    /// `about_me` or `last_seen` set: profile data the library does not keep.
    has_profile: bool,
}

/// A row that was not imported, and why.
#[derive(Debug, Serialize)]
struct Skipped {
    flask_id: i64,
    username: String,
    reason: &'static str,
    detail: String,
}

/// A row that was imported.
#[derive(Debug, Serialize)]
struct Imported {
    flask_id: i64,
    username: String,
    sms: bool,
}

async fn read_users(path: &Path) -> Result<Vec<FlaskUser>, CliError> {
    use sqlx::Row;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
    if !path.is_file() {
        return Err(CliError::bad_input(
            "usage",
            format!("{}: no such file", path.display()),
        ));
    }
    let opts = SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = SqlitePool::connect_with(opts)
        .await
        .map_err(|e| CliError::bad_input("usage", format!("{}: {e}", path.display())))?;
    // Casts: the columns are declared VARCHAR/DATETIME, and a hand-made
    // database may hold other types; text or NULL is all we read.
    let rows = sqlx::query(
        "SELECT id, CAST(username AS TEXT), CAST(email AS TEXT), CAST(password_hash AS TEXT),
                CAST(verification_phone AS TEXT),
                (COALESCE(about_me, '') != '' OR last_seen IS NOT NULL)
         FROM user ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .map_err(|e| {
        CliError::bad_input(
            "usage",
            format!("{}: not the Flask app's database ({e})", path.display()),
        )
    })?;
    pool.close().await;
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        let get = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten();
        users.push(FlaskUser {
            id: row.try_get(0).unwrap_or_default(),
            username: get(1),
            email: get(2),
            password_hash: get(3),
            phone: get(4).filter(|p| !p.trim().is_empty()),
            has_profile: row.try_get::<bool, _>(5).unwrap_or(false),
        });
    }
    Ok(users)
}

/// Why `import_user` refused a row, for the report.
fn reason(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::InvalidUsername(_) => "invalid_username",
        Error::InvalidEmail => "invalid_email",
        Error::UsernameTaken => "duplicate_username",
        Error::EmailTaken => "duplicate_email",
        Error::InvalidPhoneNumber(_) => "invalid_phone",
        Error::Config(_) => "unrecognized_hash",
        _ => return None,
    })
}

/// Imports every row it can; a row already imported (same username and
/// email) is counted, not imported again.
pub async fn import_flask(ctx: &mut Ctx, path: &Path) -> Result<Outcome, CliError> {
    if !crate::common::legacy_hashes_from_env().unwrap_or(false) {
        return Err(CliError::bad_input(
            "usage",
            "set LEGACY_HASHES=werkzeug (environment or .env) first: without it the \
             Werkzeug hashes are neither imported nor accepted at login",
        ));
    }
    let users = read_users(path).await?;
    let auth = ctx.backend.auth.clone();
    let (mut imported, mut present, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut profiles = 0usize;
    for u in users {
        let username = u.username.clone().unwrap_or_default();
        let (Some(email), Some(hash)) = (u.email, u.password_hash) else {
            skipped.push(Skipped {
                flask_id: u.id,
                username,
                reason: "missing_field",
                detail: "no email or no password hash".into(),
            });
            continue;
        };
        // Same username and address as an account here: imported before.
        if let Ok(Some(existing)) = auth.user_by_username(&username).await
            && existing.email.eq_ignore_ascii_case(email.trim())
        {
            profiles += usize::from(u.has_profile);
            present.push(username);
            continue;
        }
        let row = ImportedUser {
            username: username.clone(),
            email,
            password_hash: hash,
            phone: u.phone,
        };
        match auth.import_user(row).await {
            Ok(user) => {
                profiles += usize::from(u.has_profile);
                imported.push(Imported {
                    flask_id: u.id,
                    username: user.username,
                    sms: user.phone.is_some(),
                });
            }
            Err(e) => match reason(&e) {
                Some(reason) => skipped.push(Skipped {
                    flask_id: u.id,
                    username,
                    reason,
                    detail: e.to_string(),
                }),
                None => return Err(e.into()),
            },
        }
    }
    let mut text = format!(
        "Imported {} user(s) from {} ({} already present, {} skipped).",
        imported.len(),
        path.display(),
        present.len(),
        skipped.len()
    );
    for i in &imported {
        let sms = if i.sms { " (SMS 2FA on)" } else { "" };
        text.push_str(&format!("\n  imported  {}{sms}", i.username));
    }
    for s in &skipped {
        text.push_str(&format!(
            "\n  skipped   #{} {:?}: {} ({})",
            s.flask_id, s.username, s.reason, s.detail
        ));
    }
    let not_imported = "about_me, last_seen: not imported (app profile data)";
    if profiles > 0 {
        text.push_str(&format!(
            "\n{not_imported}, set for {profiles} of these user(s)."
        ));
    }
    text.push_str(
        "\nImported users log in with their old password; it is rehashed (Argon2id) then.",
    );
    Ok(Outcome::done("imported", text)
        .with("imported", &imported)
        .with("already_present", &present)
        .with("skipped", &skipped)
        .with("not_imported", not_imported))
}
