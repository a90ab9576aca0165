//! `import-flask`: the users of the Flask tutorial app ("Two-factor
//! Authentication Using Twilio Verify in Flask"), read from its SQLite
//! `user` table, into the configured store; their profile data (first and
//! last name when the table has them, `about_me`, `last_seen`) into the
//! demo app's own `app_profiles` table (`examples/demo-support/src/profiles.rs`).

use std::path::Path;

use serde::Serialize;
use twofa_verify::{Error, ImportedUser, UserId};

use crate::commands::Ctx;
use crate::output::{CliError, Outcome};
use demo_support::profile_text::{self, Field, TextError};
use demo_support::profiles::{Imported as ProfileImported, Profile};

/// One row of the Flask app's `user` table (the columns we use).
struct FlaskUser {
    id: i64,
    username: Option<String>,
    email: Option<String>,
    password_hash: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    about_me: Option<String>,
    /// `last_seen` (a naive UTC `DATETIME`, as `datetime.utcnow()` wrote
    /// it) in ms since the Unix epoch, as SQLite reads it.
    last_seen: Option<i64>,
    /// `last_seen` as stored, when SQLite could not read it as a time (for
    /// the report).
    last_seen_unread: Option<String>,
}

/// A profile field that was not imported, and why.
#[derive(Debug, Serialize)]
struct Dropped {
    flask_id: i64,
    username: String,
    field: &'static str,
    reason: String,
}

/// What happened to the profiles of the imported (and already present)
/// users.
#[derive(Debug, Default, Serialize)]
struct Profiles {
    /// Written into `app_profiles`.
    written: Vec<String>,
    /// Left alone: the user has edited their profile in the demo since.
    kept_edited: Vec<String>,
    /// Fields that broke the demo's rules (left empty).
    dropped: Vec<Dropped>,
}

/// The Flask row's profile by the demo's rules (`profile_text.rs`); a
/// field that breaks them is left empty and reported. A `last_seen` that is
/// not a time is left empty and reported; one in the future (a wrong
/// clock) becomes `now`, reported too, or it would hold the demo's
/// once-a-minute update back until then.
fn profile_of(u: &FlaskUser, now: i64, dropped: &mut Vec<Dropped>) -> Profile {
    let mut report = |field: &'static str, reason: String| {
        dropped.push(Dropped {
            flask_id: u.id,
            username: u.username.clone().unwrap_or_default(),
            field,
            reason,
        });
    };
    let mut keep = |field: Field, value: &Option<String>| -> String {
        let Some(raw) = value.as_deref().filter(|v| !v.trim().is_empty()) else {
            return String::new();
        };
        let checked = match field {
            Field::AboutMe => profile_text::about_me(raw),
            _ => profile_text::name(field, raw),
        };
        checked.unwrap_or_else(|e: TextError| {
            let name = match field {
                Field::FirstName => "first_name",
                Field::LastName => "last_name",
                Field::AboutMe => "about_me",
            };
            report(name, e.to_string());
            String::new()
        })
    };
    let profile = Profile {
        first_name: keep(Field::FirstName, &u.first_name),
        last_name: keep(Field::LastName, &u.last_name),
        about_me: keep(Field::AboutMe, &u.about_me),
        last_seen: u.last_seen.map(|t| t.min(now)),
    };
    if let Some(raw) = &u.last_seen_unread {
        report(
            "last_seen",
            format!("{:?} is not a date and time", shorten(raw)),
        );
    }
    if u.last_seen.is_some_and(|t| t > now) {
        report(
            "last_seen",
            "in the future (a wrong clock?): the time of the import is kept instead".to_owned(),
        );
    }
    profile
}

/// At most 40 characters of `raw`, for a report line.
fn shorten(raw: &str) -> String {
    match raw.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &raw[..i]),
        None => raw.to_owned(),
    }
}

