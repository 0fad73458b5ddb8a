//! Shared helpers of the server tests: the real pipeline (loaded once per test binary),
//! an in-memory app, keys, and real-socket servers. The photos, the multipart builder
//! ([`Form`]), the HTTP/1.1 client and the live-server helper are the test kit's
//! (`facematch-testkit`), shared with the binary's tests and the load tools.
#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use facematch_core::Pipeline;
use facematch_server::mail::{Mailer, Outbox};
use facematch_server::{AppState, ServerConfig};
use facematch_store::{ExposeSecret, NewKey, Store};
use facematch_testkit::{http1, LiveServer};
use serde_json::Value;
use tower::ServiceExt;

pub use facematch_testkit::{faces_dir, photo, Form, BOUNDARY};

pub mod console;
pub mod gate;

/// The real model pipeline, loaded once for the whole test binary.
pub fn pipeline() -> Pipeline {
    static PIPELINE: OnceLock<Pipeline> = OnceLock::new();
    PIPELINE
        .get_or_init(|| {
            let options = facematch_models::BundleOptions {
                sessions: 2,
                ..Default::default()
            };
            facematch_models::load_pipeline(&options, &mut |_| {})
                .expect("models load (run `facematch models fetch` once)")
        })
        .clone()
}

/// The store a test app runs on: a fresh in-memory SQLite database, or with
/// `FACEMATCH_TEST_DATABASE=postgres` a fresh database on a throwaway PostgreSQL cluster
/// (to run this whole suite on PostgreSQL by hand; CI runs it on SQLite and the store's own
/// suite on both).
pub fn test_store() -> Store {
    if std::env::var("FACEMATCH_TEST_DATABASE").as_deref() == Ok("postgres") {
        off_runtime(|| {
            let url = facematch_testkit::fresh_database().expect("test PostgreSQL");
            Store::connect_postgres(
                &url,
                &facematch_store::PostgresOptions::default(),
                facematch_store::Migrate::Apply,
            )
            .expect("PostgreSQL store")
        })
    } else {
        Store::open_in_memory().expect("in-memory store")
    }
}

/// Runs a store call on a thread of its own: the PostgreSQL client blocks on a runtime of its
/// own, which a thread driving async tasks must not do (the server itself calls the store
/// from blocking threads).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("store call panicked"))
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

    /// Ready, with rate limiters that read `clock` (a refill is `clock.advance(…)`, not
    /// a sleep).
    pub fn on_clock(
        tweak: impl FnOnce(&mut ServerConfig),
        clock: &facematch_server::ratelimit::ManualClock,
    ) -> Self {
        let app = Self::build(
            tweak,
            facematch_server::ratelimit::Clock::Manual(clock.clone()),
        );
        app.state.set_pipeline(pipeline());
        app
    }

    /// Not ready: no pipeline yet.
    pub fn loading(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::build(tweak, facematch_server::ratelimit::Clock::System)
    }

    /// Ready, on `store` (e.g. a PostgreSQL one) instead of a fresh in-memory SQLite.
    #[allow(dead_code)]
    pub fn on_store(store: Store, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let app = Self::build_on(tweak, facematch_server::ratelimit::Clock::System, store);
        app.state.set_pipeline(pipeline());
        app
    }

    /// Two workers, an in-memory store and mailer, rate limiters on `clock`; no pipeline.
    fn build(
        tweak: impl FnOnce(&mut ServerConfig),
        clock: facematch_server::ratelimit::Clock,
    ) -> Self {
        let store = test_store();
        Self::build_on(tweak, clock, store)
    }

    /// [`build`](Self::build) on a given store.
    fn build_on(
        tweak: impl FnOnce(&mut ServerConfig),
        clock: facematch_server::ratelimit::Clock,
        store: Store,
    ) -> Self {
        let mut config = ServerConfig {
            workers: Some(2),
            // The sign-up tests need sign-ups (closed by default) and keys that can pay
            // for a face match (0 credits by default).
            signup: facematch_server::config::SignupMode::Open,
            signup_credits: 100,
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let outbox = Outbox::default();
        let state = AppState::with_clock(config, store, Mailer::Memory(outbox.clone()), clock)
            .expect("state");
        Self {
            router: facematch_server::app(state.clone()),
            state,
            outbox,
        }
    }

    /// `POST /auth/v2/programmatic/register/` for `email` with a valid password.
    pub async fn register(&self, email: &str) -> Reply {
        self.json(
            "POST",
            "/auth/v2/programmatic/register/",
            None,
            Some(serde_json::json!({"email": email, "password": "long enough pw"})),
        )
        .await
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
        let store = self.store();
        off_runtime(|| {
            store
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
        })
    }

    /// The balance of a plaintext key.
    pub fn balance(&self, key: &str) -> i64 {
        let store = self.store();
        off_runtime(|| {
            let record = store
                .authenticate(key, time::OffsetDateTime::now_utc())
                .expect("valid key");
            store.balance(&record.id).expect("balance")
        })
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
        self.call(face_match_request(form, key)).await
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

/// A face-match request with `form` and `key`, for the in-memory router.
pub fn face_match_request(form: &Form, key: &str) -> Request<Body> {
    let body = form.body();
    Request::post("/v3/face-match/")
        .header("x-api-key", key)
        .header("content-type", Form::content_type())
        .header("content-length", body.len())
        .body(Body::from(body))
        .expect("request")
}

/// One request on a new connection (`Connection: close`) to a live server, through
/// the test kit's HTTP/1.1 client.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = http1::send(addr, method, path, &headers, body).await?;
    let mut map = HeaderMap::new();
    for (k, v) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(k.as_bytes()),
            axum::http::HeaderValue::from_str(v),
        ) {
            map.insert(name, value);
        }
    }
    Ok(Reply::new(
        StatusCode::from_u16(response.status).map_err(std::io::Error::other)?,
        map,
        response.body,
    ))
}

