//! Problems found while reading node.toml, each at a byte offset of the file.

use std::ops::Range;

use super::raw::S;
use crate::model::FieldError;

/// Collected problems: (byte offset, message).
#[derive(Debug, Default)]
pub struct Problems(pub Vec<(usize, String)>);

impl Problems {
    /// A problem at a value.
    pub fn at<T>(&mut self, s: &S<T>, msg: impl Into<String>) {
        self.0.push((s.span().start, msg.into()));
    }

    /// A problem at a span.
    pub fn at_span(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.0.push((span.start, msg.into()));
    }

    /// A model problem with `field` under `prefix` (`bgp.peers[0]`), at `span`.
    pub fn field(&mut self, prefix: &str, e: &FieldError, span: Range<usize>) {
        self.at_span(span, format!("{prefix}.{}: {}", e.field, e.message));
    }
}

/// The span of `v` if it is there, else `fallback`.
pub fn span_of<T>(v: Option<&S<T>>, fallback: &Range<usize>) -> Range<usize> {
    v.map_or_else(|| fallback.clone(), |s| s.span())
}

/// The span of element `index` of a list field, else `fallback`.
pub fn span_in<T>(list: &[S<T>], index: Option<usize>, fallback: &Range<usize>) -> Range<usize> {
    index
        .and_then(|i| list.get(i))
        .map_or_else(|| fallback.clone(), |s| s.span())
}
