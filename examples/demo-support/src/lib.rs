//! Set-up shared by the example apps (`axum_app`, `cli`, `loadtest`): the
//! store, the SMS provider, the mailer and the application's secret key, all
//! chosen from the environment with a zero-configuration default (a SQLite
//! file, codes and emails printed to the console); and the app's own data
//! about its users ([`profiles`], [`profile_text`]).

pub mod profile_text;
pub mod profiles;

use std::error::Error as StdError;
use std::path::Path;
use std::sync::{Arc, Mutex};

use secrecy::ExposeSecret;
use twofa_verify::factor::{ConsoleSms, LocalCodes};
use twofa_verify::{
    AuthEvent, Authenticator, AuthenticatorBuilder, EventSink, MemoryStore, Policy, Registration,
    RequestContext, SecretKey, SecretKeyError, StateStore,
};

/// Boxed error for example set-up.
pub type SetupError = Box<dyn StdError + Send + Sync>;

/// What the examples run on.
pub struct Backend {
    /// The authenticator.
    pub auth: Authenticator,
    /// The console SMS outbox when codes are printed (no Twilio configured).
    pub console_sms: Option<ConsoleSms>,
    /// Where emails go.
    pub mailer: Mailer,
    /// Human-readable description of the set-up, for the start-up log.
    pub summary: String,
    /// The authenticator's state store (the web demo keeps its sessions
    /// there too).
    pub state: Arc<dyn StateStore>,
    /// The application's secret key (see [`secret_key`]).
    pub secret_key: SecretKey,
    /// The app's own data about its users, in the same database.
    pub profiles: profiles::ProfileStore,
}

/// Options the examples pass in (from flags or tests).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `:memory:`, a SQLite path or URL, or a `postgres://` URL.
    pub db: String,
    /// Record console SMS and emails without printing them (tests).
    pub quiet: bool,
    /// Never use Twilio or SMTP even if their variables are set (tests).
    pub force_console: bool,
    /// Limits and lifetimes (default: [`Policy::default`]).
    pub policy: Option<Policy>,
    /// Accounts are created from an emailed link
    /// ([`Registration::EmailConfirmed`], whatever `policy` says); the web
    /// demo sets it from `REGISTRATION_CONFIRM_EMAIL`. The CLI registers
    /// at once and does not support it.
    pub confirm_email: bool,
    /// Where the authenticator's events go (default: the log).
    pub events: Option<Arc<dyn EventSink>>,
    /// The secret key, instead of `TWOFA_SECRET_KEY` or the key file
    /// (tests of several instances on one database server).
    pub secret_key: Option<SecretKey>,
    /// On PostgreSQL, keep every table (the library's and the app's) in
    /// this schema (tests: one random schema each).
    pub pg_schema: Option<String>,
    /// The name in texts and authenticator apps, instead of `APP_NAME`
    /// (the web demo's `--app-name`).
    pub app_name: Option<String>,
    /// Whether to accept Werkzeug hashes, instead of `LEGACY_HASHES` (the
    /// web demo's `--legacy-hashes`).
    pub legacy_hashes: Option<bool>,
    /// Passkeys: the relying party (the web demo's `--passkey-rp-id` and
    /// `--passkey-origin`); none without.
    #[cfg(feature = "passkeys")]
    pub passkeys: Option<twofa_verify::passkey::PasskeyConfig>,
}

/// An [`EventSink`] behind an `Arc`, for the builder.
#[derive(Debug)]
struct SharedSink(Arc<dyn EventSink>);

impl EventSink for SharedSink {
    fn emit(&self, event: &AuthEvent, context: &RequestContext) {
        self.0.emit(event, context);
    }
}

/// The database to use: `DATABASE_URL`, else `app.db`.
pub fn default_db() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "app.db".into())
}

/// Loads `.env` if present (ignored when absent).
pub fn load_dotenv() {
    let _ = dotenvy::dotenv();
}

impl Backend {
    /// Closes the database connections, waiting for them to finish (a
    /// SQLite file's `-wal` and `-shm` files are then folded in and gone).
    pub async fn close(&self) {
        self.profiles.close().await;
    }
}

