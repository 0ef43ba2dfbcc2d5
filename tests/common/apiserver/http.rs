//! The HTTP side: bearer-token check, routing, and one handler per verb. Every failure is a
//! `Status` with its HTTP code; nothing a client sends can panic the server.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::discovery::{self, Resource};
use super::openapi;
use super::patch::{self, PatchType};
use super::route::{self, Query, Route, Target};
use super::select::Filter;
use super::status::ApiError;
use super::store::{DeleteOptions, Store};
use super::watch::{self, lock, present, Start, WatchRequest};

/// Request bodies above this are refused (the real limit is 3 MiB per object).
const MAX_BODY: usize = 8 << 20;

/// What the connection tasks share with the `ApiServer` handle.
pub struct Shared {
    pub store: Arc<Mutex<Store>>,
    pub token: String,
    pub port: u16,
    pub log: Mutex<Vec<String>>,
    /// Watch producers, aborted by `stop()` together with the connections.
    pub tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// A response body: a whole JSON document, or the lines of a watch.
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut resp = Response::new(Body::Full(Some(Bytes::from(body))));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.code, &e.to_json())
}

type Answer = Result<Response<Body>, ApiError>;

/// The parts of a request the handlers read.
struct Call {
    method: Method,
    query: Query,
    content_type: String,
    accept: String,
    user_agent: Option<String>,
    body: Bytes,
}

pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().map(str::to_string);
    let line = match &raw_query {
        Some(q) => format!("{} {path}?{q}", req.method()),
        None => format!("{} {path}", req.method()),
    };
    shared
        .log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(line);
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h == format!("Bearer {}", shared.token));
    if !authorized {
        return Ok(error_response(&ApiError::new(
            401,
            "Unauthorized",
            "Unauthorized",
        )));
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
    };
    let (content_type, accept, user_agent) = (
        header("content-type").unwrap_or_default(),
        header("accept").unwrap_or_default(),
        header("user-agent"),
    );
    let method = req.method().clone();
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return Ok(error_response(&e)),
    };
    let call = Call {
        method,
        query: Query::parse(raw_query.as_deref()),
        content_type,
        accept,
        user_agent,
        body,
    };
    Ok(dispatch(&shared, &path, call).unwrap_or_else(|e| error_response(&e)))
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("request body: {e}"),
        )),
    }
}

fn dispatch(shared: &Arc<Shared>, path: &str, call: Call) -> Answer {
    let known = discovery::resources(&lock(&shared.store).crds());
    let target = match route::parse(path, &known)? {
        Route::Version => return Ok(json_response(200, &discovery::version())),
        Route::CoreVersions => {
            return Ok(json_response(200, &discovery::core_versions(shared.port)))
        }
        Route::Groups => return Ok(json_response(200, &discovery::group_list(&known))),
        Route::OpenApiV2 if call.accept.contains("protobuf") => {
            let mut resp = Response::new(Body::Full(Some(Bytes::from(
                openapi::protobuf_document(&known),
            ))));
            resp.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static(openapi::PROTOBUF),
            );
            return Ok(resp);
        }
        Route::OpenApiV2 => return Ok(json_response(200, &openapi::json_document(&known))),
        Route::GroupVersion { group, version } => {
            let list = discovery::resource_list(&known, &group, &version)
                .ok_or_else(ApiError::no_route)?;
            return Ok(json_response(200, &list));
        }
        Route::Objects(t) => t,
    };
    let named = target.name.is_some();
    match (&call.method, named) {
        (&Method::GET, false) if call.query.flag("watch") => {
            start_watch(shared, &target, &call.query)
        }
        (&Method::GET, false) => list(shared, &target, &call.query),
        (&Method::GET, true) => get(shared, &target),
        (&Method::POST, false) if target.namespace.is_some() || !target.resource.namespaced => {
            create(shared, &target, &call)
        }
        (&Method::PUT, true) => replace(shared, &target, &call),
        (&Method::PATCH, true) => patch(shared, &target, &call),
        (&Method::DELETE, true) => delete(shared, &target, &call),
        (&Method::DELETE, false) => delete_collection(shared, &target, &call),
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{} is not supported on {path}", call.method),
        )),
    }
}

fn ns(t: &Target) -> &str {
    t.namespace.as_deref().unwrap_or("")
}

fn name(t: &Target) -> &str {
    t.name.as_deref().unwrap_or("")
}

/// Runs a write on the store, or on a scratch copy for `dryRun=All`.
fn write<T>(shared: &Shared, dry_run: bool, f: impl FnOnce(&mut Store) -> T) -> T {
    let mut store = lock(&shared.store);
    if dry_run {
        f(&mut store.scratch())
    } else {
        f(&mut store)
    }
}

fn filter(t: &Target, q: &Query) -> Result<Filter, ApiError> {
    Filter::parse(
        t.namespace.clone(),
        q.get("labelSelector"),
        q.get("fieldSelector"),
    )
    .map_err(ApiError::bad_request)
}

