//! TLS (`--tls-cert`/`--tls-key`): a rustls server configuration (ring provider,
//! TLS 1.2 and 1.3, ALPN `http/1.1` only) whose certificate comes from a
//! [`CertStore`] — the current certificate and key, re-read from their PEM files on
//! SIGHUP ([`CertStore::reload`]). A pair that cannot be used (unreadable, not PEM, no
//! certificate, a key of another certificate) is refused and the old one kept, so a
//! half-finished renewal never takes the server off the air.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Why a certificate/key pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} {path}: {source}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{path} holds no PEM certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key is of an unsupported kind, or is not the certificate's.
    #[error("the key {key} cannot serve the certificate {cert}: {source}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason (unsupported key type, key mismatch).
        source: rustls::Error,
    },
    /// The rustls configuration could not be built.
    #[error("TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// The server's certificate and key, replaceable while serving: each new handshake
/// uses the pair loaded last.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for CertStore {
    // Never the key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads the PEM certificate chain at `cert` and the PEM private key at `key`
    /// (PKCS#8, PKCS#1 or SEC1), checking that the key is the certificate's.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let pair = load_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            current: RwLock::new(Arc::new(pair)),
        }))
    }

    /// Re-reads both files (what SIGHUP does). On success new handshakes use the new
    /// pair; on error the old pair stays in use and the error is returned.
    pub fn reload(&self) -> Result<(), TlsError> {
        let pair = load_pair(&self.cert_path, &self.key_path)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
        Ok(())
    }

    /// The pair in use.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// A rustls server configuration that takes its certificate from this store:
    /// TLS 1.2 and 1.3 with the ring provider, no client certificates, ALPN
    /// `http/1.1` (the server speaks HTTP/1.1 only).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Re-reads the pair and logs the outcome: the SIGHUP handler's body.
    pub fn reload_and_log(&self) {
        match self.reload() {
            Ok(()) => tracing::info!(
                cert = %self.cert_path.display(),
                "TLS certificate reloaded"
            ),
            Err(e) => tracing::error!(
                error = %e,
                "TLS certificate reload failed; keeping the previous certificate"
            ),
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The crypto provider: ring (already built for lettre's SMTP TLS).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads and checks one certificate/key pair.
fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|source| TlsError::Pem {
            what: "certificate",
            path: cert.to_path_buf(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert.to_path_buf(),
        });
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Pem {
        what: "private key",
        path: key.to_path_buf(),
        source,
    })?;
    let pair =
        CertifiedKey::from_der(chain, private, &provider()).map_err(|source| TlsError::Pair {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })?;
    // `from_der` lets a pair whose match cannot be checked through; ring's keys
    // always can be, so insist.
    pair.keys_match().map_err(|source| TlsError::Pair {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        source,
    })?;
    Ok(pair)
}
