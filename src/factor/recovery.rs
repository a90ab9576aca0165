//! Recovery codes: 100 bits each, shown once, stored as keyed hashes, single use.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto::{Keys, random_bytes};

/// Characters in a recovery code, without separators (20 × 5 bits = 100 bits).
const CODE_CHARS: usize = 20;

/// Freshly generated recovery codes, to show the user once.
///
/// `Debug` shows only how many there are.
///
/// ```
/// use twofa_verify::secrecy::SecretString;
/// use twofa_verify::{Authenticator, ConsoleSms, LocalCodes, MemoryStore, SecretKey, StepUp};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> twofa_verify::Result<()> {
/// # let sms = ConsoleSms::quiet();
/// # let auth = Authenticator::builder()
/// #     .store(MemoryStore::new())
/// #     .secret_key(SecretKey::generate())
/// #     .sms(LocalCodes::new(sms.clone()))
/// #     .build()?;
/// # let password = SecretString::from("correct horse battery");
/// # let user = auth.register("alice", "alice@example.com", &password).await?;
/// # auth.start_sms_enrollment(user.id, "+14155552671", &StepUp::password("correct horse battery")).await?;
/// # let code = SecretString::from(sms.last_code_for("+14155552671").unwrap());
/// // The first factor comes with recovery codes.
/// let enrolled = auth.confirm_sms_enrollment(user.id, &code).await?;
/// let codes = enrolled.recovery_codes.expect("a first factor");
/// assert_eq!(codes.len(), 10); // `Policy::recovery_codes`
/// assert!(!codes.is_empty());
/// for code in codes.codes() {
///     assert_eq!(code.len(), 23); // "abcde-fghij-klmno-pqrst": show each once
/// }
/// assert_eq!(format!("{codes:?}"), "RecoveryCodes([10 codes redacted])");
/// # Ok(())
/// # }
/// ```
pub struct RecoveryCodes(Vec<SecretString>);

impl RecoveryCodes {
    /// The codes, formatted for typing: `abcde-fghij-klmno-pqrst` (see the
    /// [`RecoveryCodes`] example).
    pub fn codes(&self) -> Vec<&str> {
        self.0.iter().map(|c| c.expose_secret()).collect()
    }
    /// How many codes there are (see the [`RecoveryCodes`] example).
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when there are none (see the [`RecoveryCodes`] example).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes([{} codes redacted])", self.0.len())
    }
}

/// Generates `n` codes and their keyed hashes.
pub(crate) fn generate(keys: &Keys, n: usize) -> (RecoveryCodes, Vec<[u8; 32]>) {
    let mut codes = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        let raw = data_encoding::BASE32_NOPAD.encode(&random_bytes::<13>());
        let raw = &raw[..CODE_CHARS];
        hashes.push(hash(keys, raw));
        let grouped = raw
            .as_bytes()
            .chunks(5)
            .map(|c| String::from_utf8_lossy(c).to_lowercase())
            .collect::<Vec<_>>()
            .join("-");
        codes.push(SecretString::from(grouped));
    }
    (RecoveryCodes(codes), hashes)
}

/// Normalises user input: drops spaces and dashes, upper-cases. Returns
/// `None` unless it has the shape of a recovery code.
pub(crate) fn normalize(input: &str) -> Option<String> {
    if input.len() > 64 {
        return None;
    }
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == CODE_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)))
    .then_some(s)
}

/// The keyed hash stored for a normalised code.
pub(crate) fn hash(keys: &Keys, normalized: &str) -> [u8; 32] {
    keys.mac(b"recovery-code", normalized.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretSlice;

    #[test]
    fn codes_have_100_bits_and_round_trip() {
        let keys = Keys::new(SecretSlice::from(vec![7u8; 32]));
        let (codes, hashes) = generate(&keys, 10);
        assert_eq!(codes.len(), 10);
        let mut seen = std::collections::HashSet::new();
        for (c, h) in codes.codes().iter().zip(&hashes) {
            assert_eq!(c.len(), 23, "{c}");
            assert_eq!(c.matches('-').count(), 3);
            let n = normalize(c).unwrap();
            assert_eq!(&hash(&keys, &n), h);
            // Typing it in upper case with spaces works too.
            assert_eq!(normalize(&c.to_uppercase().replace('-', " ")).unwrap(), n);
            assert!(seen.insert(n));
        }
        assert!(!format!("{codes:?}").contains(codes.codes()[0]));
        assert!(normalize("123456").is_none());
        assert!(normalize("abcde-fghij-klmno-pqrs1").is_none());
    }
}

#[cfg(test)]
mod proptests;
