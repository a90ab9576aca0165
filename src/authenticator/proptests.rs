//! Property tests of `parse_answer`, the parser in front of every code
//! argument (`verify`, the enrollment confirmations, step-ups).

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::verify::{Answer, parse_answer};
use crate::error::Error;
use crate::factor::recovery;

/// Separators a user may type between groups (all dropped by the parser).
const SEPARATORS: &[&str] = &["", "", " ", "-", "--", "\t", "\n", "\u{a0}", "\u{3000}"];

/// Characters that look like a code to a human but are not ASCII.
const LOOKALIKES: &[char] = &[
    '\0',
    '\u{200b}',
    '\u{200e}',
    '\u{202e}',
    '\u{feff}',
    '\u{2010}',
    '\u{2212}',
    '\u{ff10}',
    '\u{ff11}',
    '\u{661}',
    '\u{6f1}',
    '\u{966}',
    '\u{1d7ce}',
    '\u{2460}',
    '\u{b9}',
    'O',
    'l',
    'I',
    '0',
    '1',
    '8',
    '9',
    'a',
    'Z',
    '%',
    ' ',
    '-',
];

/// `input` without whitespace and dashes: what the digit branch compares.
fn stripped(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

fn interleave(groups: &[String], seps: &[&str]) -> String {
    let mut out = String::from(seps[0]);
    for (g, s) in groups.iter().zip(&seps[1..]) {
        out.push_str(g);
        out.push_str(s);
    }
    out
}

/// Whatever the input, the answer has exactly the documented shape.
fn well_shaped(input: &str) -> Result<(), TestCaseError> {
    let six_digits = |s: &str| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit());
    match parse_answer(input) {
        Ok(Answer::Digits(d)) => {
            prop_assert!(input.len() <= 64);
            prop_assert!(six_digits(&d), "{d:?}");
            prop_assert_eq!(d, stripped(input));
        }
        Ok(Answer::Recovery(r)) => {
            prop_assert_eq!(r.len(), 20);
            prop_assert!(
                r.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
            );
            prop_assert_eq!(Some(r), recovery::normalize(input));
        }
        Err(Error::MalformedCode) => {
            prop_assert!(
                input.len() > 64
                    || (!six_digits(&stripped(input)) && recovery::normalize(input).is_none())
            );
        }
        Err(e) => prop_assert!(false, "unexpected error {e:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::proptest_config::config(512))]

    #[test]
    fn any_string_gives_a_well_shaped_answer(input in any::<String>()) {
        well_shaped(&input)?;
    }

    #[test]
    fn lookalikes_give_a_well_shaped_answer(input in vec(select(LOOKALIKES), 0..80)) {
        well_shaped(&input.into_iter().collect::<String>())?;
    }

    #[test]
    fn six_digits_with_any_separators_are_digits(
        digits in vec("[0-9]", 6),
        seps in vec(select(SEPARATORS), 7),
    ) {
        let code = interleave(&digits, &seps);
        prop_assume!(code.len() <= 64);
        match parse_answer(&code) {
            Ok(Answer::Digits(d)) => prop_assert_eq!(d, digits.concat()),
            _ => prop_assert!(false, "{code:?} refused"),
        }
    }

    #[test]
    fn recovery_codes_in_any_case_with_any_separators(
        groups in vec("[a-zA-Z2-7]{5}", 4),
        seps in vec(select(SEPARATORS), 5),
    ) {
        let code = interleave(&groups, &seps);
        match parse_answer(&code) {
            Ok(Answer::Recovery(r)) => prop_assert_eq!(r, groups.concat().to_ascii_uppercase()),
            _ => prop_assert!(false, "{code:?} refused"),
        }
    }

    #[test]
    fn anything_over_64_bytes_is_malformed(head in "[0-9]{6}", pad in " {59,200}") {
        // Six digits padded with spaces would otherwise be accepted.
        let code = format!("{head}{pad}");
        prop_assert!(matches!(parse_answer(&code), Err(Error::MalformedCode)));
    }

    #[test]
    fn digits_outside_ascii_are_malformed(
        digits in vec(select(&['\u{ff10}', '\u{661}', '\u{966}', '\u{1d7ce}', '\u{b9}'][..]), 6),
    ) {
        let code: String = digits.into_iter().collect();
        prop_assert!(matches!(parse_answer(&code), Err(Error::MalformedCode)));
    }
}