/// The optional columns of the Flask `user` table: the tutorial's model
/// has `about_me` and `last_seen`; a variant may add first and last names.
const PROFILE_COLUMNS: [&str; 4] = ["first_name", "last_name", "about_me", "last_seen"];

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
    let bad = |e: sqlx::Error| {
        CliError::bad_input(
            "usage",
            format!("{}: not the Flask app's database ({e})", path.display()),
        )
    };
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('user')")
        .fetch_all(&pool)
        .await
        .map_err(bad)?;
    // Only names from PROFILE_COLUMNS are ever put in the query.
    let column = |name: &'static str| -> &'static str {
        if !columns.iter().any(|c| c.eq_ignore_ascii_case(name)) {
            return "NULL";
        }
        match name {
            "first_name" => "CAST(first_name AS TEXT)",
            "last_name" => "CAST(last_name AS TEXT)",
            "about_me" => "CAST(about_me AS TEXT)",
            // SQLite reads the DATETIME text itself ('2021-03-01 10:00:00.000000',
            // UTC); anything it cannot read is NULL.
            _ => "CAST(round((julianday(last_seen) - 2440587.5) * 86400000.0) AS INTEGER)",
        }
    };
    let [first, last, about, seen] = PROFILE_COLUMNS.map(column);
    let seen_text = if seen == "NULL" {
        "NULL"
    } else {
        "CAST(last_seen AS TEXT)"
    };
    // Casts: the columns are declared VARCHAR/DATETIME, and a hand-made
    // database may hold other types; text or NULL is all we read.
    let query = format!(
        "SELECT id, CAST(username AS TEXT), CAST(email AS TEXT), CAST(password_hash AS TEXT),
                CAST(verification_phone AS TEXT), {first}, {last}, {about}, {seen}, {seen_text}
         FROM user ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(query))
        .fetch_all(&pool)
        .await
        .map_err(bad)?;
    pool.close().await;
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        let get = |i: usize| row.try_get::<Option<String>, _>(i).ok().flatten();
        let last_seen = row.try_get::<Option<i64>, _>(8).ok().flatten();
        let last_seen_unread = get(9).filter(|t| last_seen.is_none() && !t.trim().is_empty());
        users.push(FlaskUser {
            id: row.try_get(0).unwrap_or_default(),
            username: get(1),
            email: get(2),
            password_hash: get(3),
            phone: get(4).filter(|p| !p.trim().is_empty()),
            first_name: get(5),
            last_name: get(6),
            about_me: get(7),
            last_seen,
            last_seen_unread,
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
        Error::PasswordHashBeyondBound => "hash_beyond_bound",
        Error::UnusablePasswordHash(_) => "unusable_hash",
        _ => return None,
    })
}

/// Imports every row it can; a row already imported (same username and
/// email) is counted, not imported again.
pub async fn import_flask(ctx: &mut Ctx, path: &Path) -> Result<Outcome, CliError> {
    if !demo_support::legacy_hashes_from_env().unwrap_or(false) {
        return Err(CliError::bad_input(
            "usage",
            "set LEGACY_HASHES=werkzeug (environment or .env) first: without it the \
             Werkzeug hashes are neither imported nor accepted at login",
        ));
    }
    let users = read_users(path).await?;
    let auth = ctx.backend.auth.clone();
    let store = ctx.backend.profiles.clone();
    let now = ctx.clock.now().as_millis();
    let (mut imported, mut present, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut profiles = Profiles::default();
    // Writes the profile of a user imported now or before.
    let mut write_profile = async |u: &FlaskUser, id: UserId, name: &str| -> Result<(), CliError> {
        let p = profile_of(u, now, &mut profiles.dropped);
        let done = store
            .import(id, &p)
            .await
            .map_err(|e| CliError::from(Error::store(e)))?;
        match done {
            ProfileImported::Written => profiles.written.push(name.to_owned()),
            ProfileImported::KeptEdited => profiles.kept_edited.push(name.to_owned()),
        }
        Ok(())
    };
    for u in users {
        let username = u.username.clone().unwrap_or_default();
        let (Some(email), Some(hash)) = (u.email.clone(), u.password_hash.clone()) else {
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
            write_profile(&u, existing.id, &existing.username).await?;
            present.push(username);
            continue;
        }
        let row = ImportedUser {
            username: username.clone(),
            email,
            password_hash: hash,
            phone: u.phone.clone(),
        };
        match auth.import_user(row).await {
            Ok(user) => {
                write_profile(&u, user.id, &user.username).await?;
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
    text.push_str(&format!(
        "\nProfiles (names, about_me, last_seen) for the demo app: {} written, {} kept (edited there since).",
        profiles.written.len(),
        profiles.kept_edited.len()
    ));
    for d in &profiles.dropped {
        text.push_str(&format!(
            "\n  not kept  #{} {:?} {}: {}",
            d.flask_id, d.username, d.field, d.reason
        ));
    }
    text.push_str(
        "\nImported users log in with their old password; it is rehashed (Argon2id) then.",
    );
    Ok(Outcome::done("imported", text)
        .with("imported", &imported)
        .with("already_present", &present)
        .with("skipped", &skipped)
        .with("profiles", &profiles))
}
