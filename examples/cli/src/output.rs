//! What a command returns: an outcome or an error, each with an exit code,
//! rendered as text or as one JSON object.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The process exit status, documented in `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// Bad input: arguments, email, username, phone, weak password, malformed code.
    BadInput = 2,
    /// Authentication failed: wrong password or code, not logged in, expired.
    Auth = 3,
    /// Rate limited or locked: try again later.
    Limited = 4,
    /// Provider, store or configuration error.
    Service = 5,
    /// Waiting for a code: run the same command again with `--code`.
    Pending = 6,
}

impl Exit {
    /// The numeric status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A command's result.
#[derive(Debug)]
pub struct Outcome {
    /// Machine-readable status, e.g. `logged_in`, `code_sent`.
    pub status: &'static str,
    /// True when the command waits for a code (exit 6).
    pub pending: bool,
    /// Extra fields of the JSON object.
    pub data: Map<String, Value>,
    /// What a person reads.
    pub text: String,
}

impl Outcome {
    /// A finished command.
    pub fn done(status: &'static str, text: impl Into<String>) -> Self {
        Outcome {
            status,
            pending: false,
            data: Map::new(),
            text: text.into(),
        }
    }

    /// A command waiting for a code.
    pub fn pending(status: &'static str, text: impl Into<String>) -> Self {
        Outcome {
            pending: true,
            ..Outcome::done(status, text)
        }
    }

    /// Adds a JSON field.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        self.data.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// The field, if set (tests).
    #[cfg(test)]
    pub fn get(&self, key: &str) -> &Value {
        self.data.get(key).unwrap_or(&Value::Null)
    }

    /// The exit status.
    pub fn exit(&self) -> Exit {
        if self.pending {
            Exit::Pending
        } else {
            Exit::Ok
        }
    }

    /// The JSON object printed with `--json`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("ok".into(), Value::Bool(true));
        m.insert("status".into(), Value::String(self.status.into()));
        m.insert("pending".into(), Value::Bool(self.pending));
        m.insert("exit_code".into(), json!(self.exit().code()));
        for (k, v) in &self.data {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// A failed command.
#[derive(Debug)]
pub struct CliError {
    /// Machine-readable kind, e.g. `invalid_credentials`.
    pub kind: &'static str,
    /// Safe to show.
    pub message: String,
    /// The exit status.
    pub exit: Exit,
    /// For rate limits and locks.
    pub retry_after: Option<Duration>,
    /// For wrong codes.
    pub attempts_left: Option<u32>,
}

impl CliError {
    /// An error of this kind and status.
    pub fn new(kind: &'static str, exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            exit,
            retry_after: None,
            attempts_left: None,
        }
    }

    /// Bad input (exit 2).
    pub fn bad_input(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(kind, Exit::BadInput, message)
    }

    /// Authentication failure (exit 3).
    pub fn auth(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(kind, Exit::Auth, message)
    }

    /// Our side failed (exit 5).
    pub fn service(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(kind, Exit::Service, message)
    }

    /// The JSON object printed with `--json`.
    pub fn to_json(&self) -> Value {
        let mut e = Map::new();
        e.insert("kind".into(), Value::String(self.kind.into()));
        e.insert("message".into(), Value::String(self.message.clone()));
        if let Some(d) = self.retry_after {
            e.insert("retry_after_secs".into(), json!(d.as_secs().max(1)));
        }
        if let Some(n) = self.attempts_left {
            e.insert("attempts_left".into(), json!(n));
        }
        json!({ "ok": false, "exit_code": self.exit.code(), "error": e })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<twofa_verify::Error> for CliError {
    fn from(e: twofa_verify::Error) -> Self {
        use twofa_verify::Error as E;
        let (kind, exit) = match &e {
            E::InvalidCredentials => ("invalid_credentials", Exit::Auth),
            E::InvalidCode { .. } => ("invalid_code", Exit::Auth),
            E::CodeAlreadyUsed { .. } => ("code_already_used", Exit::Auth),
            E::ChallengeExpired => ("expired", Exit::Auth),
            E::ChallengeNotFound => ("no_pending_login", Exit::Auth),
            E::TooManyAttempts => ("too_many_attempts", Exit::Auth),
            E::Delayed { .. } => ("delayed", Exit::Limited),
            E::Locked { .. } => ("locked", Exit::Limited),
            E::RateLimited { .. } => ("rate_limited", Exit::Limited),
            E::WeakPassword(_) => ("weak_password", Exit::BadInput),
            E::InvalidUsername(_) => ("invalid_username", Exit::BadInput),
            E::InvalidEmail => ("invalid_email", Exit::BadInput),
            E::UsernameTaken => ("username_taken", Exit::BadInput),
            E::EmailTaken => ("email_taken", Exit::BadInput),
            E::InvalidPhoneNumber(_) => ("invalid_phone", Exit::BadInput),
            E::MalformedCode => ("malformed_code", Exit::BadInput),
            E::InvalidResetToken => ("invalid_reset_token", Exit::Auth),
            E::InvalidConfirmationToken => ("invalid_confirmation_token", Exit::Auth),
            E::UserNotFound => ("user_not_found", Exit::Auth),
            E::StepUpRequired => ("step_up_required", Exit::Auth),
            E::FactorUnavailable(_) => ("factor_unavailable", Exit::BadInput),
            E::Provider(_) => ("provider_error", Exit::Service),
            E::Store(_) => ("store_error", Exit::Service),
            E::Config(_) => ("config_error", Exit::Service),
            E::Internal(_) => ("internal_error", Exit::Service),
            E::InvalidOperator(_) => ("invalid_operator", Exit::BadInput),
            _ if e.is_user_error() => ("error", Exit::BadInput),
            _ => ("error", Exit::Service),
        };
        CliError {
            kind,
            message: e.to_string(),
            exit,
            retry_after: e.retry_after(),
            attempts_left: match e {
                E::InvalidCode { attempts_left } | E::CodeAlreadyUsed { attempts_left } => {
                    Some(attempts_left)
                }
                _ => None,
            },
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::service("io_error", format!("I/O error: {e}"))
    }
}