/// The file of a SQLite database setting (a path, or an `sqlite:` URL
/// without its `?options`); `None` for `:memory:`, in-memory URLs and
/// database servers.
pub fn sqlite_file(db: &str) -> Option<std::path::PathBuf> {
    if db.contains("://") && !db.starts_with("sqlite:") {
        return None;
    }
    let file = db
        .strip_prefix("sqlite://")
        .or_else(|| db.strip_prefix("sqlite:"))
        .unwrap_or(db);
    let (file, options) = file.split_once('?').unwrap_or((file, ""));
    if file.is_empty() || file == ":memory:" || options.split('&').any(|o| o == "mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(file))
}

/// The file that keeps the secret key of a SQLite database setting when
/// `TWOFA_SECRET_KEY` is unset: `<db>.key` (see [`secret_key`]).
pub fn key_file(db: &str) -> Option<std::path::PathBuf> {
    if db == ":memory:" || (db.contains("://") && !db.starts_with("sqlite:")) {
        return None;
    }
    Some(std::path::PathBuf::from(format!(
        "{}.key",
        db.trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:")
    )))
}

/// Builds the backend described by `opts` and the environment.
pub async fn backend(opts: &Options) -> Result<Backend, SetupError> {
    let key = match &opts.secret_key {
        Some(k) => k.clone(),
        None => secret_key(&opts.db)?,
    };
    let app_name = match &opts.app_name {
        Some(name) => name.clone(),
        None => std::env::var("APP_NAME")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "twofa-verify demo".into()),
    };
    let mut builder = Authenticator::builder()
        .secret_key(key.clone())
        .issuer(app_name.clone());
    let legacy = match opts.legacy_hashes {
        Some(on) => on,
        None => legacy_hashes_from_env()?,
    };
    if legacy {
        // The tutorial app hashed with Werkzeug's default: PBKDF2 up to
        // Werkzeug 2.2 (at most 260000 iterations), scrypt from 2.3. The
        // bound is what every unknown-user login costs: no higher.
        builder = builder
            .legacy_verifier(
                twofa_verify::password::legacy::WerkzeugPbkdf2::new().max_iterations(260_000),
            )
            .legacy_verifier(twofa_verify::password::legacy::WerkzeugScrypt::new());
    }
    if opts.policy.is_some() || opts.confirm_email {
        let mut policy = opts.policy.clone().unwrap_or_default();
        if opts.confirm_email {
            policy.registration = Registration::EmailConfirmed;
        }
        builder = builder.policy(policy);
    }
    if let Some(sink) = &opts.events {
        builder = builder.events(SharedSink(sink.clone()));
    }
    #[cfg(feature = "passkeys")]
    if let Some(passkeys) = &opts.passkeys {
        builder = builder.passkeys(passkeys.clone());
    }
    let mut parts = Vec::new();

    let twilio = if opts.force_console {
        None
    } else {
        twilio_from_env()?
    };
    let console_sms = match twilio {
        Some(t) => {
            builder = builder.sms(t);
            parts.push("SMS: Twilio Verify".to_owned());
            None
        }
        None => {
            let sms = if opts.quiet {
                ConsoleSms::quiet()
            } else {
                ConsoleSms::new()
            };
            builder = builder.sms(LocalCodes::new(sms.clone()).app_name(app_name.clone()));
            parts.push(
                "SMS: codes printed to this console (set TWILIO_* to send real texts)".to_owned(),
            );
            Some(sms)
        }
    };

    let mailer = if opts.force_console {
        None
    } else {
        Mailer::from_env()?
    };
    let mailer = match mailer {
        Some(m) => {
            parts.push("email: SMTP".to_owned());
            m
        }
        None => {
            parts.push("email: printed to this console (set SMTP_* to send real mail)".to_owned());
            Mailer::Console(ConsoleMail {
                quiet: opts.quiet,
                ..ConsoleMail::default()
            })
        }
    };

    let (builder, state, profiles, store) =
        with_store(builder, &opts.db, opts.pg_schema.as_deref()).await?;
    parts.insert(0, format!("store: {store}"));
    Ok(Backend {
        auth: builder.build()?,
        console_sms,
        mailer,
        summary: parts.join("; "),
        state,
        secret_key: key,
        profiles,
    })
}

/// `LEGACY_HASHES=werkzeug`: accept the Werkzeug hashes of users imported
/// from the Flask tutorial app (`cli import-flask`) until their first login
/// replaces them. Off by default: every accepted format also sets what a
/// login for an unknown user costs (the slowest one).
pub fn legacy_hashes_from_env() -> Result<bool, SetupError> {
    match std::env::var("LEGACY_HASHES").unwrap_or_default().trim() {
        "" => Ok(false),
        "werkzeug" => Ok(true),
        other => Err(format!("LEGACY_HASHES={other}: the only format known is `werkzeug`").into()),
    }
}

