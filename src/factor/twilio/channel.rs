//! [`Channel`]: how Twilio delivers the code.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// How Twilio delivers the code, set with
/// [`TwilioVerifyBuilder::channel`](super::TwilioVerifyBuilder::channel)
/// (see the [`TwilioVerifyBuilder`](super::TwilioVerifyBuilder) example)
/// or `TWILIO_VERIFY_CHANNEL`
/// ([`TwilioVerify::from_env`](super::TwilioVerify::from_env)).
///
/// ```
/// use twofa_verify::factor::Channel;
/// assert_eq!("Voice".parse::<Channel>()?, Channel::Call);
/// assert_eq!(Channel::Whatsapp.as_str(), "whatsapp");
/// assert_eq!(Channel::default().to_string(), "sms");
/// assert!("pigeon".parse::<Channel>().is_err());
/// # Ok::<(), twofa_verify::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// A text message (the default).
    #[default]
    Sms,
    /// A voice call reading the code out (works for landlines).
    Call,
    /// A WhatsApp message.
    Whatsapp,
}

impl Channel {
    /// The value of Twilio's `Channel` parameter: `sms`, `call` or
    /// `whatsapp` (see the [`Channel`] example).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "call",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = Error;

    /// Parses `sms`, `call` or `whatsapp` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sms" => Ok(Channel::Sms),
            "call" | "voice" => Ok(Channel::Call),
            "whatsapp" => Ok(Channel::Whatsapp),
            _ => Err(Error::Config(
                "unknown Twilio Verify channel; expected `sms`, `call` or `whatsapp`".into(),
            )),
        }
    }
}
