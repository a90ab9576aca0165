//! The demo's settings: flags, each with an environment variable (also read
//! from a `.env` file) and a zero-configuration default, parsed by clap.
//! Twilio, SMTP and the secret key stay in the environment only (secrets do
//! not belong on a command line): see `.env.template`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::builder::BoolishValueParser;
use clap::{CommandFactory, Parser, ValueEnum};

use super::Config;

/// The twofa-verify demo site: the Flask tutorial's app on axum.
#[derive(Debug, Parser)]
#[command(
    name = "axum_app",
    version,
    after_help = "Twilio (TWILIO_*), SMTP (SMTP_*) and the secret key (TWOFA_SECRET_KEY) \
                  come from the environment or a .env file: see .env.template."
)]
pub struct Args {
    /// Address to listen on; may carry its own port (0.0.0.0:8080)
    #[arg(long, env = "BIND", value_name = "ADDRESS", default_value = "127.0.0.1", value_parser = parse_bind)]
    pub bind: Bind,
    /// Port to listen on (0: any free port)
    #[arg(long, env = "PORT", default_value_t = 8000)]
    pub port: u16,
    /// Database: ':memory:', a SQLite file or URL, or a postgres:// URL
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE",
        default_value = "app.db"
    )]
    pub db: String,
    /// Where the site is reached, for the links in emails
    /// [default: http://ADDRESS:PORT as served]
    #[arg(long, env = "BASE_URL", value_name = "URL", value_parser = parse_base_url)]
    pub base_url: Option<String>,
    /// Name shown in the pages, the emails and the authenticator app
    #[arg(
        long,
        env = "APP_NAME",
        value_name = "NAME",
        default_value = "twofa-verify demo",
        value_parser = parse_app_name
    )]
    pub app_name: String,
    /// Mark the cookies Secure (HTTPS only) [default: on when the base URL
    /// is https://]
    #[arg(long, env = "COOKIE_SECURE", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub cookie_secure: Option<bool>,
    /// Take the client's address from the right-most X-Forwarded-For entry:
    /// only behind a reverse proxy that appends it
    #[arg(long, env = "TRUST_PROXY", value_name = "BOOL", num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub trust_proxy: bool,
    /// Create accounts from an emailed confirmation link
    #[arg(long, env = "REGISTRATION_CONFIRM_EMAIL", value_name = "BOOL", num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub registration_confirm_email: bool,
    /// Also accept these password hashes (users imported from the Flask
    /// app), replaced by Argon2id at each user's first login
    #[arg(long, env = "LEGACY_HASHES", value_enum, value_name = "FORMAT")]
    pub legacy_hashes: Option<LegacyHashes>,
    /// The country preselected for phone numbers (ISO 3166-1 code such as
    /// GB); a number typed with +country code ignores it
    #[arg(
        long,
        env = "DEFAULT_PHONE_COUNTRY",
        value_name = "CODE",
        default_value = "US",
        value_parser = parse_country
    )]
    pub default_phone_country: String,
    /// Require a second factor of every user: after the grace period a
    /// sign-in without one leads to the enrollment pages only
    #[arg(long = "require-2fa", env = "REQUIRE_2FA", value_name = "BOOL", num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub require_2fa: bool,
    /// With --require-2fa: days from a user's first sign-in under the
    /// requirement during which the password alone still signs in
    #[arg(long = "require-2fa-grace-days", env = "REQUIRE_2FA_GRACE_DAYS", value_name = "DAYS",
          value_parser = clap::value_parser!(u32).range(1..=366))]
    pub require_2fa_grace_days: Option<u32>,
    /// With --require-2fa: sign-ins with the password alone before
    /// enrollment is required (with grace days too, whichever ends first)
    #[arg(long = "require-2fa-grace-logins", env = "REQUIRE_2FA_GRACE_LOGINS", value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub require_2fa_grace_logins: Option<u32>,
    /// Serve the authenticator's counters as Prometheus text at
    /// http://127.0.0.1:METRICS_PORT/metrics (loopback only)
    #[arg(long, env = "METRICS", value_name = "BOOL", num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = BoolishValueParser::new())]
    pub metrics: bool,
    /// The port of the metrics listener on 127.0.0.1
    #[arg(long, env = "METRICS_PORT", default_value_t = 9464)]
    pub metrics_port: u16,
    /// Passkeys' relying-party id: the site's domain (browsers refuse an
    /// IP address; open the demo at http://localhost:PORT)
    #[arg(
        long,
        env = "PASSKEY_RP_ID",
        value_name = "DOMAIN",
        default_value = "localhost"
    )]
    pub passkey_rp_id: String,
    /// The origin pages using passkeys are opened at [default:
    /// http://RP_ID:PORT as served]
    #[arg(long, env = "PASSKEY_ORIGIN", value_name = "URL")]
    pub passkey_origin: Option<String>,
}

