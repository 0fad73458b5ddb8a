//! Destination signing secrets sealed at rest with AES-256-GCM (RustCrypto `aes-gcm`).
//!
//! A sealed secret is `nonce (12 random bytes) ‖ ciphertext+tag`, with the destination's id as
//! associated data, so a sealed value copied onto another destination's row does not open.
//! The key lives in a file beside the database (or in memory for tests); a stolen database
//! alone reveals no secret.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use zeroize::Zeroizing;

use crate::StoreError;

/// Bytes of an AES-256 key.
const KEY_BYTES: usize = 32;
/// Bytes of an AES-GCM nonce.
const NONCE_BYTES: usize = 12;
/// The largest key file read (64 hex characters and a CRLF, with room to spare): a bigger
/// one is refused before it is read.
const MAX_KEY_FILE_BYTES: u64 = 128;

/// Why a sealing key (the webhook key, the review images key) could not be loaded, or a
/// sealed value not opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookKeyError {
    /// The key file could not be read or created.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The key file may be read by its group or others (like an ssh key, it must be 0600 or
    /// narrower).
    #[error("key file {path} has mode {mode:o}: readable by others; run chmod 600 on it")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file holds neither 32 raw bytes nor 64 hex characters.
    #[error("key file {path} holds {len} bytes: expected 32 raw bytes or 64 hex characters")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },
    /// The OS random source failed.
    #[error("OS random source failed: {0}")]
    Random(String),
    /// A sealed secret did not open: it was sealed with another key (the key file was
    /// replaced), or the row was altered.
    #[error("a sealed value could not be opened: sealed with another key, or altered")]
    Unseal,
}

/// AES-256-GCM key sealing destination secrets at rest. `Debug` is redacted; the bytes are
/// zeroed when it is dropped.
pub struct WebhookKey(Zeroizing<[u8; KEY_BYTES]>);

impl WebhookKey {
    /// Reads a 32-byte key file (raw 32 bytes, or 64 hex chars + optional newline);
    /// creates it with a fresh random key (64 hex characters and a newline), mode 0600, when
    /// absent, and its parent folders. Refuses a file that is group/other-readable (like an
    /// ssh key) or of the wrong length: [`WebhookKeyError`].
    pub fn load_or_create(path: &Path) -> Result<WebhookKey, StoreError> {
        let io = |source| WebhookKeyError::Io {
            path: path.to_owned(),
            source,
        };
        match read_key_file(path) {
            Err(WebhookKeyError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            other => return Ok(other?),
        }
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
        }
        let key = WebhookKey::try_random()?;
        match write_new_key_file(path, &key) {
            Ok(()) => Ok(key),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(read_key_file(path)?),
            Err(e) => Err(io(e).into()),
        }
    }

    /// Reads an existing key file (32 raw bytes, or 64 hex characters and an optional
    /// newline) and never creates one: for a key the operator must provide. A missing,
    /// group/other-readable or malformed file is a [`WebhookKeyError`].
    pub fn load(path: &Path) -> Result<WebhookKey, StoreError> {
        Ok(read_key_file(path)?)
    }

    /// A fresh random key, kept in memory only (tests, in-memory stores, the default of a
    /// store opened without a key file).
    ///
    /// # Panics
    /// If the operating system's random source fails, which it does not on the supported
    /// platforms; [`WebhookKey::try_random`] returns that as an error instead.
    pub fn random() -> WebhookKey {
        match WebhookKey::try_random() {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        }
    }

    /// A fresh random key, or the OS random source's failure.
    pub fn try_random() -> Result<WebhookKey, WebhookKeyError> {
        let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
        getrandom::fill(bytes.as_mut_slice())
            .map_err(|e| WebhookKeyError::Random(e.to_string()))?;
        Ok(WebhookKey(bytes))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&(*self.0).into())
    }

    /// Seals `plaintext`, binding it to `context` (the destination's id).
    pub(crate) fn seal(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| WebhookKeyError::Random(e.to_string()))?;
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Internal("AES-GCM sealing failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) made with the same key and `context`;
    /// [`WebhookKeyError::Unseal`] otherwise.
    pub(crate) fn open(
        &self,
        sealed: &[u8],
        context: &str,
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let (nonce, ciphertext) = sealed
            .split_at_checked(NONCE_BYTES)
            .ok_or(WebhookKeyError::Unseal)?;
        let plain = self
            .cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| WebhookKeyError::Unseal)?;
        Ok(Zeroizing::new(plain))
    }
}

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookKey([REDACTED])")
    }
}

/// Reads and checks an existing key file.
fn read_key_file(path: &Path) -> Result<WebhookKey, WebhookKeyError> {
    let io = |source| WebhookKeyError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    check_private(path, &meta)?;
    let malformed = || WebhookKeyError::Malformed {
        path: path.to_owned(),
        len: meta.len(),
    };
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(malformed());
    }
    let mut contents = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_BYTES)
        .read_to_end(&mut contents)
        .map_err(io)?;
    parse_key(&contents).ok_or_else(malformed)
}

/// 32 raw bytes, or 64 hex characters with an optional trailing newline (LF or CRLF).
fn parse_key(contents: &[u8]) -> Option<WebhookKey> {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    if contents.len() == KEY_BYTES {
        key.copy_from_slice(contents);
        return Some(WebhookKey(key));
    }
    let text = contents
        .strip_suffix(b"\n")
        .map_or(contents, |t| t.strip_suffix(b"\r").unwrap_or(t));
    if text.len() != 2 * KEY_BYTES {
        return None;
    }
    for (byte, pair) in key.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(WebhookKey(key))
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Writes a new key file (64 lower-case hex characters and a newline), mode 0600 from the
/// start; `AlreadyExists` when there is one.
fn write_new_key_file(path: &Path, key: &WebhookKey) -> std::io::Result<()> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let mut text = Zeroizing::new(String::with_capacity(2 * KEY_BYTES + 1));
    for byte in key.0.iter() {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), WebhookKeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(WebhookKeyError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), WebhookKeyError> {
    Ok(())
}
