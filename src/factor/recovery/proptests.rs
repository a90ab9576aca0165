//! Property tests of recovery-code normalisation.

use proptest::collection::vec;
use proptest::prelude::*;
use secrecy::SecretSlice;

use super::{CODE_CHARS, generate, hash, normalize};
use crate::crypto::Keys;

fn in_alphabet(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

proptest! {
    #![proptest_config(crate::proptest_config::config(512))]

    #[test]
    fn output_is_a_fixed_point_in_the_alphabet(input in any::<String>()) {
        if let Some(n) = normalize(&input) {
            prop_assert!(input.len() <= 64);
            prop_assert_eq!(n.len(), CODE_CHARS);
            prop_assert!(in_alphabet(&n), "{n:?}");
            prop_assert_eq!(normalize(&n), Some(n.clone()));
            prop_assert_eq!(normalize(&n.to_lowercase()), Some(n));
        }
    }

    #[test]
    fn shaped_input_is_accepted_whatever_the_case_and_spacing(
        chars in "[a-zA-Z2-7]{20}",
        cuts in vec(0usize..=20, 0..6),
        sep in prop_oneof![Just(" "), Just("-"), Just("\t"), Just("\u{3000}"), Just(" - ")],
    ) {
        let mut typed = chars.clone();
        let mut cuts = cuts;
        cuts.sort_unstable();
        for at in cuts.into_iter().rev() {
            typed.insert_str(at, sep);
        }
        prop_assume!(typed.len() <= 64);
        prop_assert_eq!(normalize(&typed), Some(chars.to_ascii_uppercase()));
    }

    #[test]
    fn a_character_outside_the_alphabet_is_refused(
        chars in "[A-Z2-7]{19}",
        at in 0usize..=19,
        bad in "[^A-Za-z2-7\\s-]",
    ) {
        let mut typed = chars;
        typed.insert_str(at, &bad);
        prop_assert_eq!(normalize(&typed), None);
    }

    #[test]
    fn generated_codes_round_trip_under_any_key(key in vec(any::<u8>(), 32..64)) {
        let keys = Keys::new(SecretSlice::from(key));
        let (codes, hashes) = generate(&keys, 3);
        for (c, h) in codes.codes().iter().zip(&hashes) {
            let n = normalize(c);
            prop_assert!(n.is_some(), "{c}");
            prop_assert_eq!(&hash(&keys, &n.unwrap_or_default()), h);
        }
    }
}
