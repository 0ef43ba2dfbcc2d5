//! Request paths and query strings, parsed into what the request is about.

use std::collections::BTreeMap;

use super::discovery::Resource;
use super::status::ApiError;

/// What a path names.
#[derive(Debug)]
pub enum Route {
    Version,
    CoreVersions,
    Groups,
    OpenApiV2,
    /// `/api/v1` or `/apis/{group}/{version}`.
    GroupVersion {
        group: String,
        version: String,
    },
    Objects(Target),
}

/// A collection, one object, or one object's status.
#[derive(Debug, Clone)]
pub struct Target {
    pub resource: Resource,
    /// The namespace in the URL (None: cluster-scoped resource, or a list across namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: bool,
}

/// Maps a path to a route, looking resources up in `known`.
pub fn parse(path: &str, known: &[Resource]) -> Result<Route, ApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::Groups),
        ["openapi", "v2"] => return Ok(Route::OpenApiV2),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route()),
    };
    if rest.is_empty() {
        return Ok(Route::GroupVersion {
            group: group.into(),
            version: version.into(),
        });
    }
    // `namespaces/{ns}/{resource}...`, except `namespaces/{name}/status` (a Namespace's status).
    let (namespace, rest) = match rest {
        ["namespaces", ns, res, more @ ..] if *res != "status" && *res != "finalize" => {
            (Some(ns.to_string()), prepend(res, more))
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, status) = match rest.as_slice() {
        [p] => (*p, None, false),
        [p, n] => (*p, Some(n.to_string()), false),
        [p, n, "status"] => (*p, Some(n.to_string()), true),
        _ => return Err(ApiError::no_route()),
    };
    let resource = known
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .ok_or_else(ApiError::no_route)?;
    let scoped_right = match (&namespace, &name) {
        (Some(_), _) => resource.namespaced,
        // A namespaced resource without a namespace: only its collection (across namespaces).
        (None, Some(_)) => !resource.namespaced,
        (None, None) => true,
    };
    if !scoped_right || (status && !resource.status) || name.as_deref() == Some("") {
        return Err(ApiError::no_route());
    }
    Ok(Route::Objects(Target {
        resource: resource.clone(),
        namespace,
        name,
        status,
    }))
}

fn prepend<'a>(first: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    std::iter::once(first).chain(more.iter().copied()).collect()
}

/// Query parameters, percent-decoded; the last of a repeated name wins.
#[derive(Debug, Default)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let mut map = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(decode(k), decode(v));
        }
        Query(map)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `true` or `1`, as the API server reads boolean parameters.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> bool {
        self.get("dryRun") == Some("All")
    }
}

/// application/x-www-form-urlencoded decoding; malformed escapes are kept as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}
