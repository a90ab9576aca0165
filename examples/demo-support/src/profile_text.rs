//! What the demo accepts as a first name, last name and "about me": the
//! same rules for the web forms and for `cli import-flask`.
//!
//! Lengths are counted in grapheme clusters, what a reader sees as one
//! character ("é", "👍🏽" or "👨‍👩‍👧" count one each, as they do for the user
//! typing them), not bytes or code points. Text is put in Unicode NFC
//! first, so an "é" typed as "e" plus an accent counts once and compares
//! equal to the precomposed one. Refused: control characters (only a line
//! break in "about me"), the bidirectional overrides and isolates that can
//! make text read differently from what it holds (as in "Trojan Source"),
//! invisible characters (Unicode's default-ignorable code points, such as
//! zero-width spaces, word joiners, Hangul fillers and tag characters,
//! which can hide text or make a name look empty) except where emoji and
//! some scripts need them, and a character carrying more than [`MAX_CODE_POINTS_PER_GRAPHEME`]
//! combining marks ("Zalgo" text), which would otherwise let a "short"
//! text be kilobytes long and spill over the page.

use std::fmt;

use icu_properties::CodePointSetData;
use icu_properties::props::DefaultIgnorableCodePoint;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// At most this many characters (grapheme clusters) in a first or last name.
pub const NAME_MAX: usize = 64;
/// At most this many characters (grapheme clusters) in "about me", as in
/// the Flask tutorial (`about_me = db.Column(db.String(140))`).
pub const ABOUT_ME_MAX: usize = 140;
/// At most this many code points in one character: the longest emoji
/// sequences (a family with skin tones) take 10; more is stacked marks.
pub const MAX_CODE_POINTS_PER_GRAPHEME: usize = 16;

/// The profile fields a user types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// First name.
    FirstName,
    /// Last name.
    LastName,
    /// "About me".
    AboutMe,
}

impl Field {
    fn label(self) -> &'static str {
        match self {
            Field::FirstName => "first name",
            Field::LastName => "last name",
            Field::AboutMe => "\"about me\"",
        }
    }

    fn max(self) -> usize {
        match self {
            Field::FirstName | Field::LastName => NAME_MAX,
            Field::AboutMe => ABOUT_ME_MAX,
        }
    }
}

/// Why a field was refused; `Display` is a sentence for the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextError {
    /// Empty (or only spaces) where a value is required.
    Required(Field),
    /// Longer than the field's maximum, in characters.
    TooLong {
        /// The field.
        field: Field,
        /// Its length in characters (grapheme clusters).
        chars: usize,
    },
    /// A control character (a line break in a name, a tab, NUL...).
    Control(Field),
    /// A bidirectional override, embedding or isolate, or a line or
    /// paragraph separator.
    Bidi(Field),
    /// A character with too many combining marks.
    Stacked(Field),
    /// An invisible character (zero-width space, word joiner, filler...).
    Invisible(Field),
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Required(field) => write!(f, "Please enter your {}.", field.label()),
            TextError::TooLong { field, chars } => write!(
                f,
                "Your {} can be at most {} characters long; this one has {chars}.",
                field.label(),
                field.max()
            ),
            TextError::Control(Field::AboutMe) => write!(
                f,
                "Your \"about me\" holds an invisible control character (only line breaks are allowed)."
            ),
            TextError::Control(field) => write!(
                f,
                "Your {} holds a line break or an invisible control character.",
                field.label()
            ),
            TextError::Bidi(field) => write!(
                f,
                "Your {} holds an invisible character that changes the direction of the text around it; please remove it.",
                field.label()
            ),
            TextError::Stacked(field) => write!(
                f,
                "Your {} has a character with too many accents stacked on it.",
                field.label()
            ),
            TextError::Invisible(field) => write!(
                f,
                "Your {} holds an invisible character (such as a zero-width space); please remove it.",
                field.label()
            ),
        }
    }
}

impl std::error::Error for TextError {}

/// Characters that reorder the text around them (explicit bidirectional
/// formatting, UAX #9) or break lines outside `\n`.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'                      // Arabic letter mark
            | '\u{200E}' | '\u{200F}'   // LRM, RLM
            | '\u{202A}'..='\u{202E}'   // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}'   // LRI, RLI, FSI, PDI
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
    )
}

/// Whether the default-ignorable `c` is one that visible text needs: the
/// zero-width joiner and non-joiner (emoji sequences; Persian and Indic
/// scripts), variation selectors (emoji or text presentation), and tag
/// characters inside a flag that starts with the black flag (🏴, e.g.
/// Scotland's).
fn is_needed_ignorable(c: char, grapheme: &str) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
        || (matches!(c, '\u{E0020}'..='\u{E007F}') && grapheme.starts_with('\u{1F3F4}'))
}