type WithStore = (
    AuthenticatorBuilder,
    Arc<dyn StateStore>,
    profiles::ProfileStore,
    String,
);

/// The library's store for `db`, and the app's profiles beside it (in the
/// same database, over the same pool).
async fn with_store(
    builder: AuthenticatorBuilder,
    db: &str,
    pg_schema: Option<&str>,
) -> Result<WithStore, SetupError> {
    if db == ":memory:" {
        let store = MemoryStore::new();
        let state: Arc<dyn StateStore> = Arc::new(store.clone());
        let profiles = profiles::ProfileStore::in_memory().await?;
        let builder = builder.store(store.clone()).audit_store(store);
        return Ok((builder, state, profiles, "in memory".into()));
    }
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            use twofa_verify::store::PostgresStore;
            let store = match pg_schema {
                Some(schema) => PostgresStore::connect_with_schema(db, schema).await?,
                None => PostgresStore::connect(db).await?,
            };
            let state: Arc<dyn StateStore> = Arc::new(store.clone());
            let profiles = profiles::ProfileStore::postgres(store.pool().clone()).await?;
            let builder = builder.store(store.clone()).audit_store(store);
            return Ok((builder, state, profiles, "PostgreSQL".into()));
        }
        #[cfg(not(feature = "postgres"))]
        {
            let _ = pg_schema;
            return Err("a postgres:// database needs the `postgres` feature: cargo run -p axum_app --features postgres ...".into());
        }
    }
    let store = twofa_verify::store::SqliteStore::open(db).await?;
    let state: Arc<dyn StateStore> = Arc::new(store.clone());
    let profiles = profiles::ProfileStore::sqlite(store.pool().clone()).await?;
    Ok((
        builder.store(store.clone()).audit_store(store),
        state,
        profiles,
        format!("SQLite file {db}"),
    ))
}

/// Twilio Verify from the `TWILIO_*` variables. As in the Flask tutorial,
/// a code that cannot go out by text message (a landline, SMS disabled for
/// the number's country) is read out by a voice call: see
/// [`adds_call_fallback`].
#[cfg(feature = "twilio")]
fn twilio_from_env() -> Result<Option<twofa_verify::factor::TwilioVerify>, SetupError> {
    use twofa_verify::factor::{Channel, TwilioVerify};
    let Some(mut builder) = TwilioVerify::builder_from_env()? else {
        return Ok(None);
    };
    let var = |k: &str| std::env::var(k).ok();
    if adds_call_fallback(
        var("TWILIO_VERIFY_FALLBACK_CHANNEL").as_deref(),
        var("TWILIO_VERIFY_CHANNEL").as_deref(),
    ) {
        builder = builder.fallback_channel(Channel::Call);
    }
    // The HTTPS client's crypto provider is the app's choice: the demo
    // takes aws-lc-rs (rustls' default).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(Some(builder.build()?))
}

/// Whether the examples give Twilio Verify the `call` fallback channel:
/// unless `TWILIO_VERIFY_FALLBACK_CHANNEL` (`fallback`) names one, or the
/// primary channel (`TWILIO_VERIFY_CHANNEL`, `channel`) is `call` already.
#[cfg(feature = "twilio")]
fn adds_call_fallback(fallback: Option<&str>, channel: Option<&str>) -> bool {
    let set = |v: Option<&str>| v.is_some_and(|v| !v.trim().is_empty());
    let primary_is_call = channel.is_some_and(|c| c.trim().eq_ignore_ascii_case("call"));
    !set(fallback) && !primary_is_call
}

#[cfg(all(test, feature = "twilio"))]
mod tests {
    #[test]
    fn the_call_fallback_is_on_unless_configured_otherwise() {
        use super::adds_call_fallback as adds;
        assert!(adds(None, None));
        assert!(adds(Some(" "), Some("sms")));
        assert!(!adds(Some("whatsapp"), None));
        assert!(
            !adds(Some("call"), None),
            "set explicitly: from_env does it"
        );
        assert!(!adds(None, Some("CALL")));
    }
}

#[cfg(not(feature = "twilio"))]
fn twilio_from_env() -> Result<Option<LocalCodes<ConsoleSms>>, SetupError> {
    Ok(None)
}

