//! The HTTP endpoint: `/healthz`, `/readyz`, `/status` (JSON) and `/metrics` (Prometheus), GET
//! only, served with hyper, and the
//! client side used by `ferrolb status`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

use crate::status::{StatusModel, StatusReport};

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, source: Arc<StatusModel>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let source = source.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let source = source.clone();
                async move { Ok::<_, Infallible>(route(&req, source.as_ref())) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn route(req: &Request<Incoming>, source: &StatusModel) -> Response<Full<Bytes>> {
    if req.method() != hyper::Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" => response(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            crate::metrics::render(&source.metrics()).into_bytes(),
        ),
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if source.ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        "/status" => match serde_json::to_vec_pretty(&source.report()) {
            Ok(body) => response(StatusCode::OK, "application/json", body),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    response(status, "text/plain", body.as_bytes().to_vec())
}

fn response(status: StatusCode, ctype: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = ctype.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Errors of the status client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad URL {0:?}: expected http://HOST:PORT")]
    Url(String),
    #[error("cannot reach ferrolb at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP error talking to ferrolb: {0}")]
    Http(#[from] hyper::Error),
    #[error("ferrolb answered {0}")]
    Status(StatusCode),
    #[error("cannot parse the /status answer: {0}")]
    Json(#[from] serde_json::Error),
}

/// Fetches `/status` from a running daemon at `url` (`http://host:port`).
pub async fn fetch_status(url: &str) -> Result<StatusReport, ClientError> {
    let authority = url
        .strip_prefix("http://")
        .map(|s| s.trim_end_matches('/'))
        .ok_or_else(|| ClientError::Url(url.to_string()))?;
    let addr: SocketAddr = authority
        .parse()
        .map_err(|_| ClientError::Url(url.to_string()))?;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect {
            addr: authority.to_string(),
            source,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::get("/status")
        .header(hyper::header::HOST, authority)
        .body(Full::new(Bytes::new()))
        .map_err(|_| ClientError::Url(url.to_string()))?;
    let resp = sender.send_request(req).await?;
    if resp.status() != StatusCode::OK {
        return Err(ClientError::Status(resp.status()));
    }
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One raw HTTP/1.1 request to a served model; the status line of the answer.
    fn ask(request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            tokio::spawn(serve(listener, Arc::new(StatusModel::new())));
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.write_all(request.as_bytes()).await.expect("write");
            let mut out = vec![0; 512];
            let n = s.read(&mut out).await.expect("read");
            String::from_utf8_lossy(&out[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
    }

    #[test]
    fn only_get_is_served_and_unknown_paths_are_404() {
        let get = |path: &str| ask(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(get("/metrics"), "HTTP/1.1 200 OK");
        assert_eq!(get("/nope"), "HTTP/1.1 404 Not Found");
        let post = ask("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(post, "HTTP/1.1 405 Method Not Allowed");
    }

    #[test]
    fn a_status_url_without_http_scheme_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let err = rt.block_on(fetch_status("127.0.0.1:7473"));
        assert!(matches!(err, Err(ClientError::Url(_))));
    }
}