/// A live server on a free loopback port, stopped with [`Live::shutdown`].
pub struct Live {
    /// The app it serves (its state, store and outbox).
    pub app: TestApp,
    /// Where it listens.
    pub addr: SocketAddr,
    server: LiveServer<facematch_server::ServerError>,
}

impl Live {
    /// A face match of `form` with `key` over a new connection, answered.
    pub async fn face_match(&self, key: &str, form: &Form) -> Reply {
        face_match_at(self.addr, key, form).await
    }
}

/// A face match of `form` with `key` to the server at `addr` over a new connection,
/// answered (for tasks that cannot borrow the [`Live`]).
pub async fn face_match_at(addr: SocketAddr, key: &str, form: &Form) -> Reply {
    http(
        addr,
        "POST",
        "/v3/face-match/",
        &[
            ("x-api-key", key.to_owned()),
            ("content-type", Form::content_type()),
        ],
        &form.body(),
    )
    .await
    .expect("face match")
}

/// Serves `app` on 127.0.0.1 with a free port.
pub async fn live_app(app: TestApp) -> Live {
    let server = serve_state(app.state.clone()).await;
    Live {
        addr: server.addr(),
        app,
        server,
    }
}

/// Serves `state` with the real accept loop on 127.0.0.1 with a free port.
pub async fn serve_state(state: AppState) -> LiveServer<facematch_server::ServerError> {
    LiveServer::start(move |listener, shutdown| {
        facematch_server::serve_on(listener, state, shutdown)
    })
    .await
    .expect("bind 127.0.0.1:0")
}

/// A live server with the real models and `tweak`ed settings.
pub async fn live(tweak: impl FnOnce(&mut facematch_server::ServerConfig)) -> Live {
    live_app(TestApp::new(tweak)).await
}

impl Live {
    /// Graceful shutdown; fails the test unless it finishes within 30 s.
    pub async fn shutdown(self) {
        self.server
            .shutdown(Duration::from_secs(30))
            .await
            .expect("graceful shutdown finishes")
            .expect("server");
    }
}

/// The real pipeline's describer behind a test's own detector (a detector that fails,
/// sleeps, panics or waits on a gate).
pub struct RealDescriber(pub Pipeline);

impl facematch_core::FaceDescriber for RealDescriber {
    fn describe(
        &self,
        image: &facematch_imageio::RgbImage,
        face: &facematch_core::Detection,
        with_embedding: bool,
    ) -> Result<facematch_core::FaceDescription, facematch_core::PipelineError> {
        self.0.describer().describe(image, face, with_embedding)
    }

    fn score_mapping(&self) -> facematch_core::score::ScoreMapping {
        self.0.describer().score_mapping()
    }
}

/// A `tracing` writer that keeps everything the test binary logs, for tests that read
/// their own log (install it once per binary with `tracing_subscriber::fmt().with_writer`).
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once per test binary, a global subscriber at `level` (span events
/// `spans`, no colours, no timestamps: their digits could collide with an all-digit OTP
/// code) that writes into the returned capture.
pub fn install_log_capture(
    level: tracing::Level,
    spans: tracing_subscriber::fmt::format::FmtSpan,
) -> Capture {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(level)
        .with_span_events(spans)
        .with_ansi(false)
        .without_time()
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
    capture
}
