//! Phone numbers as the text-message page takes them: a country chosen
//! from a list (the site's default preselected: `DEFAULT_PHONE_COUNTRY`)
//! and the number as people write it in that country, or in international
//! format (`+44 20 7183 8750`), which needs no country.
//!
//! The page turns the pair into E.164 with libphonenumber's numbering
//! plans (the `phonenumber` crate, which the library's feature
//! `phone-numbers` uses too) and hands that to the library, which checks
//! it: what it cannot read is passed on as typed, for the library's own
//! typed refusal. The country names are ISO 3166-1's English short names
//! (`rust_iso3166`), the calling codes libphonenumber's.

use std::sync::OnceLock;

use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, country};
use serde::Serialize;

/// A country of the list.
#[derive(Debug, Clone, Serialize)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code (`GB`).
    pub code: &'static str,
    /// English short name.
    pub name: &'static str,
    /// International calling code (44).
    pub calling_code: u16,
}

/// Every country with a numbering plan, by name.
pub fn countries() -> &'static [Country] {
    static LIST: OnceLock<Vec<Country>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut list: Vec<Country> = DATABASE
            .iter()
            .filter_map(|m| {
                let iso = rust_iso3166::from_alpha2(m.id())?;
                Some(Country {
                    code: iso.alpha2,
                    name: iso.name,
                    calling_code: m.country_code(),
                })
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(b.name));
        list
    })
}

/// The list's code for `code` (any letter case), if it is in the list.
pub fn country(code: &str) -> Option<&'static str> {
    let code = code.trim();
    countries()
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
        .map(|c| c.code)
}

/// The number typed with the country chosen: parsed, if it can be.
fn parse(raw: &str, country_code: &str) -> Option<PhoneNumber> {
    let region = country(country_code).and_then(|c| c.parse::<country::Id>().ok());
    // A number in international format names its own country.
    let region = if raw.trim_start().starts_with('+') {
        None
    } else {
        region
    };
    phonenumber::parse(region, raw.trim()).ok()
}

/// What to hand the library: the number in E.164 when it reads as one in
/// the chosen country (or in international format), else as typed.
pub fn for_library(raw: &str, country_code: &str) -> String {
    match parse(raw, country_code) {
        Some(n) => n.format().mode(Mode::E164).to_string(),
        None => raw.trim().to_owned(),
    }
}

/// The number in international format, grouped as its country writes it
/// (`+44 20 7183 8750`), for its owner to check.
pub fn international(raw: &str, country_code: &str) -> Option<String> {
    parse(raw, country_code).map(|n| n.format().mode(Mode::International).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_numbers_read_in_the_chosen_country() {
        assert_eq!(for_library("020 7183 8750", "GB"), "+442071838750");
        assert_eq!(for_library("020 7183 8750", "gb"), "+442071838750");
        assert_eq!(for_library("(415) 555-2671", "US"), "+14155552671");
        // International format ignores the country.
        assert_eq!(for_library("+1 415 555 2671", "GB"), "+14155552671");
        // Unreadable, or no such country: as typed, for the library to refuse.
        assert_eq!(for_library(" not a number ", "GB"), "not a number");
        assert_eq!(for_library("020 7183 8750", "XX"), "020 7183 8750");
        assert_eq!(
            international("07911 123456", "GB").as_deref(),
            Some("+44 7911 123456")
        );
    }

    #[test]
    fn the_list_has_named_countries_with_their_codes() {
        let list = countries();
        assert!(list.len() > 200, "{}", list.len());
        let gb = list.iter().find(|c| c.code == "GB").unwrap();
        assert_eq!(gb.calling_code, 44);
        assert!(gb.name.starts_with("United Kingdom"));
        assert!(list.windows(2).all(|w| w[0].name <= w[1].name));
        assert_eq!(country("us"), Some("US"));
        assert_eq!(country("001"), None);
    }
}
