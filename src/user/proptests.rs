//! Property tests of the user-input normalisers and of `mask_phone`.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use unicode_normalization::UnicodeNormalization;

use super::{mask_phone, normalize_email, normalize_phone, normalize_username};

/// Letters and marks where case folding and composition interact:
/// `J` + U+030C lower-cases to `j` + U+030C, which composes into U+01F0.
fn tricky_text() -> impl Strategy<Value = String> {
    let bases = &[
        'J', 'H', 'W', 'Y', 'T', 'A', 'e', 'İ', 'ß', 'Ω', 'Ж', 'K', 'ﬀ', '\u{212a}',
    ][..];
    let marks = &[
        "", "", "\u{30c}", "\u{331}", "\u{30a}", "\u{308}", "\u{301}", "\u{328}",
    ][..];
    vec((select(bases), select(marks)), 1..8)
        .prop_map(|v| v.into_iter().map(|(b, m)| format!("{b}{m}")).collect())
}

fn name_input() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), tricky_text(), "[ a-zA-Z0-9@._-]{0,70}"]
}

proptest! {
    #![proptest_config(crate::proptest_config::config(512))]

    #[test]
    fn mask_keeps_length_and_reveals_at_most_five_then_two(phone in any::<String>()) {
        let masked = mask_phone(&phone);
        let input: Vec<char> = phone.chars().collect();
        let output: Vec<char> = masked.chars().collect();
        let n = input.len();
        prop_assert_eq!(output.len(), n);
        for (i, (a, b)) in input.iter().zip(&output).enumerate() {
            if i >= 5 && i + 2 < n {
                prop_assert_eq!(*b, '*', "position {} of {:?} shown", i, phone);
            }
            prop_assert!(b == a || *b == '*');
        }
        // Something is always hidden (the input's own `*` may be what is).
        if n >= 3 {
            prop_assert!(output.contains(&'*'));
        }
    }

    #[test]
    fn e164_masks_all_but_the_country_end_and_last_two(digits in "[1-9][0-9]{7,14}") {
        let phone = format!("+{digits}");
        let masked = mask_phone(&phone);
        prop_assert_eq!(&masked[..5], &phone[..5]);
        prop_assert_eq!(&masked[masked.len() - 2..], &phone[phone.len() - 2..]);
        prop_assert_eq!(masked.matches('*').count(), phone.len() - 7);
    }

    #[test]
    fn usernames_normalise_to_a_fixed_point(raw in name_input()) {
        if let Ok((display, key, skeleton)) = normalize_username(&raw) {
            let n = display.chars().count();
            prop_assert!((1..=64).contains(&n));
            prop_assert!(!display.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == ':'));
            let again = normalize_username(&display).ok();
            prop_assert_eq!(again, Some((display.clone(), key.clone(), skeleton.clone())));
            // The key finds itself, and every canonically equivalent spelling finds it.
            prop_assert_eq!(normalize_username(&key).map(|k| k.1).ok(), Some(key.clone()));
            let forms: [String; 3] = [
                raw.nfc().collect(),
                raw.nfd().collect(),
                display.nfd().collect(),
            ];
            for form in forms {
                prop_assert_eq!(normalize_username(&form).map(|k| k.1).ok(), Some(key.clone()));
            }
        }
    }

    #[test]
    fn emails_normalise_to_a_fixed_point(local in name_input(), domain in name_input()) {
        let raw = format!("{local}@{domain}");
        if let Ok(email) = normalize_email(&raw) {
            prop_assert!(email.len() <= 254);
            prop_assert_eq!(email.matches('@').count(), 1);
            prop_assert_eq!(normalize_email(&email).ok(), Some(email.clone()));
            let forms = [raw.nfc().collect::<String>(), raw.nfd().collect(), email.nfd().collect()];
            for form in forms {
                prop_assert_eq!(normalize_email(&form).ok(), Some(email.clone()));
            }
        }
    }

    #[test]
    fn phones_parse_to_an_e164_fixed_point(
        raw in prop_oneof![any::<String>(), "\\+?[0-9 ().-]{0,24}", "[+＋]?[０-９0-9 ]{6,18}"],
        region in select(&[None, Some("US"), Some("GB"), Some("IN"), Some("BR")][..]),
    ) {
        if let Ok(p) = normalize_phone(&raw, region) {
            let digits = p.strip_prefix('+').unwrap_or_default();
            prop_assert!((2..=15).contains(&digits.len()), "{raw:?} -> {p:?}");
            prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'));
            prop_assert_eq!(normalize_phone(&p, None).ok(), Some(p.clone()));
        }
    }
}

/// A seed that failed at random: "가" typed as conjoining jamo (NFD) was
/// refused while its NFC form was accepted.
#[test]
fn a_hangul_syllable_typed_as_jamo_is_the_same_username() {
    let composed = normalize_username("가").ok();
    assert!(composed.is_some());
    assert_eq!(normalize_username("\u{1100}\u{1161}").ok(), composed);
    let nfd: String = "한국어사용자".nfd().collect();
    assert_eq!(
        normalize_username(&nfd).ok(),
        normalize_username("한국어사용자").ok()
    );
}
