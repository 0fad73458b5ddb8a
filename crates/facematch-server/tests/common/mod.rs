//! Shared helpers of the server tests: the real pipeline (loaded once per test binary),
//! the shared photos, an in-memory app, keys, a multipart builder and a tiny HTTP/1.1
//! client for real-socket tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use facematch_core::Pipeline;
use facematch_server::mail::{Mailer, Outbox};
use facematch_server::{AppState, ServerConfig};
use facematch_store::{ExposeSecret, NewKey, Store};
use serde_json::Value;
use tower::ServiceExt;

/// The real model pipeline, loaded once for the whole test binary.
pub fn pipeline() -> Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE
        .get_or_init(|| {
            let options = facematch_models::BundleOptions {
                sessions: 2,
                ..Default::default()
            };
            facematch_models::load_default_pipeline(&options, &mut |_| {})
                .expect("models load (run `facematch models fetch` once)")
        })
        .clone()
}

/// `shared/data/faces`.
pub fn faces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/faces")
}

/// Bytes of a file under `shared/data/faces`.
pub fn photo(rel: &str) -> Vec<u8> {
    let path = faces_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// An app on an in-memory database, with codes captured in an outbox.
pub struct TestApp {
    /// The state (store, metrics, pipeline).
    pub state: AppState,
    /// The router.
    pub router: Router,
    /// Verification codes "sent".
    pub outbox: Outbox,
}

impl TestApp {
    /// Ready (pipeline loaded), default settings except those `tweak` changes.
    pub fn new(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let app = Self::loading(tweak);
        app.state.set_pipeline(pipeline());
        app
    }

    /// With a specific pipeline.
    pub fn with_pipeline(p: Pipeline, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let app = Self::loading(tweak);
        app.state.set_pipeline(p);
        app
    }

    /// Not ready: no pipeline yet.
    pub fn loading(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut config = ServerConfig {
            workers: Some(2),
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let outbox = Outbox::default();
        let store = Store::open_in_memory().expect("in-memory store");
        let state =
            AppState::with_mailer(config, store, Mailer::Memory(outbox.clone())).expect("state");
        Self {
            router: facematch_server::app(state.clone()),
            state,
            outbox,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// A new key with `credits`; returns the plaintext key.
    pub fn key(&self, credits: i64) -> String {
        self.key_with(credits, false)
    }

    /// A new key, admin or not.
    pub fn key_with(&self, credits: i64, admin: bool) -> String {
        self.store()
            .create_key(NewKey {
                name: "test".into(),
                credits,
                admin,
                expires_at: None,
                account_id: None,
            })
            .expect("create key")
            .secret
            .expose_secret()
            .to_owned()
    }

    /// The balance of a plaintext key.
    pub fn balance(&self, key: &str) -> i64 {
        let record = self
            .store()
            .authenticate(key, time::OffsetDateTime::now_utc())
            .expect("valid key");
        self.store().balance(&record.id).expect("balance")
    }

    /// Sends one request through the router.
    pub async fn call(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        Reply::new(status, headers, bytes.to_vec())
    }

    /// POSTs a face-match form with `key`.
    pub async fn face_match(&self, key: &str, form: &Form) -> Reply {
        self.call(form.request(key)).await
    }

    /// A JSON request with an optional key.
    pub async fn json(
        &self,
        method: &str,
        uri: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(k) = key {
            builder = builder.header("x-api-key", k);
        }
        let request = match body {
            Some(b) => builder
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => builder.body(Body::empty()),
        }
        .expect("request");
        self.call(request).await
    }
}

/// A response, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub raw: Vec<u8>,
    /// JSON body (Null when not JSON).
    pub json: Value,
}

impl Reply {
    /// From parts.
    pub fn new(status: StatusCode, headers: HeaderMap, raw: Vec<u8>) -> Self {
        let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            raw,
            json,
        }
    }

    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("<no code>")
    }

    /// Asserts an error response's status and code; returns its detail.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        assert_eq!(self.code(), code, "body: {}", self.text());
        let obj = self.json.as_object().expect("error body is an object");
        assert_eq!(obj.len(), 2, "only detail and code: {}", self.text());
        let detail = self.json["detail"].as_str().expect("detail").to_owned();
        assert!(!detail.is_empty());
        detail
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }
}

/// Builds `multipart/form-data` bodies by hand (so that broken ones can be built too).
#[derive(Debug, Clone, Default)]
pub struct Form {
    parts: Vec<(String, Option<String>, Vec<u8>)>,
}

/// The boundary used by [`Form`].
pub const BOUNDARY: &str = "facematch-test-boundary-7MA4YWxkTrZu0gW";

impl Form {
    /// Empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// `user_image` and `ref_image` from files under `shared/data/faces`.
    pub fn pair(user: &str, reference: &str) -> Self {
        Self::new().file("user_image", user, photo(user)).file(
            "ref_image",
            reference,
            photo(reference),
        )
    }

    /// A file part.
    pub fn file(mut self, name: &str, filename: &str, bytes: Vec<u8>) -> Self {
        let filename = filename.rsplit('/').next().unwrap_or(filename).to_owned();
        self.parts.push((name.into(), Some(filename), bytes));
        self
    }

    /// A text part.
    pub fn text(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.parts
            .push((name.into(), None, value.as_ref().to_vec()));
        self
    }

    /// The encoded body.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, bytes) in &self.parts {
            out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match filename {
                Some(f) => out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }

    /// The content type with the boundary.
    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    /// A face-match request with this form.
    pub fn request(&self, key: &str) -> Request<Body> {
        let body = self.body();
        Request::post("/v3/face-match/")
            .header("x-api-key", key)
            .header("content-type", Self::content_type())
            .header("content-length", body.len())
            .body(Body::from(body))
            .expect("request")
    }
}

/// A minimal HTTP/1.1 client for the real-socket tests: one request per connection.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<Reply> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line}")))?;
    let mut map = HeaderMap::new();
    let mut chunked = false;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
            if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::from_bytes(k.as_bytes()),
                axum::http::HeaderValue::from_str(&v),
            ) {
                map.insert(name, value);
            }
        }
    }
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    Ok(Reply::new(
        StatusCode::from_u16(status).map_err(std::io::Error::other)?,
        map,
        body,
    ))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&data[..pos])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = pos + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// A live server on a free loopback port, stopped with [`Live::shutdown`].
pub struct Live {
    /// The app it serves (its state, store and outbox).
    pub app: TestApp,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), facematch_server::ServerError>>,
}

/// Serves `app` on 127.0.0.1 with a free port.
pub async fn live_app(app: TestApp) -> Live {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(facematch_server::serve_on(
        listener,
        app.state.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    Live {
        app,
        addr,
        stop: Some(stop),
        done,
    }
}

/// A live server with the real models and `tweak`ed settings.
pub async fn live(tweak: impl FnOnce(&mut facematch_server::ServerConfig)) -> Live {
    live_app(TestApp::new(tweak)).await
}

impl Live {
    /// Graceful shutdown; fails the test unless it finishes within 30 s.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(30), self.done)
            .await
            .expect("graceful shutdown finishes")
            .expect("task")
            .expect("server");
    }
}
