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
//! invisible characters (Unicode's default-ignorable code points and format
//! characters, such as zero-width spaces, word joiners, Hangul fillers,
//! interlinear annotation marks and tag characters, which can hide text or
//! make a name look empty) except where emoji and some scripts need them,
//! blank look-alikes (the braille pattern blank U+2800, which shows as a
//! space but is none), and a character carrying more than
//! [`MAX_CODE_POINTS_PER_GRAPHEME`] combining marks ("Zalgo" text), which
//! would otherwise let a "short" text be kilobytes long and spill over the
//! page.
//!
//! Where visible text needs an invisible character, it is allowed there
//! only: the zero-width joiner inside an emoji ZWJ sequence (between two
//! pictographs: 👨‍👩‍👧, 🏳️‍🌈) or after a virama (an Indic conjunct, RFC 5892
//! A.2); the zero-width non-joiner after a virama or between letters that
//! join (the Persian half-space, RFC 5892 A.1); variation selectors after
//! the character they select a form of; tag characters after the black
//! flag (🏴, Scotland's flag). The properties come from Unicode's tables
//! (`icu_properties`); the blank look-alikes, which no property names, are
//! listed in [`BLANKS`].

use std::fmt;

use icu_properties::props::{
    CanonicalCombiningClass, DefaultIgnorableCodePoint, EmojiModifier, ExtendedPictographic,
    GeneralCategory, JoiningType,
};
use icu_properties::{CodePointMapData, CodePointSetData};
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