/// A List of everything that matches, at the current resourceVersion, in pages of `limit`
/// with a `continue` token as the real server gives them (kube's watcher lists 500 at a time).
/// Simplified: a continued page reads the current state after the last key of the previous
/// page (the real server reads a snapshot) and carries the first page's resourceVersion, so a
/// watch from it replays what changed meanwhile. A `resourceVersion` parameter is answered
/// with the current state.
fn list(shared: &Shared, t: &Target, q: &Query) -> Answer {
    let f = filter(t, q)?;
    let store = lock(&shared.store);
    let limit = match q.get("limit") {
        None | Some("") | Some("0") => usize::MAX,
        Some(l) => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
    };
    let (rv, after) = match q.get("continue").filter(|c| !c.is_empty()) {
        None => (store.rv(), None),
        Some(token) => {
            let (rv, key) = decode_continue(token).ok_or_else(|| {
                ApiError::bad_request(format!("invalid continue token {token:?}"))
            })?;
            (rv, Some(key))
        }
    };
    let (items, last) = store.list_page(&t.resource.store_key(), &f, after.as_ref(), limit);
    let items: Vec<Value> = items.into_iter().map(|o| present(o, &t.resource)).collect();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if let Some((ns, name)) = last {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{rv}/{ns}/{name}"));
        metadata["continue"] = json!(token);
    }
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", t.resource.kind),
            "apiVersion": t.resource.api_version(),
            "metadata": metadata,
            "items": items,
        }),
    ))
}

/// `(resourceVersion, (namespace, name))` from a continue token of [`list`].
fn decode_continue(token: &str) -> Option<(u64, (String, String))> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '/');
    let rv = parts.next()?.parse().ok()?;
    let ns = parts.next()?.to_string();
    let name = parts.next()?.to_string();
    Some((rv, (ns, name)))
}

fn start_watch(shared: &Arc<Shared>, t: &Target, q: &Query) -> Answer {
    let start = match q.get("resourceVersion") {
        None | Some("") | Some("0") => Start::Everything,
        Some(v) => Start::After(
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {v:?}")))?,
        ),
    };
    let send_initial = q.flag("sendInitialEvents");
    let timeout = match q.get("timeoutSeconds") {
        Some(s) => Some(Duration::from_secs(s.parse().map_err(|_| {
            ApiError::bad_request(format!("invalid timeoutSeconds {s:?}"))
        })?)),
        None => None,
    };
    let w = WatchRequest {
        resource: t.resource.clone(),
        filter: filter(t, q)?,
        // With sendInitialEvents the current state is streamed first whatever the version.
        start: if send_initial {
            Start::Everything
        } else {
            start
        },
        bookmarks: q.flag("allowWatchBookmarks"),
        initial_events_end: send_initial,
        timeout,
    };
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(watch::run(shared.store.clone(), w, tx));
    let mut tasks = shared.tasks.lock().unwrap_or_else(|p| p.into_inner());
    tasks.retain(|t| !t.is_finished());
    tasks.push(task);
    let mut resp = Response::new(Body::Stream(rx));
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

fn get(shared: &Shared, t: &Target) -> Answer {
    let r = &t.resource;
    let store = lock(&shared.store);
    let obj = store
        .get(&r.store_key(), ns(t), name(t))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&r.plural, &r.group, name(t)))?;
    Ok(json_response(200, &present(obj, r)))
}

/// Kinds whose status the client may set on create; for the others (Services, custom
/// resources, workloads) the server resets it, as their create strategies do.
const KEEPS_STATUS_ON_CREATE: &[&str] = &["Node", "Pod"];

fn create(shared: &Shared, t: &Target, call: &Call) -> Answer {
    let r = &t.resource;
    let mut obj = patch::parse_body(&call.body, call.content_type.contains("yaml"))?;
    patch::check_object(&obj)?;
    prepare_for_create(r, &mut obj);
    let manager = patch::update_manager(call.query.get("fieldManager"), call.user_agent.as_deref());
    patch::record_manager(&mut obj, &manager, "Update", None);
    let created = write(shared, call.query.dry_run(), |s| {
        require_namespace(s, t)?;
        s.create(r, ns(t), obj)
    })?;
    Ok(json_response(201, &present(created, r)))
}

