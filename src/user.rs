//! Users as the application sees them, and the validated inputs that make them.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// A user's stable identifier, assigned by the store.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A user, as returned to the application. Holds no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The store's id.
    pub id: UserId,
    /// Display username (NFKC-normalised, case kept).
    pub username: String,
    /// Email address (lower case).
    pub email: String,
    /// The E.164 phone number of the SMS factor, when enabled.
    pub phone: Option<String>,
    /// Whether an authenticator app (TOTP) is enabled.
    pub totp_enabled: bool,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl User {
    /// True when any second factor is enabled.
    pub fn has_second_factor(&self) -> bool {
        self.phone.is_some() || self.totp_enabled
    }

    /// The phone number masked for display, e.g. `+2547*****89`.
    pub fn masked_phone(&self) -> Option<String> {
        self.phone.as_deref().map(mask_phone)
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("phone", &self.masked_phone())
            .field("totp_enabled", &self.totp_enabled)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Masks a phone number for display: keeps the `+`, the first four digits and the last two.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    let keep_head = if n > 8 { 5 } else { 2.min(n) };
    let keep_tail = if n > 6 { 2 } else { 0 };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_head || i + keep_tail >= n {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Validates and normalises a username: NFKC, trimmed, 1 to 64 characters,
/// no control characters, no `@` (so it can never look like an email).
/// Returns the display form and the lookup key (lower case).
pub(crate) fn normalize_username(raw: &str) -> Result<(String, String)> {
    if raw.len() > 1024 {
        return Err(Error::InvalidUsername("it is too long"));
    }
    let s: String = raw.nfkc().collect::<String>().trim().to_string();
    if s.is_empty() {
        return Err(Error::InvalidUsername("it must not be empty"));
    }
    if s.chars().count() > 64 {
        return Err(Error::InvalidUsername("it must be at most 64 characters"));
    }
    if s.chars().any(|c| c.is_control() || c == '@') {
        return Err(Error::InvalidUsername(
            "it must not contain '@' or control characters",
        ));
    }
    if s.chars().any(char::is_whitespace) {
        return Err(Error::InvalidUsername("it must not contain spaces"));
    }
    // NFKC again after lower-casing: "J" + U+030C lower-cases to "j" +
    // U+030C, which composes into U+01F0; without it the two spellings of
    // one name would be two keys.
    let key = s.to_lowercase().nfkc().collect();
    Ok((s, key))
}

/// Validates and normalises an email address: trimmed, lower case, one `@`,
/// non-empty local part and domain, at most 254 bytes, no spaces or controls.
pub(crate) fn normalize_email(raw: &str) -> Result<String> {
    if raw.len() > 1024 {
        return Err(Error::InvalidEmail);
    }
    // NFKC after lower-casing too (see `normalize_username`), so that the
    // result is a fixed point and every spelling of an address finds it.
    let s: String = raw
        .nfkc()
        .collect::<String>()
        .trim()
        .to_lowercase()
        .nfkc()
        .collect();
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidEmail);
    }
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::InvalidEmail);
    };
    if local.is_empty()
        || local.len() > 64
        || domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(Error::InvalidEmail);
    }
    Ok(s)
}

/// Parses a phone number to E.164 (`+14155552671`) with the `phonenumber` crate.
pub(crate) fn normalize_phone(raw: &str, default_region: Option<&str>) -> Result<String> {
    if raw.len() > 64 {
        return Err(Error::InvalidPhoneNumber("it is too long".into()));
    }
    let region = default_region.and_then(|r| r.parse::<phonenumber::country::Id>().ok());
    let parsed = phonenumber::parse(region, raw.trim()).map_err(|_| {
        Error::InvalidPhoneNumber(
            "not a phone number; use the international format, e.g. +14155552671".into(),
        )
    })?;
    if !phonenumber::is_valid(&parsed) {
        return Err(Error::InvalidPhoneNumber(
            "this number does not exist in its country's numbering plan".into(),
        ));
    }
    use phonenumber::Type;
    match parsed.number_type(&phonenumber::metadata::DATABASE) {
        Type::Mobile
        | Type::FixedLineOrMobile
        | Type::Voip
        | Type::PersonalNumber
        | Type::Unknown => {}
        _ => {
            return Err(Error::InvalidPhoneNumber(
                "this number cannot receive text messages".into(),
            ));
        }
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_phone() {
        assert_eq!(mask_phone("+254712345689"), "+2547******89");
        assert_eq!(mask_phone("+1"), "+1");
    }

    #[test]
    fn usernames() {
        assert_eq!(
            normalize_username("  Alice ").unwrap(),
            ("Alice".into(), "alice".into())
        );
        assert!(normalize_username("").is_err());
        assert!(normalize_username("a b").is_err());
        assert!(normalize_username("a@b").is_err());
        assert!(normalize_username("a\u{0}b").is_err());
        assert!(normalize_username(&"x".repeat(65)).is_err());
        // NFKC: fullwidth letters fold to ASCII
        assert_eq!(normalize_username("ＡＢＣ").unwrap().1, "abc");
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Bob@Example.COM ").unwrap(),
            "bob@example.com"
        );
        for bad in [
            "", "bob", "@x.com", "bob@", "a@b@c", "a b@c.d", "a@.com", "a@b..c",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+1 415 555 2671", None).unwrap(),
            "+14155552671"
        );
        assert_eq!(
            normalize_phone("(415) 555-2671", Some("US")).unwrap(),
            "+14155552671"
        );
        assert!(normalize_phone("(415) 555-2671", None).is_err());
        assert!(normalize_phone("hello", None).is_err());
        assert!(normalize_phone("+1 000", None).is_err());
    }
}

#[cfg(test)]
mod proptests;
