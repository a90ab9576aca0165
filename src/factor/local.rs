//! Codes made by the library and sent as text through any [`SmsSender`].

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rand::RngExt;

use super::{SentVerification, SmsContext, SmsVerifier};
use crate::crypto::{ct_eq, random_token};
use crate::error::{Error, Result};

/// Delivers a text message. Implement it for Twilio Messaging, another SMS
/// gateway, or anything else; [`ConsoleSms`] prints to the console.
#[async_trait]
pub trait SmsSender: Send + Sync + fmt::Debug {
    /// Sends `body` to `to` (E.164).
    async fn send_sms(&self, to: &str, body: &str) -> Result<()>;

    /// Reads `message` out by a voice call to `to` (E.164): what
    /// [`LocalCodes`] does for a number known to be a landline
    /// ([`LineType::FixedLine`](super::LineType::FixedLine), feature
    /// `phone-numbers`), which a text would not reach. Returns the channel
    /// it went out on, as [`SentVerification::channel`] tells it: `"call"`.
    ///
    /// The default, for a gateway that cannot call, sends `message` as a
    /// text (some carriers read texts to landlines aloud) and returns
    /// `"sms"`.
    async fn call(&self, to: &str, message: &str) -> Result<&'static str> {
        self.send_sms(to, message).await.map(|()| "sms")
    }
}

/// A message [`ConsoleSms`] "sent".
#[derive(Clone, PartialEq, Eq)]
pub struct SentSms {
    /// The E.164 destination.
    pub to: String,
    /// The text, including the code.
    pub body: String,
    /// How it went out: `"sms"`, or `"call"` for a message read out by a
    /// voice call ([`SmsSender::call`]: a landline).
    pub channel: &'static str,
}

impl SentSms {
    /// The first run of 6 digits in the body, if any: the code.
    pub fn code(&self) -> Option<&str> {
        let b = self.body.as_bytes();
        (0..b.len().saturating_sub(5)).find_map(|i| {
            let w = &b[i..i + 6];
            let before_ok = i == 0 || !b[i - 1].is_ascii_digit();
            let after_ok = b.get(i + 6).is_none_or(|c| !c.is_ascii_digit());
            (w.iter().all(u8::is_ascii_digit) && before_ok && after_ok)
                .then(|| &self.body[i..i + 6])
        })
    }
}

impl fmt::Debug for SentSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SentSms")
            .field("to", &crate::user::mask_phone(&self.to))
            .field("body", &"[redacted]")
            .field("channel", &self.channel)
            .finish()
    }
}

/// Prints each message to standard output (the examples' zero-config
/// default: `[sms to +14155552671] Your ... code is ...`, and
/// `[call to ...]` for a message a landline would get by voice call) and
/// keeps it in an outbox that tests can read.
#[derive(Clone, Default)]
pub struct ConsoleSms {
    outbox: Arc<Mutex<Vec<SentSms>>>,
    quiet: bool,
}

impl fmt::Debug for ConsoleSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSms")
            .field("quiet", &self.quiet)
            .finish_non_exhaustive()
    }
}

impl ConsoleSms {
    /// Prints and records.
    pub fn new() -> Self {
        Self::default()
    }
    /// Records without printing (for tests).
    pub fn quiet() -> Self {
        ConsoleSms {
            quiet: true,
            ..Self::default()
        }
    }
    /// Every message sent so far, oldest first.
    pub fn messages(&self) -> Vec<SentSms> {
        self.outbox.lock().map(|v| v.clone()).unwrap_or_default()
    }
    /// The code of the newest message to `to`.
    pub fn last_code_for(&self, to: &str) -> Option<String> {
        let msgs = self.messages();
        msgs.iter()
            .rev()
            .find(|m| m.to == to)
            .and_then(|m| m.code().map(str::to_owned))
    }
}

impl ConsoleSms {
    fn record(&self, to: &str, body: &str, channel: &'static str) -> Result<()> {
        if !self.quiet {
            println!("[{channel} to {to}] {body}");
        }
        let mut v = self
            .outbox
            .lock()
            .map_err(|_| Error::Internal("outbox lock poisoned".into()))?;
        if v.len() >= 1000 {
            v.remove(0);
        }
        v.push(SentSms {
            to: to.to_owned(),
            body: body.to_owned(),
            channel,
        });
        Ok(())
    }
}

