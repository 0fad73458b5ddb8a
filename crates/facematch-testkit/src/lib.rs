//! Dev-only helpers shared by facematch's test trees and its load tools (never a
//! dependency of what ships):
//!
//! - [`multipart`]: the one `multipart/form-data` builder ([`Form`]), able to build
//!   broken bodies too;
//! - [`http1`]: the one raw HTTP/1.1 client, with bounded line and body reads, for
//!   one-shot requests and keep-alive connections;
//! - [`live`]: a server on a free loopback port ([`LiveServer`]), stopped gracefully;
//! - [`faces`]: the shared photos (`shared/data/faces`);
//! - [`postgres`]: a throwaway PostgreSQL cluster ([`TestCluster`]), one database per test.
//! - `browser` (feature `browser`): a real Chromium through WebDriver, for the console's
//!   browser tests.

#[cfg(feature = "browser")]
pub mod browser;
pub mod faces;
pub mod http1;
pub mod live;
pub mod multipart;
pub mod postgres;

pub use faces::{faces_dir, photo};
pub use http1::Response;
pub use live::{LiveServer, ShutdownSignal};
pub use multipart::{Form, BOUNDARY};
pub use postgres::{fresh_database, shared_cluster, TestCluster};
