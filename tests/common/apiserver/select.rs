//! Which objects a request is about: `labelSelector`, `fieldSelector` and the URL's namespace,
//! parsed the way the API server parses them.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A field selector term: a dotted path, `=`/`==` or `!=`, a value.
#[derive(Debug, Clone)]
struct FieldTerm {
    path: String,
    equal: bool,
    value: String,
}

/// Everything that narrows a list or a watch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    labels: Vec<Requirement>,
    fields: Vec<FieldTerm>,
}

impl Filter {
    /// Parses both selectors; the error is the message of a 400.
    pub fn parse(
        namespace: Option<String>,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Filter, String> {
        let labels = match labels {
            Some(s) => split_outside_parens(s)
                .into_iter()
                .filter(|t| !t.trim().is_empty())
                .map(parse_requirement)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let fields = match fields {
            Some(s) => s
                .split(',')
                .filter(|t| !t.trim().is_empty())
                .map(parse_field_term)
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(Filter {
            namespace,
            labels,
            fields,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let meta = &obj["metadata"];
        if let Some(ns) = &self.namespace {
            if meta["namespace"].as_str() != Some(ns) {
                return false;
            }
        }
        let labels = &meta["labels"];
        self.labels.iter().all(|r| requirement_holds(r, labels))
            && self
                .fields
                .iter()
                .all(|t| (field_value(obj, &t.path) == t.value) == t.equal)
    }
}

fn requirement_holds(r: &Requirement, labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    match r {
        Requirement::Equals(k, v) => get(k) == Some(v),
        Requirement::NotEquals(k, v) => get(k) != Some(v),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
        Requirement::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
    }
}

/// The value a field selector compares: strings as they are, other scalars printed, absent "".
fn field_value(obj: &Value, path: &str) -> String {
    let mut at = obj;
    for part in path.split('.') {
        match at.get(part) {
            Some(v) => at = v,
            None => return String::new(),
        }
    }
    match at {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Splits at commas that are not inside `(...)` (set-based requirements contain commas).
fn split_outside_parens(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_requirement(term: &str) -> Result<Requirement, String> {
    let t = term.trim();
    let bad = || format!("unable to parse requirement: {t:?}");
    if let Some(key) = t.strip_prefix('!') {
        return Ok(Requirement::NotExists(
            valid_key(key.trim()).ok_or_else(bad)?,
        ));
    }
    for (word, negated) in [(" notin ", true), (" in ", false)] {
        if let Some((key, set)) = t.split_once(word) {
            let set = set.trim();
            let inner = set
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(bad)?;
            let values = inner.split(',').map(|v| v.trim().to_string()).collect();
            let key = valid_key(key.trim()).ok_or_else(bad)?;
            return Ok(if negated {
                Requirement::NotIn(key, values)
            } else {
                Requirement::In(key, values)
            });
        }
    }
    if let Some((k, v)) = t.split_once("!=") {
        let key = valid_key(k.trim()).ok_or_else(bad)?;
        return Ok(Requirement::NotEquals(key, v.trim().to_string()));
    }
    if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
        let key = valid_key(k.trim()).ok_or_else(bad)?;
        return Ok(Requirement::Equals(key, v.trim().to_string()));
    }
    Ok(Requirement::Exists(valid_key(t).ok_or_else(bad)?))
}

/// A label key: non-empty, no whitespace or selector punctuation.
fn valid_key(k: &str) -> Option<String> {
    let ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    ok.then(|| k.to_string())
}

fn parse_field_term(term: &str) -> Result<FieldTerm, String> {
    let t = term.trim();
    let (path, equal, value) = if let Some((p, v)) = t.split_once("!=") {
        (p, false, v)
    } else if let Some((p, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
        (p, true, v)
    } else {
        return Err(format!("invalid field selector: {t:?}"));
    };
    Ok(FieldTerm {
        path: path.trim().to_string(),
        equal,
        value: value.trim().to_string(),
    })
}
