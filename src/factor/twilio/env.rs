//! [`TwilioVerify::from_env`]: the provider from environment variables
//! (and [`TwilioVerify::builder_from_env`], its builder).

use secrecy::SecretString;

use super::{Channel, TwilioVerify, TwilioVerifyBuilder};
use crate::error::{Error, Result};

const ENV_ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
const ENV_AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
const ENV_SERVICE_SID: &str = "TWILIO_VERIFY_SERVICE_SID";
const ENV_API_KEY_SID: &str = "TWILIO_API_KEY_SID";
const ENV_API_KEY_SECRET: &str = "TWILIO_API_KEY_SECRET";
const ENV_CHANNEL: &str = "TWILIO_VERIFY_CHANNEL";
const ENV_FALLBACK_CHANNEL: &str = "TWILIO_VERIFY_FALLBACK_CHANNEL";

impl TwilioVerify {
    /// Builds the provider from the environment: `TWILIO_ACCOUNT_SID`,
    /// `TWILIO_AUTH_TOKEN` and `TWILIO_VERIFY_SERVICE_SID`; optionally
    /// `TWILIO_API_KEY_SID` + `TWILIO_API_KEY_SECRET` (used instead of the
    /// auth token when both are set), `TWILIO_VERIFY_CHANNEL` (`sms`,
    /// `call`, `whatsapp`) and `TWILIO_VERIFY_FALLBACK_CHANNEL` (the same
    /// values; see [`TwilioVerifyBuilder::fallback_channel`]).
    ///
    /// `Ok(None)` when none of these variables is set (empty counts as
    /// unset), so an app can fall back to another provider;
    /// `Err(Error::Config)` when only some are set or a value is malformed.
    ///
    /// ```no_run
    /// use twofa_verify::factor::{ConsoleSms, LocalCodes, TwilioVerify};
    /// use twofa_verify::{Authenticator, MemoryStore, SecretKey};
    /// # fn main() -> twofa_verify::Result<()> {
    /// let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    /// let builder = Authenticator::builder()
    ///     .store(MemoryStore::new())
    ///     .secret_key(SecretKey::from_env("TWOFA_SECRET_KEY")?);
    /// // Twilio when it is configured, codes on the console otherwise.
    /// let builder = match TwilioVerify::from_env()? {
    ///     Some(twilio) => builder.sms(twilio),
    ///     None => builder.sms(LocalCodes::new(ConsoleSms::new())),
    /// };
    /// let auth = builder.build()?;
    /// # let _ = auth;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`TwilioVerifyBuilder::fallback_channel`]: super::TwilioVerifyBuilder::fallback_channel
    pub fn from_env() -> Result<Option<TwilioVerify>> {
        Self::builder_from_env()?
            .map(TwilioVerifyBuilder::build)
            .transpose()
    }

    /// The builder [`from_env`](Self::from_env) builds, for an app that
    /// sets more on it (a default fallback channel, an HTTP client) before
    /// [`build`](TwilioVerifyBuilder::build). The same variables and the
    /// same errors, except those of `build` itself.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use twofa_verify::factor::{Channel, TwilioVerify};
    /// # fn main() -> twofa_verify::Result<()> {
    /// if let Some(builder) = TwilioVerify::builder_from_env()? {
    ///     let twilio = builder
    ///         .fallback_channel(Channel::Call) // landlines get a call
    ///         .timeout(Duration::from_secs(5))
    ///         .build()?;
    ///     # let _ = twilio;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder_from_env() -> Result<Option<TwilioVerifyBuilder>> {
        let get = |name: &str| -> Result<Option<String>> {
            match std::env::var(name) {
                Ok(v) if v.trim().is_empty() => Ok(None),
                Ok(v) => Ok(Some(v.trim().to_owned())),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    Err(Error::Config(format!("{name} is not valid UTF-8")))
                }
            }
        };
        let account_sid = get(ENV_ACCOUNT_SID)?;
        let auth_token = get(ENV_AUTH_TOKEN)?;
        let service_sid = get(ENV_SERVICE_SID)?;
        let key_sid = get(ENV_API_KEY_SID)?;
        let key_secret = get(ENV_API_KEY_SECRET)?;
        let channel = get(ENV_CHANNEL)?;
        let fallback_channel = get(ENV_FALLBACK_CHANNEL)?;

        let any = account_sid.is_some()
            || auth_token.is_some()
            || service_sid.is_some()
            || key_sid.is_some()
            || key_secret.is_some()
            || channel.is_some()
            || fallback_channel.is_some();
        if !any {
            return Ok(None);
        }

        let mut missing = Vec::new();
        if account_sid.is_none() {
            missing.push(ENV_ACCOUNT_SID);
        }
        if service_sid.is_none() {
            missing.push(ENV_SERVICE_SID);
        }
        match (&key_sid, &key_secret) {
            (Some(_), None) => missing.push(ENV_API_KEY_SECRET),
            (None, Some(_)) => missing.push(ENV_API_KEY_SID),
            (None, None) if auth_token.is_none() => missing.push(ENV_AUTH_TOKEN),
            _ => {}
        }
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "Twilio Verify is partly configured: {} not set",
                missing.join(", ")
            )));
        }

        let mut builder = TwilioVerify::builder();
        if let Some(sid) = account_sid {
            builder = builder.account_sid(sid);
        }
        if let Some(sid) = service_sid {
            builder = builder.service_sid(sid);
        }
        builder = match (key_sid, key_secret, auth_token) {
            (Some(sid), Some(secret), _) => builder.api_key(sid, SecretString::from(secret)),
            (_, _, Some(token)) => builder.auth_token(SecretString::from(token)),
            // Unreachable: checked above. Let `build` report it.
            _ => builder,
        };
        if let Some(channel) = channel {
            builder = builder.channel(parse_channel(ENV_CHANNEL, &channel)?);
        }
        if let Some(channel) = fallback_channel {
            builder = builder.fallback_channel(parse_channel(ENV_FALLBACK_CHANNEL, &channel)?);
        }
        Ok(Some(builder))
    }
}

/// A channel from the variable `name`; the error names the variable.
fn parse_channel(name: &str, value: &str) -> Result<Channel> {
    value.parse().map_err(|_| {
        Error::Config(format!(
            "{name} is not a Twilio Verify channel; expected `sms`, `call` or `whatsapp`"
        ))
    })
}
