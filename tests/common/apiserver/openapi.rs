//! `/openapi/v2`, reduced to what kubectl reads from it: one PATCH operation per resource,
//! tagged with `x-kubernetes-group-version-kind` and offering the `dryRun` query parameter
//! (kubectl's dry-run verifier looks for exactly that), and no schema definitions (so kubectl's
//! client-side validation finds no model and accepts every object, as it does for unknown kinds).
//! kubectl asks for the gnostic protobuf encoding (Accept mentions protobuf); JSON is served to
//! everyone else.

use serde_json::{json, Value};

use super::discovery::Resource;

/// The Content-Type of the protobuf document. The media type clients ask for
/// (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) does not parse as a MIME type in
/// Go, so, like kube-openapi, the answer is labelled as plain bytes.
pub const PROTOBUF: &str = "application/octet-stream";

/// The object path of a resource in OpenAPI's template form.
fn path(r: &Resource) -> String {
    let prefix = if r.group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
    } else {
        format!("{prefix}/{}/{{name}}", r.plural)
    }
}

fn gvk_yaml(r: &Resource) -> String {
    format!(
        "group: \"{}\"\nkind: {}\nversion: {}\n",
        r.group, r.kind, r.version
    )
}

pub fn json_document(all: &[Resource]) -> Value {
    let mut paths = serde_json::Map::new();
    for r in all {
        paths.insert(
            path(r),
            json!({"patch": {
                "operationId": format!("patch{}", r.kind),
                "parameters": [{"name": "dryRun", "in": "query", "type": "string", "uniqueItems": true}],
                "x-kubernetes-group-version-kind": {"group": r.group, "kind": r.kind, "version": r.version},
            }}),
        );
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.34.0"},
        "paths": paths,
    })
}

/// The same document in gnostic's `openapi.v2.Document` protobuf encoding. Every field used is
/// length-delimited, so the encoder is one function.
pub fn protobuf_document(all: &[Resource]) -> Vec<u8> {
    let mut doc = field(1, b"2.0"); // Document.swagger
    let info = [field(1, b"Kubernetes"), field(2, b"v1.34.0")].concat(); // Info.title, .version
    doc.extend(field(2, &info)); // Document.info
    let mut paths = Vec::new();
    for r in all {
        let query = [field(2, b"query"), field(4, b"dryRun"), field(6, b"string")].concat();
        let non_body = field(3, &query); // NonBodyParameter.query_parameter_sub_schema
        let parameter = field(2, &non_body); // Parameter.non_body_parameter
        let item = field(1, &parameter); // ParametersItem.parameter
        let any = field(2, gvk_yaml(r).as_bytes()); // Any.yaml
        let named_any = [field(1, b"x-kubernetes-group-version-kind"), field(2, &any)].concat();
        let operation = [
            field(5, format!("patch{}", r.kind).as_bytes()), // Operation.operation_id
            field(8, &item),                                 // Operation.parameters
            field(13, &named_any),                           // Operation.vendor_extension
        ]
        .concat();
        let path_item = field(8, &operation); // PathItem.patch
        let named = [field(1, path(r).as_bytes()), field(2, &path_item)].concat();
        paths.extend(field(2, &named)); // Paths.path
    }
    doc.extend(field(8, &paths)); // Document.paths
    doc
}

/// One length-delimited protobuf field: tag, length, bytes.
fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = varint(u64::from(number) << 3 | 2);
    out.extend(varint(bytes.len() as u64));
    out.extend_from_slice(bytes);
    out
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