impl Args {
    /// The policy the flags ask for, if any differs from the default
    /// (`--require-2fa`).
    pub fn policy(&self) -> Option<twofa_verify::Policy> {
        if !self.require_2fa {
            return None;
        }
        let mut rule = twofa_verify::policy::SecondFactorRequirement::everyone();
        if let Some(days) = self.require_2fa_grace_days {
            rule = rule.grace_period(std::time::Duration::from_secs(u64::from(days) * 24 * 3600));
        }
        if let Some(n) = self.require_2fa_grace_logins {
            rule = rule.grace_sign_ins(n);
        }
        let mut policy = twofa_verify::Policy::default();
        policy.second_factor_required = Some(rule);
        Some(policy)
    }

    /// The passkeys' relying party once listening on `local`: the RP id,
    /// and the origin (by default `http://RP_ID:PORT`). An IP address as
    /// RP id is refused here, with the way out.
    #[cfg(feature = "passkeys")]
    pub fn passkeys(
        &self,
        local: SocketAddr,
    ) -> Result<twofa_verify::passkey::PasskeyConfig, String> {
        let rp_id = self.passkey_rp_id.trim();
        if rp_id.parse::<IpAddr>().is_ok() || rp_id.starts_with('[') {
            return Err(format!(
                "--passkey-rp-id {rp_id}: browsers refuse an IP address as a passkey's site; \
                 use a domain (open the demo at http://localhost:{} for the default `localhost`)",
                local.port()
            ));
        }
        let origin = self
            .passkey_origin
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map_or_else(
                || format!("http://{rp_id}:{}", local.port()),
                |o| o.trim_end_matches('/').to_owned(),
            );
        twofa_verify::passkey::PasskeyConfig::builder()
            .rp_id(rp_id)
            .rp_name(self.app_name.clone())
            .origin(origin)
            .build()
            .map_err(|e| format!("passkeys: {e}"))
    }
}

/// `--default-phone-country`: a country of the phone page's list.
fn parse_country(s: &str) -> Result<String, String> {
    crate::phone::country(s)
        .map(str::to_owned)
        .ok_or_else(|| format!("not an ISO 3166-1 country code with a numbering plan: {s:?}"))
}

/// Removes the variables of [`Args`] that are set but blank: an empty
/// variable means "unset" (`.env.template` lists each one empty), where
/// clap would take it as an empty value and refuse it or override the
/// default. Call it before any other thread runs (see `std::env::remove_var`).
pub fn unset_empty_env() {
    for arg in Args::command().get_arguments() {
        let Some(name) = arg.get_env() else {
            continue;
        };
        if std::env::var_os(name).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
            // SAFETY: called from `main` before the runtime or any other
            // thread starts, so nothing reads the environment meanwhile.
            unsafe { std::env::remove_var(name) };
        }
    }
}

/// Legacy password-hash formats the demo can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LegacyHashes {
    /// Werkzeug's pbkdf2 and scrypt hashes (the Flask tutorial's users).
    Werkzeug,
}

/// `--bind`: an address, with or without its own port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// An address; the port comes from `--port`.
    Ip(IpAddr),
    /// An address with its port (`--port` is then ignored).
    Socket(SocketAddr),
}

fn parse_bind(s: &str) -> Result<Bind, String> {
    let s = s.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(Bind::Socket(sa));
    }
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(Bind::Ip)
        .map_err(|_| format!("not an IP address (or ADDRESS:PORT): {s:?}"))
}

/// `--base-url`: an `http` or `https` URL of a host, nothing after its
/// path, since every email link is built on it (empty: the default). A
/// `javascript:` URL, a typo without a scheme, or one with a query or
/// user name would go out in every email otherwise.
fn parse_base_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(String::new());
    }
    let u = url::Url::parse(s).map_err(|e| format!("not a URL ({e}): {s:?}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(format!("not an http:// or https:// URL of a host: {s:?}"));
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err(format!(
            "the base URL takes no query, fragment or user name: {s:?}"
        ));
    }
    Ok(s.to_owned())
}

/// `--app-name`: one line of at most 100 characters without ':' (it goes
/// into page titles, email subjects and the authenticator app's issuer).
fn parse_app_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 100 {
        return Err("the name must be 1 to 100 characters".into());
    }
    if s.chars().any(char::is_control) || s.contains(':') {
        return Err(format!(
            "the name must be one line without control characters or ':': {s:?}"
        ));
    }
    Ok(s.to_owned())
}

impl Args {
    /// The address to listen on.
    pub fn addr(&self) -> SocketAddr {
        match self.bind {
            Bind::Socket(sa) => sa,
            Bind::Ip(ip) => SocketAddr::new(ip, self.port),
        }
    }

    /// The site's settings once listening on `local` (the base URL
    /// defaults to it; 0.0.0.0 shows as 127.0.0.1).
    pub fn config(&self, local: SocketAddr) -> Config {
        let shown = if local.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port())
        } else {
            local
        };
        let base_url = self
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map_or_else(|| format!("http://{shown}"), str::to_owned)
            .trim_end_matches('/')
            .to_owned();
        Config {
            app_name: self.app_name.clone(),
            cookie_secure: self
                .cookie_secure
                .unwrap_or_else(|| base_url.starts_with("https://")),
            base_url,
            trust_proxy: self.trust_proxy,
            default_phone_country: self.default_phone_country.clone(),
            metrics: self.metrics,
        }
    }
}