/// Characters that show as blank space (or nothing) but are neither spaces
/// nor invisible by Unicode's properties, so that a name of them looks
/// empty, or spaced, and is not: U+2800 BRAILLE PATTERN BLANK (a symbol with
/// no dots) and U+1D159 MUSICAL SYMBOL NULL NOTEHEAD (a notehead with no
/// ink). No Unicode property names them.
pub const BLANKS: [char; 2] = ['\u{2800}', '\u{1D159}'];

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
    /// An invisible character (zero-width space, word joiner, filler...),
    /// or a joiner outside the emoji or script it joins.
    Invisible(Field),
    /// A blank look-alike ([`BLANKS`]): it shows as a space, or nothing.
    Blank(Field),
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
                "Your {} holds an invisible character (such as a zero-width space or joiner); please remove it.",
                field.label()
            ),
            TextError::Blank(field) => write!(
                f,
                "Your {} holds a blank character that only looks like a space (such as the braille pattern blank); please use an ordinary space or remove it.",
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

/// Unicode's tables the checks read.
struct Tables {
    ignorable: icu_properties::CodePointSetDataBorrowed<'static>,
    pictographic: icu_properties::CodePointSetDataBorrowed<'static>,
    emoji_modifier: icu_properties::CodePointSetDataBorrowed<'static>,
    category: icu_properties::CodePointMapDataBorrowed<'static, GeneralCategory>,
    combining: icu_properties::CodePointMapDataBorrowed<'static, CanonicalCombiningClass>,
    joining: icu_properties::CodePointMapDataBorrowed<'static, JoiningType>,
}

impl Tables {
    fn new() -> Self {
        Tables {
            ignorable: CodePointSetData::new::<DefaultIgnorableCodePoint>(),
            pictographic: CodePointSetData::new::<ExtendedPictographic>(),
            emoji_modifier: CodePointSetData::new::<EmojiModifier>(),
            category: CodePointMapData::<GeneralCategory>::new(),
            combining: CodePointMapData::<CanonicalCombiningClass>::new(),
            joining: CodePointMapData::<JoiningType>::new(),
        }
    }

    /// Invisible: default-ignorable, or a format character (interlinear
    /// annotation marks, hieroglyph and shorthand format controls...).
    fn invisible(&self, c: char) -> bool {
        self.ignorable.contains(c) || self.category.get(c) == GeneralCategory::Format
    }

    /// Whether the invisible `chars[i]` is one that the visible text around
    /// it needs (see the module's documentation).
    fn needed_invisible(&self, chars: &[char], i: usize) -> bool {
        let before = |n: usize| i.checked_sub(n).and_then(|j| chars.get(j)).copied();
        let after_virama =
            || before(1).is_some_and(|c| self.combining.get(c) == CanonicalCombiningClass::Virama);
        match chars[i] {
            '\u{200D}' => after_virama() || self.in_emoji_zwj_sequence(chars, i),
            '\u{200C}' => after_virama() || self.between_joining_letters(chars, i),
            // A variation selector picks a form of the character before it.
            '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' => {
                before(1).is_some_and(|c| !self.invisible(c))
            }
            // Tag characters spell a subdivision flag after the black flag.
            '\u{E0020}'..='\u{E007F}' => chars[..i]
                .iter()
                .rev()
                .find(|c| !matches!(c, '\u{E0020}'..='\u{E007F}'))
                .is_some_and(|&c| c == '\u{1F3F4}'),
            _ => false,
        }
    }

    /// A zero-width joiner between two pictographs (after the first one's
    /// presentation selector or skin tone): 👩‍💻, 🏳️‍🌈, 🧑🏽‍🦰.
    fn in_emoji_zwj_sequence(&self, chars: &[char], i: usize) -> bool {
        let previous = chars[..i]
            .iter()
            .rev()
            .find(|&&c| !matches!(c, '\u{FE0E}' | '\u{FE0F}') && !self.emoji_modifier.contains(c));
        let next = chars.get(i + 1);
        previous.is_some_and(|&c| self.pictographic.contains(c))
            && next.is_some_and(|&c| self.pictographic.contains(c))
    }

    /// A zero-width non-joiner between a letter that joins to its left and
    /// one that joins to its right, transparent marks aside (RFC 5892 A.1:
    /// the Persian half-space in "می‌خواهم").
    fn between_joining_letters(&self, chars: &[char], i: usize) -> bool {
        let joins = |c: &char| self.joining.get(*c) != JoiningType::Transparent;
        let left = chars[..i].iter().rev().find(|c| joins(c));
        let right = chars[i + 1..].iter().find(|c| joins(c));
        let left_ok = left.is_some_and(|&c| {
            matches!(
                self.joining.get(c),
                JoiningType::LeftJoining | JoiningType::DualJoining
            )
        });
        let right_ok = right.is_some_and(|&c| {
            matches!(
                self.joining.get(c),
                JoiningType::RightJoining | JoiningType::DualJoining
            )
        });
        left_ok && right_ok
    }
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
    let tables = Tables::new();
    let code_points: Vec<char> = text.chars().collect();
    for (i, &c) in code_points.iter().enumerate() {
        if is_bidi_control(c) {
            return Err(TextError::Bidi(field));
        }
        if c.is_control() && !(multiline && c == '\n') {
            return Err(TextError::Control(field));
        }
        if BLANKS.contains(&c) {
            return Err(TextError::Blank(field));
        }
        if tables.invisible(c) && !tables.needed_invisible(&code_points, i) {
            return Err(TextError::Invisible(field));
        }
    }
    let mut chars = 0;
    for g in text.graphemes(true) {
        if g.chars().count() > MAX_CODE_POINTS_PER_GRAPHEME {
            return Err(TextError::Stacked(field));
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
            Err(TextError::Invisible(Field::LastName))
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
        // See also `invisible_and_blank_look_alikes_are_refused`.
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

    /// Joiners only where an emoji or a script joins with them; blank
    /// look-alikes and invisible format characters nowhere.
    #[test]
    fn invisible_and_blank_look_alikes_are_refused() {
        let first = |raw: &str| name(Field::FirstName, raw);
        for raw in [
            "Ann\u{200D}Eve", // a ZWJ between letters: "AnnEve" that is not
            "Ann\u{200D}",
            "\u{200D}Ann",
            "👩\u{200D}",     // a joiner to nothing
            "Ann\u{200C}Eve", // a ZWNJ between Latin letters
            "Ann\u{FFF9}Eve", // interlinear annotation anchor (a format character)
            "Ann\u{13430}",   // Egyptian hieroglyph format control
            "\u{FE0F}",       // a selector of nothing
        ] {
            assert_eq!(
                first(raw),
                Err(TextError::Invisible(Field::FirstName)),
                "{raw:?}"
            );
        }
        for raw in [
            "\u{2800}",
            "\u{2800}\u{2800}\u{2800}",
            "Ann\u{2800}Eve",
            "\u{1D159}",
        ] {
            assert_eq!(
                first(raw),
                Err(TextError::Blank(Field::FirstName)),
                "{raw:?}"
            );
            assert_eq!(
                about_me(raw),
                Err(TextError::Blank(Field::AboutMe)),
                "{raw:?}"
            );
        }
        assert!(
            TextError::Blank(Field::FirstName)
                .to_string()
                .starts_with("Your first name holds a blank character")
        );
        // What emoji and scripts need stays.
        for ok in [
            "👩\u{200D}💻",                                              // woman technologist
            "🏳\u{FE0F}\u{200D}🌈",                                       // rainbow flag
            "🧑\u{1F3FD}\u{200D}🦰",         // person, skin tone, red hair
            "👨\u{200D}👩\u{200D}👧",        // family
            "❤\u{FE0F}\u{200D}🔥",           // heart on fire
            "\u{915}\u{94D}\u{200D}\u{937}", // Devanagari half form (virama, ZWJ)
            "\u{915}\u{94D}\u{200C}\u{937}", // ... no conjunct (virama, ZWNJ)
            "\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}", // Persian half-space
            "Ann 🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "\u{845B}\u{E0100}", // an ideographic variation
        ] {
            assert_eq!(first(ok).as_deref(), Ok(ok), "{ok:?}");
        }
    }
}