#[async_trait]
impl SmsSender for ConsoleSms {
    async fn send_sms(&self, to: &str, body: &str) -> Result<()> {
        self.record(to, body, "sms")
    }

    async fn call(&self, to: &str, message: &str) -> Result<&'static str> {
        self.record(to, message, "call").map(|()| "call")
    }
}

/// Six-digit codes made by the library (CSPRNG), kept only as keyed hashes
/// with an expiry in the state store, and sent through an [`SmsSender`].
/// Each send replaces the previous code; a code works once. A number known
/// to be a landline ([`LineType`](super::LineType), feature
/// `phone-numbers`) gets its code through [`SmsSender::call`], and
/// [`SentVerification::channel`] says how it went out.
pub struct LocalCodes<S> {
    sender: S,
    app_name: String,
}

impl<S: fmt::Debug> fmt::Debug for LocalCodes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCodes")
            .field("sender", &self.sender)
            .field("app_name", &self.app_name)
            .finish()
    }
}

impl<S: SmsSender> LocalCodes<S> {
    /// Codes sent through `sender`; the text names the app as "twofa-verify"
    /// until [`app_name`](Self::app_name) is set.
    pub fn new(sender: S) -> Self {
        LocalCodes {
            sender,
            app_name: "twofa-verify".into(),
        }
    }
    /// The app name shown in the message.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }
    /// The sender.
    pub fn sender(&self) -> &S {
        &self.sender
    }
}

fn key(ctx: &SmsContext<'_>, handle: &str) -> String {
    ctx.hasher.state_key("lc", handle.as_bytes())
}

fn digest(ctx: &SmsContext<'_>, handle: &str, phone: &str, code: &str) -> [u8; 32] {
    ctx.hasher.mac_parts(
        b"local-code",
        &[handle.as_bytes(), phone.as_bytes(), code.as_bytes()],
    )
}

#[async_trait]
impl<S: SmsSender> SmsVerifier for LocalCodes<S> {
    async fn send(&self, phone: &str, ctx: &SmsContext<'_>) -> Result<SentVerification> {
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let handle = random_token::<16>();
        let k = key(ctx, &handle);
        ctx.state
            .put(
                &k,
                &digest(ctx, &handle, phone, &code),
                ctx.now.plus(ctx.code_ttl),
            )
            .await?;
        let body = format!(
            "Your {} verification code is {code}. It expires in {} minutes.",
            self.app_name,
            ctx.code_ttl.as_secs().div_ceil(60)
        );
        let sent = if super::LineType::of(phone).is_fixed_line() {
            self.sender.call(phone, &body).await.map(Some)
        } else {
            self.sender.send_sms(phone, &body).await.map(|()| None)
        };
        match sent {
            Ok(None) => Ok(SentVerification::new(handle)),
            Ok(Some(channel)) => Ok(SentVerification::new(handle).with_channel(channel)),
            Err(e) => {
                ctx.state.delete(&k).await?;
                Err(e)
            }
        }
    }

    async fn check(
        &self,
        phone: &str,
        handle: &str,
        code: &str,
        ctx: &SmsContext<'_>,
    ) -> Result<()> {
        let k = key(ctx, handle);
        let Some(stored) = ctx.state.get(&k, ctx.now).await? else {
            return Err(Error::ChallengeExpired);
        };
        if !ct_eq(&stored, &digest(ctx, handle, phone, code)) {
            return Err(Error::WrongCode);
        }
        // Single use: of concurrent right answers exactly one takes it.
        match ctx.state.take(&k, ctx.now).await? {
            Some(_) => Ok(()),
            None => Err(Error::ChallengeExpired),
        }
    }

    async fn cancel(&self, _phone: &str, handle: &str, ctx: &SmsContext<'_>) -> Result<()> {
        ctx.state.delete(&key(ctx, handle)).await
    }
}