/// The secret key: `TWOFA_SECRET_KEY` (64 hex characters, see
/// [`SecretKey::from_env`]), else a random key kept in hex in a file beside
/// the database (`<db>.key`, created on first run), so restarts keep reset
/// links and authenticator apps working. An in-memory database gets a
/// fresh random key.
pub fn secret_key(db: &str) -> Result<SecretKey, SetupError> {
    match SecretKey::from_env("TWOFA_SECRET_KEY") {
        Err(SecretKeyError::Missing { .. }) => {}
        key => return Ok(key.map_err(|e| format!("TWOFA_SECRET_KEY: {e}"))?),
    }
    if db == ":memory:" {
        return Ok(SecretKey::generate());
    }
    let Some(path) = key_file(db) else {
        return Err("set TWOFA_SECRET_KEY (64 hex characters) when using a database server, so every instance shares it".into());
    };
    let path = path.as_path();
    if let Ok(text) = std::fs::read_to_string(path) {
        return SecretKey::from_hex(&text).map_err(|e| format!("{}: {e}", path.display()).into());
    }
    let key = SecretKey::generate();
    write_private(path, key.to_hex().expose_secret().as_bytes())?;
    Ok(key)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(data)
}

/// An email the console mailer "sent".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMail {
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Prints emails and keeps them in an outbox tests can read.
#[derive(Clone, Default)]
pub struct ConsoleMail {
    outbox: Arc<Mutex<Vec<SentMail>>>,
    quiet: bool,
}

impl ConsoleMail {
    /// Every email so far.
    pub fn messages(&self) -> Vec<SentMail> {
        self.outbox.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Where the examples send email.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // one per process
pub enum Mailer {
    /// Printed to the console.
    Console(ConsoleMail),
    /// Sent over SMTP with lettre.
    Smtp {
        /// The transport.
        transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        /// The sender.
        from: lettre::message::Mailbox,
    },
}

impl Mailer {
    /// SMTP from `SMTP_HOST`, `SMTP_PORT` (587), `SMTP_USERNAME`,
    /// `SMTP_PASSWORD`, `SMTP_FROM`, `SMTP_TLS` (`starttls`, `tls` or `none`);
    /// `None` when `SMTP_HOST` is unset.
    pub fn from_env() -> Result<Option<Self>, SetupError> {
        use lettre::transport::smtp::authentication::Credentials;
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        let Some(host) = var("SMTP_HOST") else {
            return Ok(None);
        };
        let from: lettre::message::Mailbox = var("SMTP_FROM")
            .ok_or("SMTP_FROM is required when SMTP_HOST is set")?
            .parse()
            .map_err(|_| "SMTP_FROM is not a valid address")?;
        let tls = var("SMTP_TLS").unwrap_or_else(|| "starttls".into());
        let mut b = match tls.as_str() {
            "starttls" => {
                lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::starttls_relay(&host)?
            }
            "tls" => lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::relay(&host)?,
            "none" => {
                lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(&host)
            }
            _ => return Err("SMTP_TLS must be starttls, tls or none".into()),
        };
        if let Some(port) = var("SMTP_PORT") {
            b = b.port(port.parse().map_err(|_| "SMTP_PORT must be a number")?);
        }
        if let (Some(u), Some(p)) = (var("SMTP_USERNAME"), var("SMTP_PASSWORD")) {
            b = b.credentials(Credentials::new(u, p));
        }
        Ok(Some(Mailer::Smtp {
            transport: b.build(),
            from,
        }))
    }

    /// Sends a plain-text email.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), SetupError> {
        match self {
            Mailer::Console(c) => {
                if !c.quiet {
                    println!("[email to {to}] {subject}\n{body}\n[end of email]");
                }
                if let Ok(mut v) = c.outbox.lock() {
                    v.push(SentMail {
                        to: to.into(),
                        subject: subject.into(),
                        body: body.into(),
                    });
                }
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                use lettre::AsyncTransport;
                let msg = lettre::Message::builder()
                    .from(from.clone())
                    .to(to.parse().map_err(|_| "invalid recipient address")?)
                    .subject(subject)
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(body.to_owned())?;
                transport.send(msg).await?;
                Ok(())
            }
        }
    }

    /// The console outbox, when emails are printed.
    pub fn console(&self) -> Option<&ConsoleMail> {
        match self {
            Mailer::Console(c) => Some(c),
            Mailer::Smtp { .. } => None,
        }
    }
}
