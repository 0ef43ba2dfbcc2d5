//! Strategic merge patch (`application/strategic-merge-patch+json`), driven by the directives
//! the patch itself carries instead of by the Go types' patch strategies, which this server does
//! not have:
//! - a list with a sibling `$setElementOrder/<list>` is merged element by element on the key the
//!   order names (kubectl sends that order for every merging list it changes); elements marked
//!   `$patch: delete` go, server-side elements the order does not name are kept after the others;
//! - `$deleteFromPrimitiveList/<list>` removes values, `$patch: replace` replaces a map,
//!   `$retainKeys` is honoured by dropping unlisted keys;
//! - any other list replaces the live one (right for atomic lists; a merging list patched
//!   without `$setElementOrder` loses the elements the patch leaves out, unlike the real server).

use serde_json::{Map, Value};

const ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

pub fn merge(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = clean(patch);
        return;
    };
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = clean(&Value::Object(patch.clone()));
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(live) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch {
        if let Some(list) = key.strip_prefix(DELETE_FROM) {
            if let (Some(items), Some(gone)) = (
                live.get_mut(list).and_then(Value::as_array_mut),
                value.as_array(),
            ) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match value {
            Value::Null => {
                live.remove(key);
            }
            Value::Array(items) => {
                let order = patch
                    .get(&format!("{ORDER}{key}"))
                    .and_then(Value::as_array);
                let merged = match (order, live.get(key).and_then(Value::as_array)) {
                    (Some(order), Some(current)) => merge_list(current, items, order),
                    _ => clean(value),
                };
                live.insert(key.clone(), merged);
            }
            Value::Object(_) => merge(live.entry(key.clone()).or_insert(Value::Null), value),
            scalar => {
                live.insert(key.clone(), scalar.clone());
            }
        }
    }
    if let Some(keep) = patch.get("$retainKeys").and_then(Value::as_array) {
        live.retain(|k, _| keep.iter().any(|r| r.as_str() == Some(k)));
    }
}

/// Merges a list on the key named by `$setElementOrder` (or as a set, for primitives).
fn merge_list(live: &[Value], patch: &[Value], order: &[Value]) -> Value {
    let key = order
        .first()
        .and_then(Value::as_object)
        .and_then(|o| o.keys().next().cloned());
    let Some(key) = key else {
        // A primitive list: the order, then what the server had beyond it.
        let mut out: Vec<Value> = order.to_vec();
        out.extend(live.iter().filter(|v| !order.contains(v)).cloned());
        return Value::Array(out);
    };
    let find = |list: &[Value], k: &Value| list.iter().find(|e| e.get(&key) == Some(k)).cloned();
    let deleted = |e: &Value| e.get("$patch").and_then(Value::as_str) == Some("delete");
    let mut out = Vec::new();
    for o in order {
        let Some(k) = o.get(&key) else { continue };
        match (find(live, k), find(patch, k)) {
            (_, Some(p)) if deleted(&p) => {}
            (Some(mut l), Some(p)) => {
                merge(&mut l, &p);
                out.push(l);
            }
            (None, Some(p)) => out.push(clean(&p)),
            (Some(l), None) => out.push(l),
            (None, None) => {}
        }
    }
    for l in live {
        let named = l
            .get(&key)
            .is_some_and(|k| order.iter().any(|o| o.get(&key) == Some(k)));
        let removed = l
            .get(&key)
            .is_some_and(|k| find(patch, k).is_some_and(|p| deleted(&p)));
        if !named && !removed {
            out.push(l.clone());
        }
    }
    Value::Array(out)
}

/// A patch value without directives, for storing as it is.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|e| e.get("$patch").and_then(Value::as_str) != Some("delete"))
                .map(clean)
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn kubectl_port_change_merges_on_the_port_key() {
        let mut live = json!({"spec": {"ports": [
            {"port": 80, "protocol": "TCP", "nodePort": 30000},
            {"port": 443, "protocol": "TCP", "nodePort": 30001},
        ]}});
        let patch = json!({"spec": {
            "$setElementOrder/ports": [{"port": 81}, {"port": 443}],
            "ports": [{"port": 81, "protocol": "TCP"}, {"$patch": "delete", "port": 80}],
        }});
        merge(&mut live, &patch);
        assert_eq!(
            live,
            json!({"spec": {"ports": [
                {"port": 81, "protocol": "TCP"},
                {"port": 443, "protocol": "TCP", "nodePort": 30001},
            ]}})
        );
    }
}
