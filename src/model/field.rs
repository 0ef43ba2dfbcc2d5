//! A problem with one field of one input object, named in the model's terms.

use std::fmt;

/// What is wrong with one field. `field` is the model's (snake_case, as in node.toml) name;
/// `index` picks the element of a list field. The front end that filled the input turns both
/// into its own path and location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub index: Option<usize>,
    pub message: String,
}

impl FieldError {
    /// A problem with a whole field.
    pub fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            index: None,
            message: message.into(),
        }
    }

    /// A problem with element `index` of a list field.
    pub fn at(field: &'static str, index: usize, message: impl Into<String>) -> FieldError {
        FieldError {
            field,
            index: Some(index),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Reads an integer field that must lie in `lo..=hi`; out of range is an error and `None`.
pub(crate) fn ranged(
    value: Option<i64>,
    field: &'static str,
    lo: i64,
    hi: i64,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    let v = value?;
    if (lo..=hi).contains(&v) {
        Some(v)
    } else {
        errors.push(FieldError::new(
            field,
            format!("{v} is out of range {lo}..={hi}"),
        ));
        None
    }
}
