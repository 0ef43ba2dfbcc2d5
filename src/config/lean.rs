//! A lean reader for files with many `[[services]]` tables: the `toml` crate builds a tree of
//! the whole document before deserializing it (about 1.4 KB per `[[services]]` entry), so the
//! tables are found with `toml_parser`'s lexer (tokens only, no tree) and each is parsed alone,
//! one at a time, while the rest of the file is parsed with the tables blanked out (same byte
//! offsets, so every span stays true).
//!
//! This is only the fast path for valid files: when anything here does not parse, or the file
//! is unusual (`[services.x]`, `services = [...]`, `[[ services ]]`), the caller parses the
//! whole document as before, so every error message is the one the full parse gives.

use std::ops::Range;

use serde::Deserialize;
use toml_parser::lexer::TokenKind;

use super::raw::{RawConfig, RawService, S};

/// A file split into its `[[services]]` tables and the rest.
pub struct Split<'a> {
    text: &'a str,
    tables: Vec<Range<usize>>,
}

/// One `[[services]]` table parsed alone.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OneService {
    services: Vec<S<RawService>>,
}

impl<'a> Split<'a> {
    /// The byte ranges of the top-level `[[services]]` tables (header to the next header);
    /// None when there are none or the file is unusual (the full parse decides then).
    pub fn new(text: &'a str) -> Option<Split<'a>> {
        let tables = tables(text)?;
        Some(Split { text, tables })
    }

    /// Everything but the `[[services]]` tables, parsed; None when it does not parse or
    /// defines services itself.
    pub fn rest(&self) -> Option<RawConfig> {
        // The tables that end the file are left out rather than blanked: the parser's token
        // buffer is sized by its input.
        let mut end = self.text.len();
        for r in self.tables.iter().rev() {
            if r.end != end {
                break;
            }
            end = r.start;
        }
        let mut blank = self.text.as_bytes().get(..end)?.to_vec();
        for r in self.tables.iter().filter(|r| r.end <= end) {
            for b in blank.get_mut(r.clone())? {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        // Only ASCII bytes were written over whole UTF-8 sequences.
        let blank = String::from_utf8(blank).ok()?;
        let raw: RawConfig = toml::from_str(&blank).ok()?;
        raw.services.is_empty().then_some(raw)
    }

    /// Parses the tables one at a time, in file order; stops (and sets `failed`) at the first
    /// that does not parse alone as exactly one service.
    pub fn services<'s>(
        &'s self,
        failed: &'s mut bool,
    ) -> impl Iterator<Item = S<RawService>> + 's {
        self.tables.iter().map_while(move |r| {
            let one = self.text.get(r.clone()).and_then(|t| {
                simple(t).or_else(|| {
                    toml::from_str::<OneService>(t)
                        .ok()
                        .filter(|o| o.services.len() == 1)
                        .and_then(|o| o.services.into_iter().next())
                })
            });
            if one.is_none() {
                *failed = true;
            }
            one.map(|s| shift(s, r.start))
        })
    }
}

/// Finds the `[[services]]` tables: a header starts a line outside any value (brackets of
/// multi-line arrays and inline tables are counted), and a table ends at the next header.
fn tables(text: &str) -> Option<Vec<Range<usize>>> {
    let source = toml_parser::Source::new(text);
    let mut tokens = source.lex();
    let mut found = Vec::new();
    let mut open: Option<usize> = None;
    let (mut line_start, mut depth) = (true, 0usize);
    while let Some(t) = tokens.next() {
        match t.kind() {
            TokenKind::Newline if depth == 0 => line_start = true,
            TokenKind::Newline | TokenKind::Whitespace | TokenKind::Comment => {}
            TokenKind::LeftSquareBracket if line_start && depth == 0 => {
                let start = t.span().start();
                let mut end = t.span().end();
                for h in tokens.by_ref() {
                    match h.kind() {
                        TokenKind::Newline | TokenKind::Eof => break,
                        TokenKind::Whitespace | TokenKind::Comment => {}
                        _ => end = h.span().end(),
                    }
                }
                if let Some(s) = open.take() {
                    found.push(s..start);
                }
                let header = text.get(start..end)?;
                if header == "[[services]]" {
                    open = Some(start);
                } else if header.contains("services") {
                    return None;
                }
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => {
                depth += 1;
                line_start = false;
            }
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                depth = depth.saturating_sub(1);
                line_start = false;
            }
            TokenKind::Eof => break,
            _ => line_start = false,
        }
    }
    if let Some(s) = open {
        found.push(s..text.len());
    }
    (!found.is_empty()).then_some(found)
}

/// The common shape of a `[[services]]` table read straight from the lexer's tokens, without
/// the `toml` crate's document machinery (at 100k tables that is most of the start-up CPU):
/// only `key = "string"` lines (and `addresses = ["..", ..]` on one line) of the known keys,
/// each at most once, with basic strings free of escapes and control characters, and no
/// comments. Anything else is None, and the table goes through `toml` as before; the result
/// and its spans are those `toml` gives (tested side by side).
fn simple(table: &str) -> Option<S<RawService>> {
    let source = toml_parser::Source::new(table);
    let mut tokens = source.lex().filter(|t| t.kind() != TokenKind::Whitespace);
    // The header, `[[services]]`, up to its newline: toml's span of the table.
    let mut header = 0;
    for t in tokens.by_ref() {
        match t.kind() {
            TokenKind::Newline => break,
            TokenKind::Comment | TokenKind::Eof => return None,
            _ => header = t.span().end(),
        }
    }
    let string = |t: &toml_parser::lexer::Token| -> Option<S<String>> {
        let span = t.span();
        let raw = table.get(span.start()..span.end())?;
        let body = raw.strip_prefix('"')?.strip_suffix('"')?;
        let plain = |c: char| c != '\\' && c != '"' && (c == '\t' || !c.is_control());
        if t.kind() != TokenKind::BasicString || !body.chars().all(plain) {
            return None;
        }
        Some(S::new(span.start()..span.end(), body.to_string()))
    };
    let mut r = RawService {
        name: None,
        pool: None,
        addresses: None,
        ip_families: None,
        allow_shared_ip: None,
    };
    // The lexer may end without an Eof token.
    while let Some(key) = tokens.next() {
        match key.kind() {
            TokenKind::Newline => continue,
            TokenKind::Eof => break,
            TokenKind::Atom => {}
            _ => return None,
        }
        if tokens.next()?.kind() != TokenKind::Equals {
            return None;
        }
        let value = tokens.next()?;
        let name = table.get(key.span().start()..key.span().end())?;
        if name == "addresses" {
            if value.kind() != TokenKind::LeftSquareBracket {
                return None;
            }
            // Strings separated by commas (a trailing one is allowed, as in TOML).
            let mut list = Vec::new();
            loop {
                let t = tokens.next()?;
                if t.kind() == TokenKind::RightSquareBracket {
                    break;
                }
                list.push(string(&t)?);
                let after = tokens.next()?;
                match after.kind() {
                    TokenKind::Comma => {}
                    TokenKind::RightSquareBracket => break,
                    _ => return None,
                }
            }
            once(&mut r.addresses, list)?;
        } else {
            let v = string(&value)?;
            match name {
                "name" => once(&mut r.name, v)?,
                "pool" => once(&mut r.pool, v)?,
                "ip_families" => once(&mut r.ip_families, v)?,
                "allow_shared_ip" => once(&mut r.allow_shared_ip, v.into_inner())?,
                _ => return None,
            }
        }
        continue_line(&mut tokens)?;
    }
    Some(S::new(0..header, r))
}

/// Sets a key's value; None when the key was set before (TOML refuses that, so `toml` says so).
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

/// After a value: the end of its line (or of the table).
fn continue_line(tokens: &mut impl Iterator<Item = toml_parser::lexer::Token>) -> Option<()> {
    match tokens.next().map(|t| t.kind()) {
        None | Some(TokenKind::Newline | TokenKind::Eof) => Some(()),
        _ => None,
    }
}

/// The spans of a table parsed alone, moved to where the table is in the file.
fn shift(s: S<RawService>, by: usize) -> S<RawService> {
    fn at<T>(v: S<T>, by: usize) -> S<T> {
        let span = v.span();
        S::new(span.start + by..span.end + by, v.into_inner())
    }
    let span = s.span();
    let r = s.into_inner();
    let r = RawService {
        name: r.name.map(|v| at(v, by)),
        pool: r.pool.map(|v| at(v, by)),
        addresses: r
            .addresses
            .map(|a| a.into_iter().map(|v| at(v, by)).collect()),
        ip_families: r.ip_families.map(|v| at(v, by)),
        allow_shared_ip: r.allow_shared_ip,
    };
    S::new(span.start + by..span.end + by, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Option<Vec<&str>> {
        let s = Split::new(text)?;
        Some(s.tables.iter().map(|r| &text[r.clone()]).collect())
    }

    #[test]
    fn services_tables_run_from_their_header_to_the_next_header() {
        let text = "[node]\nname = \"a\"\n[[services]]\nname = \"x\"\n\n[[services]] # y\nname = \"y\"\n[http]\nlisten = \"\"\n";
        assert_eq!(
            split(text),
            Some(vec![
                "[[services]]\nname = \"x\"\n\n",
                "[[services]] # y\nname = \"y\"\n"
            ])
        );
    }

    #[test]
    fn brackets_inside_values_and_strings_are_not_headers() {
        let text = "[[services]]\nname = \"x\"\naddresses = [\n[\"a\"][0],\n]\nallow_shared_ip = \"\"\"\n[pools]\n\"\"\"\n";
        assert_eq!(split(text), Some(vec![text]));
    }

    #[test]
    fn unusual_services_definitions_are_left_to_the_full_parse() {
        assert_eq!(split("[node]\nname = \"a\"\n"), None);
        assert_eq!(split("[[ services ]]\nname = \"x\"\n"), None);
        assert_eq!(split("[[services]]\nname = \"x\"\n[services.x]\n"), None);
        let text = "services = [{ name = \"y\" }]\n[[services]]\nname = \"x\"\n";
        assert!(Split::new(text).and_then(|s| s.rest()).is_none());
    }

    #[test]
    fn spans_of_a_table_parsed_alone_are_those_of_the_whole_file() {
        let text = "[node]\nname = \"a\"\n\n[[services]]\nname = \"x\"\npool = \"p\"\naddresses = [\"192.0.2.1\"]\n";
        let whole: RawConfig = toml::from_str(text).expect("valid");
        let split = Split::new(text).expect("one table");
        let mut failed = false;
        let alone: Vec<_> = split.services(&mut failed).collect();
        assert!(!failed);
        let (w, a) = (&whole.services[0], &alone[0]);
        assert_eq!(w.span(), a.span());
        let spans = |s: &S<RawService>| {
            let r = s.get_ref();
            (
                r.name.as_ref().map(|v| v.span()),
                r.pool.as_ref().map(|v| v.span()),
                r.addresses
                    .iter()
                    .flatten()
                    .map(|v| v.span())
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(spans(w), spans(a));
    }

    /// The fast reader gives what `toml` gives, spans included, or leaves the table to it.
    #[test]
    fn simple_tables_read_from_the_tokens_are_what_toml_reads() {
        let simple_ones = [
            "[[services]]\nname = \"x\"\npool = \"p\"\n",
            "[[services]]\nname = \"x\"\n\n",
            "[[services]]\n  name=\"web\"  \naddresses = [\"192.0.2.1\", \"2001:db8::1\"]\nip_families = \"PreferDualStack\"\nallow_shared_ip = \"k\"\n",
            "[[services]]\nname = \"\"\naddresses = []\n",
            "[[services]]\nname = \"x\"",
            "[[services]]\naddresses = [\"192.0.2.1\",]\n",
        ];
        for text in simple_ones {
            let fast = simple(text).unwrap_or_else(|| panic!("fast path: {text:?}"));
            let slow = toml::from_str::<OneService>(text).expect("valid").services;
            let slow = &slow[0];
            assert_eq!(fast.span(), slow.span(), "{text:?}");
            let (f, s) = (fast.get_ref(), slow.get_ref());
            let field = |v: &Option<S<String>>| v.as_ref().map(|v| (v.get_ref().clone(), v.span()));
            assert_eq!(field(&f.name), field(&s.name), "{text:?}");
            assert_eq!(field(&f.pool), field(&s.pool), "{text:?}");
            assert_eq!(field(&f.ip_families), field(&s.ip_families), "{text:?}");
            assert_eq!(f.allow_shared_ip, s.allow_shared_ip, "{text:?}");
            let list = |v: &Option<Vec<S<String>>>| {
                v.as_ref().map(|l| {
                    l.iter()
                        .map(|v| (v.get_ref().clone(), v.span()))
                        .collect::<Vec<_>>()
                })
            };
            assert_eq!(list(&f.addresses), list(&s.addresses), "{text:?}");
        }
        for text in [
            "[[services]]\nname = \"x\" # c\n",
            "[[services]] # c\nname = \"x\"\n",
            "[[services]]\nname = \"a\\tb\"\n",
            "[[services]]\nname = 'x'\n",
            "[[services]]\nname = \"x\"\nname = \"y\"\n",
            "[[services]]\nnmae = \"x\"\n",
            "[[services]]\nname = 1\n",
            "[[services]]\n\"name\" = \"x\"\n",
            "[[services]]\naddresses = [\n\"192.0.2.1\"]\n",
            "[[services]]\naddresses = [\"192.0.2.1\" \"192.0.2.2\"]\n",
            "[[services]]\naddresses = [,\"192.0.2.1\"]\n",
            "[[services]]\nname = \"x\" pool = \"p\"\n",
        ] {
            assert!(simple(text).is_none(), "left to toml: {text:?}");
        }
    }

    #[test]
    fn a_table_that_does_not_parse_alone_stops_the_lean_path() {
        let text = "[[services]]\nname = \"x\"\n[[services]]\nname = 1\n";
        let split = Split::new(text).expect("two tables");
        let mut failed = false;
        assert_eq!(split.services(&mut failed).count(), 1);
        assert!(failed);
    }
}
