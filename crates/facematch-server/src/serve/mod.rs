//! Serving, start-up side: transport checks, listen at once, load the models in the
//! background, reload the TLS certificate on SIGHUP, stop on SIGTERM or Ctrl-C. The
//! accept loop itself (connection cap, request-head timeout, TLS handshakes, graceful
//! shutdown) is in `accept_loop`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use facematch_core::Pipeline;
use facematch_store::Store;
use tokio::net::TcpListener;

use crate::config::{ServerConfig, SignupMode};
use crate::state::{self, AppState};
use crate::tls::{CertStore, TlsError};

mod accept_loop;

pub use accept_loop::{serve_on, serve_tls_on};

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
    /// Plain HTTP on an address that is not loopback, without `--allow-plain-http`.
    #[error(
        "refusing to serve plain HTTP on {addr}, which is not a loopback address: API keys \
         travel in request headers. Serve HTTPS with --tls-cert and --tls-key, or put a \
         TLS-terminating reverse proxy in front and pass --allow-plain-http \
         (see docs/deploy.md)"
    )]
    PlainHttp {
        /// The listen address.
        addr: SocketAddr,
    },
    /// Only one of `--tls-cert` and `--tls-key`.
    #[error("--tls-cert and --tls-key go together: give both or neither")]
    TlsHalf,
    /// A `*` in `--cors-origin`.
    #[error("--cors-origin `*` is not allowed: name each origin")]
    CorsWildcard,
    /// The TLS certificate or key could not be loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Checks the transport settings before anything starts: `--tls-cert` and `--tls-key`
/// together, no `*` CORS origin, and plain HTTP only on a loopback address unless
/// `--allow-plain-http` ([`ServerError::PlainHttp`] names the flags).
pub fn check_transport(config: &ServerConfig) -> Result<(), ServerError> {
    if config.tls_cert.is_some() != config.tls_key.is_some() {
        return Err(ServerError::TlsHalf);
    }
    if config.cors_origin.iter().any(|o| o.trim() == "*") {
        return Err(ServerError::CorsWildcard);
    }
    if config.tls_cert.is_none() && !config.listen.ip().is_loopback() && !config.allow_plain_http {
        return Err(ServerError::PlainHttp {
            addr: config.listen,
        });
    }
    Ok(())
}

/// The start-up warning for plain HTTP on an address that is not loopback (allowed by
/// `--allow-plain-http`); `None` when TLS is on or the address is loopback.
pub fn plain_http_warning(config: &ServerConfig) -> Option<String> {
    (config.tls_cert.is_none() && !config.listen.ip().is_loopback()).then(|| {
        format!(
            "serving plain HTTP on {} (--allow-plain-http): API keys travel in clear; a \
             TLS-terminating reverse proxy must be in front of this server, and nothing \
             else may reach this address",
            config.listen
        )
    })
}

/// The start-up warning for open sign-ups without `--otp-secret`: the codes' HMAC key is
/// then drawn at random in memory (`facematch_store::OtpSecret::random`), so pending codes
/// die with the process and replicas cannot check each other's. `None` otherwise.
pub fn otp_secret_warning(config: &ServerConfig) -> Option<&'static str> {
    (config.signup == SignupMode::Open && config.otp_secret.is_none()).then_some(
        "sign-ups are open without --otp-secret: pending sign-up codes will not survive a \
         restart and replicas cannot share them; set --otp-secret",
    )
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
    // The caller prints `plain_http_warning` (the binary does, on stderr).
    check_transport(&config)?;
    let certs = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(CertStore::load(cert, key)?),
        _ => None,
    };
    #[cfg(unix)]
    if let Some(certs) = &certs {
        // Registered before listening: from here on SIGHUP reloads instead of killing.
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let certs = Arc::clone(certs);
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                certs.reload_and_log();
            }
        });
    }
    let addr = config.listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let local = listener.local_addr()?;
    let workers = config.effective_workers();
    let queue = config.effective_queue();
    let state = AppState::new(config, store)?;
    let scheme = if certs.is_some() { "https" } else { "http" };
    tracing::info!(%local, scheme, workers, queue, "listening; loading models");
    if let Some(warning) = otp_secret_warning(state.config()) {
        tracing::warn!("{warning}");
    }

    // Deletes decisions older than --retention-days (nothing when it is 0), expired review
    // images and expired console sessions.
    let retention = crate::retention::spawn(state.clone());
    // Sends the webhook outbox (retries, and events left pending by a previous run).
    let deliverer = crate::webhooks::deliver::Deliverer::spawn(state.clone());

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
    let stopped = async move {
        let reason = stop_rx.await.unwrap_or(None);
        if reason.is_none() {
            tracing::info!("shutting down: finishing requests in flight");
        }
        let _ = reason_tx.send(reason);
    };
    match &certs {
        Some(certs) => serve_tls_on(listener, state, certs, stopped).await?,
        None => serve_on(listener, state, stopped).await?,
    }
    retention.abort();
    deliverer.stop().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_signups_without_an_otp_secret_are_warned_about() {
        let open = ServerConfig {
            signup: SignupMode::Open,
            ..ServerConfig::default()
        };
        assert!(otp_secret_warning(&open).is_some_and(|w| w.contains("set --otp-secret")));
        let keyed = ServerConfig {
            otp_secret: Some("ab".repeat(32).into()),
            ..open.clone()
        };
        assert_eq!(otp_secret_warning(&keyed), None);
        assert_eq!(otp_secret_warning(&ServerConfig::default()), None);
    }
}