fn prepare_for_create(r: &Resource, obj: &mut Value) {
    if r.status && !KEEPS_STATUS_ON_CREATE.contains(&r.kind.as_str()) {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    if r.kind == "Namespace" && obj.is_object() {
        obj["status"] = json!({"phase": "Active"});
    }
}

/// Namespaced objects can only be created in a namespace that exists.
fn require_namespace(s: &Store, t: &Target) -> Result<(), ApiError> {
    match &t.namespace {
        Some(n) if s.get("/namespaces", "", n).is_none() => {
            Err(ApiError::not_found("namespaces", "", n))
        }
        _ => Ok(()),
    }
}

fn replace(shared: &Shared, t: &Target, call: &Call) -> Answer {
    let r = &t.resource;
    let mut obj = patch::parse_body(&call.body, call.content_type.contains("yaml"))?;
    patch::check_object(&obj)?;
    let manager = patch::update_manager(call.query.get("fieldManager"), call.user_agent.as_deref());
    if obj.is_object() {
        patch::record_manager(&mut obj, &manager, "Update", t.status.then_some("status"));
    }
    let stored = write(shared, call.query.dry_run(), |s| {
        s.replace(r, ns(t), name(t), obj, t.status)
    })?;
    Ok(json_response(200, &present(stored, r)))
}

fn patch(shared: &Shared, t: &Target, call: &Call) -> Answer {
    let r = &t.resource;
    let kind = PatchType::from_content_type(&call.content_type).ok_or_else(|| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {:?})", call.content_type),
        )
    })?;
    let (manager, operation) = if kind == PatchType::Apply {
        let m = call.query.get("fieldManager").filter(|m| !m.is_empty()).ok_or_else(|| {
            ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
        })?;
        (m.to_string(), "Apply")
    } else {
        (
            patch::update_manager(call.query.get("fieldManager"), call.user_agent.as_deref()),
            "Update",
        )
    };
    let sub = t.status.then_some("status");
    let (code, stored) = write(shared, call.query.dry_run(), |s| {
        let live = s.get(&r.store_key(), ns(t), name(t)).cloned();
        match live {
            Some(live) => {
                let mut new = patch::apply_patch(&live, kind, &call.body)?;
                patch::check_object(&new)?;
                patch::record_manager(&mut new, &manager, operation, sub);
                s.replace(r, ns(t), name(t), new, t.status)
                    .map(|o| (200, o))
            }
            // Server-side apply creates what does not exist yet.
            None if kind == PatchType::Apply && !t.status => {
                let mut obj = patch::parse_body(&call.body, true)?;
                patch::check_object(&obj)?;
                prepare_for_create(r, &mut obj);
                if obj.is_object() {
                    obj["metadata"]["name"] = json!(name(t));
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                    }
                    patch::record_manager(&mut obj, &manager, operation, None);
                }
                require_namespace(s, t)?;
                s.create(r, ns(t), obj).map(|o| (201, o))
            }
            None => Err(ApiError::not_found(&r.plural, &r.group, name(t))),
        }
    })?;
    Ok(json_response(code, &present(stored, r)))
}

/// DeleteOptions from the body (and `propagationPolicy` from the query).
fn delete_options(call: &Call) -> Result<DeleteOptions, ApiError> {
    let body = if call.body.is_empty() {
        json!({})
    } else {
        patch::parse_body(&call.body, false)?
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .or(call.query.get("propagationPolicy"))
        .unwrap_or("Background");
    let pre = &body["preconditions"];
    Ok(DeleteOptions {
        orphan: policy == "Orphan" || body["orphanDependents"].as_bool() == Some(true),
        uid: pre["uid"].as_str().map(str::to_string),
        resource_version: pre["resourceVersion"].as_str().map(str::to_string),
    })
}

/// Returns the deleted object (200), or the object marked for deletion while finalizers remain
/// (202). Foreground propagation is treated as Background: dependents go right after the owner.
fn delete(shared: &Shared, t: &Target, call: &Call) -> Answer {
    let r = &t.resource;
    let opts = delete_options(call)?;
    let gone = write(shared, call.query.dry_run(), |s| {
        s.delete(r, ns(t), name(t), &opts)
    })?;
    let pending = gone["metadata"].get("deletionTimestamp").is_some()
        && lock(&shared.store)
            .get(&r.store_key(), ns(t), name(t))
            .is_some();
    Ok(json_response(
        if pending { 202 } else { 200 },
        &present(gone, r),
    ))
}

fn delete_collection(shared: &Shared, t: &Target, call: &Call) -> Answer {
    let r = &t.resource;
    let f = filter(t, &call.query)?;
    let opts = delete_options(call)?;
    let items = write(shared, call.query.dry_run(), |s| {
        let victims = s.list(&r.store_key(), &f);
        let mut gone = Vec::new();
        for v in victims {
            let vns = v["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let vname = v["metadata"]["name"].as_str().unwrap_or("").to_string();
            if let Ok(o) = s.delete(r, &vns, &vname, &opts) {
                gone.push(present(o, r));
            }
        }
        gone
    });
    let rv = lock(&shared.store).rv();
    Ok(json_response(
        200,
        &json!({
            "kind": format!("{}List", r.kind), "apiVersion": r.api_version(),
            "metadata": {"resourceVersion": rv.to_string()}, "items": items,
        }),
    ))
}
