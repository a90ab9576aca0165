//! [`LineType`]: whether a phone number is a mobile or a landline, as far
//! as the numbering plans tell, so that a landline's code is read out by a
//! voice call instead of texted in vain.

/// The kind of line a phone number is on, as far as libphonenumber's
/// numbering plans tell (feature `phone-numbers`).
///
/// [`TwilioVerify`](crate::factor::TwilioVerify) and
/// [`LocalCodes`](crate::factor::LocalCodes) call a number known to be a
/// [`FixedLine`](Self::FixedLine) from the start instead of texting it (a
/// text to a landline fails: Twilio's error 60205). Without feature
/// `phone-numbers` there are no numbering plans, so every number is
/// [`Unknown`](Self::Unknown): codes go out on the configured channel, and
/// a landline gets its code only through Twilio's fallback channel
/// ([`TwilioVerifyBuilder::fallback_channel`](crate::factor::TwilioVerifyBuilder::fallback_channel)),
/// after the text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LineType {
    /// A mobile number: it receives texts.
    Mobile,
    /// A fixed line (a landline): it cannot receive texts, only calls.
    FixedLine,
    /// The plans cannot tell: numbers of regions where fixed lines and
    /// mobiles share their ranges (the United States, Canada), VoIP and
    /// personal numbers, anything without feature `phone-numbers`. Texted
    /// like a mobile.
    Unknown,
}

impl LineType {
    /// The line of `phone` (E.164, as the authenticator stores it).
    #[cfg(feature = "phone-numbers")]
    pub fn of(phone: &str) -> Self {
        use phonenumber::Type;
        let Ok(parsed) = phonenumber::parse(None, phone) else {
            return LineType::Unknown;
        };
        match parsed.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile => LineType::Mobile,
            Type::FixedLine => LineType::FixedLine,
            _ => LineType::Unknown,
        }
    }

    /// The line of `phone`: always [`Unknown`](Self::Unknown) without
    /// feature `phone-numbers` (no numbering plans to tell).
    #[cfg(not(feature = "phone-numbers"))]
    pub fn of(phone: &str) -> Self {
        let _ = phone;
        LineType::Unknown
    }

    /// Whether the number is known to be a landline: its code goes by
    /// voice call, a text would not arrive.
    pub fn is_fixed_line(self) -> bool {
        self == LineType::FixedLine
    }
}

#[cfg(test)]
mod tests {
    use super::LineType;

    #[test]
    #[cfg(feature = "phone-numbers")]
    fn landlines_are_told_from_mobiles_where_the_plans_can() {
        // A London landline, a UK mobile, a US number (either).
        assert_eq!(LineType::of("+442071838750"), LineType::FixedLine);
        assert!(LineType::of("+442071838750").is_fixed_line());
        assert_eq!(LineType::of("+447400123456"), LineType::Mobile);
        assert_eq!(LineType::of("+14155552671"), LineType::Unknown);
        assert_eq!(LineType::of("not a number"), LineType::Unknown);
    }

    #[test]
    #[cfg(not(feature = "phone-numbers"))]
    fn without_numbering_plans_no_line_is_known() {
        assert_eq!(LineType::of("+442071838750"), LineType::Unknown);
    }
}
