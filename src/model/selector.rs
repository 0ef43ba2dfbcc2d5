//! Kubernetes label selectors (`matchLabels` + `matchExpressions`) as the allocator's
//! [`Requirement`]s; the one place that knows the operator list.

use std::collections::BTreeMap;

use crate::allocator::{selects, LabelMatch, Requirement};

/// A selector as written: labels that must equal, and expressions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectorInput {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<ExpressionInput>,
}

/// One `matchExpressions` entry as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpressionInput {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

/// The operators Kubernetes label selectors have.
pub const OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

/// The allocator's form of a selector; an unknown operator is an error naming it.
pub fn requirements(sel: &SelectorInput) -> Result<LabelMatch, String> {
    let mut out: LabelMatch = sel
        .match_labels
        .iter()
        .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
        .collect();
    for e in &sel.match_expressions {
        let (k, vs) = (e.key.clone(), e.values.clone());
        out.push(match e.operator.as_str() {
            "In" => Requirement::In(k, vs),
            "NotIn" => Requirement::NotIn(k, vs),
            "Exists" => Requirement::Exists(k),
            "DoesNotExist" => Requirement::DoesNotExist(k),
            other => {
                return Err(format!(
                    "matchExpressions: operator `{other}` is not {}",
                    OPERATORS.join(", ")
                ))
            }
        });
    }
    Ok(out)
}

/// The first operator of `sel` Kubernetes does not have (to locate an error at it).
pub fn unknown_operator(sel: &SelectorInput) -> Option<&str> {
    sel.match_expressions
        .iter()
        .map(|e| e.operator.as_str())
        .find(|op| !OPERATORS.contains(op))
}

/// True when `labels` satisfy every requirement; a selector with an unknown operator selects
/// nothing.
pub fn matches(sel: &SelectorInput, labels: &BTreeMap<String, String>) -> bool {
    requirements(sel).is_ok_and(|r| selects(&r, labels))
}

/// True when any selector matches; an empty list selects everything.
pub fn any_matches(selectors: &[SelectorInput], labels: &BTreeMap<String, String>) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| matches(s, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> ExpressionInput {
        ExpressionInput {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let sel = SelectorInput {
            match_labels: labels(&[("rack", "r1")]),
            match_expressions: vec![
                expr("zone", "In", &["a", "b"]),
                expr("drain", "DoesNotExist", &[]),
            ],
        };
        assert!(matches(&sel, &labels(&[("rack", "r1"), ("zone", "a")])));
        assert!(!matches(&sel, &labels(&[("rack", "r1"), ("zone", "c")])));
        assert!(!matches(&sel, &labels(&[("rack", "r2"), ("zone", "a")])));
        assert!(!matches(
            &sel,
            &labels(&[("rack", "r1"), ("zone", "a"), ("drain", "")])
        ));
        let not_in = SelectorInput {
            match_expressions: vec![expr("zone", "NotIn", &["a"])],
            ..SelectorInput::default()
        };
        assert!(matches(&not_in, &labels(&[])));
        assert!(!matches(&not_in, &labels(&[("zone", "a")])));
        assert!(any_matches(&[], &labels(&[])));
    }

    #[test]
    fn an_unknown_operator_selects_nothing_and_is_named() {
        let bogus = SelectorInput {
            match_expressions: vec![expr("zone", "Near", &[])],
            ..SelectorInput::default()
        };
        assert!(!matches(&bogus, &labels(&[("zone", "a")])));
        assert_eq!(unknown_operator(&bogus), Some("Near"));
        assert!(requirements(&bogus).unwrap_err().contains("`Near`"));
    }
}
