//! YAML in and out, through serde-saphyr (see Cargo.toml for why that crate).
//!
//! Reading uses one set of options everywhere (`check --manifests`, `migrate`, the tests), chosen
//! to read what serde_yaml 0.9 read the same way: YAML 1.2 booleans only (`yes` stays a string),
//! `0755` and `1_000` stay strings in generic values, duplicate keys are an error. Errors are
//! plain (no source snippet): callers put the location in front as `file:line:col`.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_saphyr::MessageFormatter;

pub use serde_saphyr::{Error, SerializeError};

/// The reading options (see the module comment).
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        with_snippet: false,
    }
}

/// One YAML document into `T`; an empty document is YAML null.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(text, options())
}

/// Every non-empty document of a `---`-separated stream into `T`.
pub fn from_multiple<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, Error> {
    serde_saphyr::from_multiple_with_options(text, options())
}

/// One document of YAML for `value` (block style, ending in a newline). A string with a
/// newline is a `|` block; any other stays on its line (no `>` folding at 80 characters, so
/// a CRD description can be found with grep).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, SerializeError> {
    let options = serde_saphyr::ser_options! { folded_wrap_chars: 4096 };
    serde_saphyr::to_string_with_options(value, options)
}

/// The 1-based line and column of an error, `(1, 1)` when the parser has none.
pub fn location(e: &Error) -> (usize, usize) {
    e.location().filter(|l| l.line() > 0).map_or((1, 1), |l| {
        let at = |n: u64| usize::try_from(n).unwrap_or(usize::MAX).max(1);
        (at(l.line()), at(l.column()))
    })
}

/// The message of an error without its location (which [`location`] gives).
pub fn message(e: &Error) -> String {
    serde_saphyr::DefaultMessageFormatter
        .format_message(e)
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_line_and_column_and_a_plain_message() {
        let e = from_str::<serde_json::Value>("a: 1\nb: [\n").expect_err("unclosed");
        assert_eq!(location(&e), (2, 4));
        assert_eq!(message(&e), "unclosed bracket '['");
    }

    #[test]
    fn values_read_as_serde_yaml_read_them() {
        let v: serde_json::Value =
            from_str("a: yes\nb: 0755\nc: 1_000\nd: true\ne: 10\nf: ~\n").expect("yaml");
        assert_eq!(
            v,
            serde_json::json!({"a": "yes", "b": "0755", "c": "1_000", "d": true, "e": 10, "f": null})
        );
        assert!(from_str::<serde_json::Value>("a: 1\na: 2\n").is_err());
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        let v = serde_json::json!({
            "s": ["yes", "0755", "true", "null", "", "a: b", "# c", "*x", "multi\nline\n", "-"],
            "n": [1, -2, 1.5], "e": {}, "l": [], "z": null, "b": false,
        });
        let text = to_string(&v).expect("write");
        assert_eq!(
            from_str::<serde_json::Value>(&text).expect("read"),
            v,
            "{text}"
        );
    }
}
