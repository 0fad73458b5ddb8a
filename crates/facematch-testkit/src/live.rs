//! A live server on a free loopback port, for real-socket tests: bind
//! `127.0.0.1:0`, hand the listener and a shutdown signal to the server's accept loop
//! (e.g. `facematch_server::serve_on`), and stop it gracefully at the end.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Completes when [`LiveServer::stop`] or [`LiveServer::shutdown`] is called (or the
/// [`LiveServer`] is dropped): the accept loop's graceful-shutdown future.
#[derive(Debug)]
pub struct ShutdownSignal(oneshot::Receiver<()>);

impl Future for ShutdownSignal {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// Why a [`LiveServer`] did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The accept loop was still running after the limit.
    #[error("the server did not stop within {0:?}")]
    Timeout(Duration),
    /// The accept loop's task panicked or was cancelled.
    #[error("the server task failed")]
    Task(#[source] tokio::task::JoinError),
}

/// A server running on a tokio task, listening on a free loopback port.
#[derive(Debug)]
pub struct LiveServer<E> {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: JoinHandle<Result<(), E>>,
}

impl<E: Send + 'static> LiveServer<E> {
    /// Binds `127.0.0.1:0` and spawns `serve(listener, shutdown)` on the current
    /// runtime.
    pub async fn start<F, Fut>(serve: F) -> std::io::Result<Self>
    where
        F: FnOnce(TcpListener, ShutdownSignal) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let done = tokio::spawn(serve(listener, ShutdownSignal(stopped)));
        Ok(Self {
            addr,
            stop: Some(stop),
            done,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Signals shutdown without waiting for it.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits up to `limit` for the accept loop to finish; its own
    /// result comes back inside.
    pub async fn shutdown(mut self, limit: Duration) -> Result<Result<(), E>, StopError> {
        self.stop();
        tokio::time::timeout(limit, self.done)
            .await
            .map_err(|_| StopError::Timeout(limit))?
            .map_err(StopError::Task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_signal_reaches_the_server_and_its_result_comes_back() {
        let server = LiveServer::start(|listener, shutdown| async move {
            let port = listener.local_addr().map_or(0, |a| a.port());
            shutdown.await;
            Ok::<u16, std::io::Error>(port).map(|_| ())
        })
        .await
        .expect("start");
        assert!(server.addr().ip().is_loopback());
        let result = server
            .shutdown(Duration::from_secs(5))
            .await
            .expect("stops");
        assert!(result.is_ok());
    }
}
