//! PATCH bodies and field managers.
//!
//! Simplifications, against the real server:
//! - `application/strategic-merge-patch+json` follows the directives in the patch (see
//!   `strategic.rs`), not the patch strategies of the Go types.
//! - Server-side apply (`application/apply-patch+yaml`) is a merge patch of the applied
//!   configuration onto the live object. Field ownership is not tracked: fields a manager stops
//!   applying are not removed, and two managers setting one field never conflict (so `force` has
//!   nothing to override). `metadata.managedFields` records only who wrote, how
//!   (`Apply`/`Update`), when and through which subresource, with an empty `fieldsV1`.

use serde_json::{json, Value};

use super::ids::now_rfc3339;
use super::status::ApiError;
use super::strategic;

/// The PATCH flavours, from the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Parses a body as JSON, or as YAML when `yaml` (apply bodies and kubectl's YAML).
pub fn parse_body(bytes: &[u8], yaml: bool) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(e) if !yaml => Err(ApiError::bad_request(format!("invalid JSON body: {e}"))),
        Err(_) => std::str::from_utf8(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")))
            .and_then(|text| {
                ferrolb::yaml::from_str::<Value>(text)
                    .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")))
            }),
    }
}

/// Applies a (non-apply) patch to a copy of `live`.
pub fn apply_patch(live: &Value, kind: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    let mut doc = live.clone();
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops.0).map_err(|e| {
                ApiError::new(422, "Invalid", format!("the JSON patch failed: {e}"))
            })?;
        }
        PatchType::StrategicMerge => {
            let patch = parse_body(body, false)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "a strategic merge patch must be a JSON object",
                ));
            }
            strategic::merge(&mut doc, &patch);
        }
        PatchType::Merge | PatchType::Apply => {
            let patch = parse_body(body, kind == PatchType::Apply)?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(&mut doc, &patch);
        }
    }
    Ok(doc)
}

/// Refuses bodies whose shape the server relies on is wrong (400, never a panic later).
pub fn check_object(v: &Value) -> Result<(), ApiError> {
    let meta = &v["metadata"];
    let shaped =
        |field: &str, ok: fn(&Value) -> bool| meta.get(field).is_none_or(|f| f.is_null() || ok(f));
    let valid = v.is_object()
        && (meta.is_null() || meta.is_object())
        && shaped("labels", Value::is_object)
        && shaped("annotations", Value::is_object)
        && shaped("ownerReferences", Value::is_array)
        && shaped("finalizers", Value::is_array)
        && shaped("managedFields", Value::is_array);
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "the object is malformed: it must be a JSON object whose metadata, labels, \
             annotations, ownerReferences, finalizers and managedFields have their API types",
        ))
    }
}

/// Records that `manager` wrote `obj` (one entry per manager, operation and subresource).
/// Objects that fail `check_object` are left alone.
pub fn record_manager(obj: &mut Value, manager: &str, operation: &str, subresource: Option<&str>) {
    if check_object(obj).is_err() {
        return;
    }
    let api_version = obj["apiVersion"].clone();
    if !obj["metadata"]["managedFields"].is_array() {
        obj["metadata"]["managedFields"] = json!([]);
    }
    let Some(entries) = obj["metadata"]["managedFields"].as_array_mut() else {
        return;
    };
    let same = |e: &Value| {
        e["manager"].as_str() == Some(manager)
            && e["operation"].as_str() == Some(operation)
            && e["subresource"].as_str() == subresource
    };
    entries.retain(|e| !same(e));
    let mut entry = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": {},
    });
    if let Some(s) = subresource {
        entry["subresource"] = json!(s);
    }
    entries.push(entry);
}

/// The manager of a non-apply write: `fieldManager`, else the User-Agent's program name.
pub fn update_manager(field_manager: Option<&str>, user_agent: Option<&str>) -> String {
    match (field_manager, user_agent) {
        (Some(m), _) if !m.is_empty() => m.to_string(),
        (_, Some(ua)) if !ua.is_empty() => ua.split('/').next().unwrap_or(ua).to_string(),
        _ => "unknown".to_string(),
    }
}
