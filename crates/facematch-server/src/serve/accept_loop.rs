//! The accept loop: connection cap, request-head timeout, TLS handshakes on each
//! connection's own task, HSTS over TLS, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::http::header::STRICT_TRANSPORT_SECURITY;
use axum::http::HeaderValue;
use axum::Router;
use futures_util::FutureExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::{Layer, ServiceExt};
use tower_http::set_header::SetResponseHeaderLayer;

use super::ServerError;
use crate::router::app;
use crate::security;
use crate::state::AppState;
use crate::tls::CertStore;

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
    serve_with(listener, state, None, shutdown).await
}

/// [`serve_on`] over TLS with the certificate of `certs` (replaceable while serving:
/// [`CertStore::reload`]). Each connection's handshake runs on its own task, bounded by
/// the header timeout, so a client that stalls it holds only its own connection; a
/// client that is not speaking TLS (plain HTTP to this port) is closed without an
/// answer. Every response carries `Strict-Transport-Security`.
pub async fn serve_tls_on(
    listener: TcpListener,
    state: AppState,
    certs: &Arc<CertStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let acceptor = TlsAcceptor::from(certs.server_config()?);
    serve_with(listener, state, Some(acceptor), shutdown).await
}

/// The accept loop, plain (`tls` is `None`) or TLS.
async fn serve_with(
    listener: TcpListener,
    state: AppState,
    tls: Option<TlsAcceptor>,
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
        tls,
        handshake_timeout: header_timeout,
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
    /// `Some` when serving TLS.
    tls: Option<TlsAcceptor>,
    /// How long a TLS handshake may take (the header timeout).
    handshake_timeout: Duration,
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
        let stop = self.stop.subscribe();
        let tls = self.tls.clone();
        let handshake_timeout = self.handshake_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            // Adds `ConnectInfo(remote)` to each request (per-IP sign-up limits).
            let Ok(service) = make_service.oneshot(remote).await;
            let Some(acceptor) = tls else {
                let service = SetResponseHeaderLayer::overriding(STRICT_TRANSPORT_SECURITY, None)
                    .layer(service);
                serve_connection(http, stream, service, stop, remote).await;
                return;
            };
            // The handshake here, on the connection's task, not in the accept loop.
            let stream =
                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%remote, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        return;
                    }
                };
            let service = SetResponseHeaderLayer::overriding(
                STRICT_TRANSPORT_SECURITY,
                Some(security::hsts()),
            )
            .layer(service);
            serve_connection(http, stream, service, stop, remote).await;
        });
    }
}

/// The service of one connection: the app with `ConnectInfo`, and HSTS when over TLS.
type ConnectionService = tower_http::set_header::SetResponseHeader<
    axum::middleware::AddExtension<Router, axum::extract::ConnectInfo<SocketAddr>>,
    Option<HeaderValue>,
>;

/// Serves HTTP/1.1 on `io` until the client leaves or shutdown begins (then the request
/// in flight finishes and the connection closes).
async fn serve_connection<I>(
    http: hyper::server::conn::http1::Builder,
    io: I,
    service: ConnectionService,
    mut stop: tokio::sync::watch::Receiver<bool>,
    remote: SocketAddr,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
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