/// NFC, `\r\n` and `\r` as `\n`, trimmed; then checked. `multiline`
/// allows `\n`.
fn clean(field: Field, raw: &str, multiline: bool) -> Result<String, TextError> {
    let text: String = raw
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .nfc()
        .collect();
    let text = text.trim();
    for c in text.chars() {
        if is_bidi_control(c) {
            return Err(TextError::Bidi(field));
        }
        if c.is_control() && !(multiline && c == '\n') {
            return Err(TextError::Control(field));
        }
    }
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    let mut chars = 0;
    for g in text.graphemes(true) {
        if g.chars().count() > MAX_CODE_POINTS_PER_GRAPHEME {
            return Err(TextError::Stacked(field));
        }
        if g.chars()
            .any(|c| ignorable.contains(c) && !is_needed_ignorable(c, g))
        {
            return Err(TextError::Invisible(field));
        }
        chars += 1;
    }
    if chars > field.max() {
        return Err(TextError::TooLong { field, chars });
    }
    Ok(text.to_owned())
}

/// A first or last name: required, one line, at most [`NAME_MAX`]
/// characters.
pub fn name(field: Field, raw: &str) -> Result<String, TextError> {
    let text = clean(field, raw, false)?;
    // Joiners and selectors alone would pass for a name that shows nothing.
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    if !text
        .chars()
        .any(|c| !c.is_whitespace() && !ignorable.contains(c))
    {
        return Err(TextError::Required(field));
    }
    Ok(text)
}

/// "About me": may be empty, may hold line breaks, at most
/// [`ABOUT_ME_MAX`] characters.
pub fn about_me(raw: &str) -> Result<String, TextError> {
    clean(Field::AboutMe, raw, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_what_the_reader_sees() {
        // 140 family emoji (7 code points, 25 bytes each) are 140 characters.
        let families = "👨‍👩‍👧".repeat(ABOUT_ME_MAX);
        assert_eq!(about_me(&families).unwrap(), families);
        let over = format!("{families}!");
        assert_eq!(
            about_me(&over),
            Err(TextError::TooLong {
                field: Field::AboutMe,
                chars: 141
            })
        );
        // "e" + combining acute is one character, stored precomposed.
        let decomposed = "e\u{301}".repeat(ABOUT_ME_MAX);
        assert_eq!(about_me(&decomposed).unwrap(), "é".repeat(ABOUT_ME_MAX));
        assert_eq!(name(Field::FirstName, &"ß".repeat(64)).unwrap().len(), 128);
        assert!(matches!(
            name(Field::FirstName, &"a".repeat(65)),
            Err(TextError::TooLong { chars: 65, .. })
        ));
    }

    #[test]
    fn hostile_characters_are_refused() {
        assert_eq!(
            name(Field::LastName, "   "),
            Err(TextError::Required(Field::LastName))
        );
        assert_eq!(
            name(Field::FirstName, "Ann\nEve"),
            Err(TextError::Control(Field::FirstName))
        );
        assert_eq!(
            name(Field::FirstName, "Ann\u{0}"),
            Err(TextError::Control(Field::FirstName))
        );
        assert_eq!(
            about_me("tab\there"),
            Err(TextError::Control(Field::AboutMe))
        );
        for c in ['\u{202E}', '\u{2066}', '\u{200F}', '\u{2028}'] {
            assert_eq!(
                about_me(&format!("admin{c}nimda")),
                Err(TextError::Bidi(Field::AboutMe)),
                "{c:?}"
            );
        }
        // Invisible characters that hide text or look like nothing.
        for c in [
            '\u{200B}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{3164}',
            '\u{FFA0}',
            '\u{115F}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            assert_eq!(
                name(Field::FirstName, &format!("Ann{c}Eve")),
                Err(TextError::Invisible(Field::FirstName)),
                "{c:?}"
            );
        }
        assert_eq!(
            name(Field::FirstName, "\u{3164}"),
            Err(TextError::Invisible(Field::FirstName))
        );
        assert_eq!(
            name(Field::LastName, "\u{200D}\u{200C}"),
            Err(TextError::Required(Field::LastName))
        );
        // What visible text needs: emoji joiners and selectors, Scotland's
        // flag (tag characters after 🏴), the Persian half-space.
        for ok in [
            "👨\u{200D}👩\u{200D}👧",
            "❤\u{FE0F}",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "می\u{200C}خواهم",
        ] {
            assert_eq!(about_me(ok).as_deref(), Ok(ok), "{ok:?}");
        }
        // (NFC folds the first accent into "á": one more than the limit.)
        let zalgo = format!("a{}", "\u{301}".repeat(MAX_CODE_POINTS_PER_GRAPHEME + 1));
        assert_eq!(about_me(&zalgo), Err(TextError::Stacked(Field::AboutMe)));
        // Right-to-left text itself is fine; so are line breaks in "about me".
        assert_eq!(name(Field::FirstName, " مريم ").unwrap(), "مريم");
        assert_eq!(about_me("one\r\ntwo\rthree\n").unwrap(), "one\ntwo\nthree");
        // Markup is text: the templates escape it.
        assert_eq!(
            about_me("<script>alert(1)</script>").unwrap(),
            "<script>alert(1)</script>"
        );
        assert!(
            TextError::TooLong {
                field: Field::AboutMe,
                chars: 141
            }
            .to_string()
            .contains("at most 140 characters")
        );
    }
}
