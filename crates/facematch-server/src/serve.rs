//! Serving: the accept loop (connection cap, request-head timeout, graceful shutdown)
//! and start-up (listen at once, load the models in the background).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use facematch_core::Pipeline;
use facematch_store::Store;
use futures_util::FutureExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::router::app;
use crate::state::{self, AppState};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    /// The state could not be built (metrics, SMTP settings).
    #[error(transparent)]
    State(#[from] state::StateError),
    /// The models could not be loaded.
    #[error("loading the models failed: {0}")]
    Models(String),
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes the requests
/// in flight (graceful shutdown) and returns.
///
/// A small accept loop over hyper's HTTP/1 connection rather than `axum::serve`, which
/// sets no timer and so no request-head timeout: a client that never finishes its
/// headers would hold its connection (and a file descriptor) forever. Here each
/// connection gets `header_timeout_secs` to send each request head, and at most
/// `max_connections` are open at once (beyond that, clients wait in the kernel's
/// accept queue rather than being accepted and dropped).
///
/// On shutdown: the connections already waiting in the accept queue are still
/// accepted (else the kernel would reset them when the listener closes, and their
/// clients would lose requests they already sent), the listener is closed (new clients
/// get "connection refused"), idle keep-alive connections are closed, and requests in
/// flight finish and are answered with `connection: close`. The wait is bounded by the
/// request deadline plus the header timeout.
pub async fn serve_on(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let header_timeout = Duration::from_secs(state.config().header_timeout_secs.max(1));
    let drain_limit = Duration::from_secs(state.config().request_timeout_secs.max(1))
        + header_timeout
        + Duration::from_secs(5);
    // acquire_many takes a u32; 0 would accept nothing.
    let max_connections = state
        .config()
        .max_connections
        .clamp(1, u32::MAX as usize)
        .min(Semaphore::MAX_PERMITS);
    let make_service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conns = Connections {
        http,
        make_service,
        permits: Arc::new(Semaphore::new(max_connections)),
        stop: tokio::sync::watch::channel(false).0,
    };

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A permit first, then accept: at the cap, clients queue in the kernel.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = conns.permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                // Never closed; stop accepting if it were.
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => conns.spawn(stream, remote, permit),
            Err(e) => accept_error(e).await,
        }
    }

    // Take what already waits in the accept queue (each gets its one request served),
    // then close the listener.
    while let Some(Ok((stream, remote))) = listener.accept().now_or_never() {
        match conns.permits.clone().try_acquire_owned() {
            Ok(permit) => conns.spawn(stream, remote, permit),
            // At the cap: these clients were never going to be served promptly anyway.
            Err(_) => break,
        }
    }
    drop(listener);
    // Idle connections close now, busy ones after their current response.
    conns.stop.send_replace(true);
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    match tokio::time::timeout(drain_limit, conns.permits.acquire_many(all)).await {
        Ok(_) => {}
        Err(_) => tracing::warn!(
            seconds = drain_limit.as_secs(),
            "connections still open after the shutdown grace period; leaving them"
        ),
    }
    Ok(())
}

/// What each connection task needs.
struct Connections {
    http: hyper::server::conn::http1::Builder,
    make_service: IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    /// One per open connection; all of them back means every connection has ended.
    permits: Arc<Semaphore>,
    /// `true` once shutdown has begun.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Connections {
    /// Serves one connection on its own task; `permit` is released when it ends.
    fn spawn(&self, stream: TcpStream, remote: SocketAddr, permit: OwnedSemaphorePermit) {
        // Small JSON answers: do not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let make_service = self.make_service.clone();
        let http = self.http.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            let _permit = permit;
            // Adds `ConnectInfo(remote)` to each request (per-IP sign-up limits).
            let Ok(service) = make_service.oneshot(remote).await;
            let conn =
                http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            // The borrow guard `wait_for` returns is not Send: drop it inside.
            let stopping = async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            };
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                // Header timeouts, resets, malformed heads (hyper already answered those
                // it could): the client's business, not an operator's.
                tracing::debug!(%remote, error = %e, "connection ended with an error");
            }
        });
    }
}

/// An `accept` failure never stops the server. Per-connection errors (the client gave
/// up while queued) are skipped; others (out of file descriptors, memory) get a short
/// pause so that the loop does not spin while they last.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Serves with an already loaded pipeline until SIGTERM or Ctrl-C.
pub async fn serve(
    config: ServerConfig,
    pipeline: Pipeline,
    store: Store,
) -> Result<(), ServerError> {
    serve_loading(config, store, move || {
        Ok::<_, std::convert::Infallible>(pipeline)
    })
    .await
}

/// Starts listening at once and loads the models in the background with `load`:
/// `/health` answers 503 and face matches 503 (`not_ready`) until they are loaded.
/// Runs until SIGTERM or Ctrl-C (graceful), or until loading fails (an error).
pub async fn serve_loading<F, E>(
    config: ServerConfig,
    store: Store,
    load: F,
) -> Result<(), ServerError>
where
    F: FnOnce() -> Result<Pipeline, E> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr()?;
    let workers = config.effective_workers();
    let queue = config.effective_queue();
    let state = AppState::new(config, store)?;
    tracing::info!(%local, workers, queue, "listening; loading models");

    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<String>();
    let loader_state = state.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        match load() {
            Ok(pipeline) => {
                loader_state.set_pipeline(pipeline);
                tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "models loaded; ready"
                );
            }
            Err(e) => {
                let _ = failed_tx.send(e.to_string());
            }
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Option<String>>();
    tokio::spawn(async move {
        let reason = tokio::select! {
            () = shutdown_signal() => None,
            // A dropped sender means loading succeeded: wait for a signal only.
            Ok(err) = failed_rx => Some(err),
        };
        let _ = stop_tx.send(reason);
    });
    let (reason_tx, reason_rx) = tokio::sync::oneshot::channel::<Option<String>>();
    serve_on(listener, state, async move {
        let reason = stop_rx.await.unwrap_or(None);
        if reason.is_none() {
            tracing::info!("shutting down: finishing requests in flight");
        }
        let _ = reason_tx.send(reason);
    })
    .await?;
    match reason_rx.await {
        Ok(Some(err)) => Err(ServerError::Models(err)),
        _ => {
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
