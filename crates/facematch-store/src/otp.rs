//! The server's OTP secret and the keyed hashes made with it.
//!
//! An e-mail code has only ~30 bits, so a plain SHA-256 of it could be reversed offline in
//! seconds from a stolen database. Codes are therefore stored as
//! HMAC-SHA256(secret, mailbox ‖ 0x00 ‖ code): without the secret (which is never stored) a
//! stolen row is useless, and the mailbox in the message ties a hash to its account. The same
//! keyed hash names the clients that guessed at a code, so no IP address is stored in the clear.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::StoreError;

/// Shortest accepted secret, in bytes (the HMAC-SHA256 key size).
pub const MIN_OTP_SECRET_BYTES: usize = 32;

/// The key of the e-mail codes' HMAC. `Debug` is redacted. Rotating it (a restart with another
/// one) invalidates pending codes only; verified accounts and their keys are unaffected.
#[derive(Clone)]
pub struct OtpSecret(Vec<u8>);

impl OtpSecret {
    /// A secret of these bytes; `Invalid` when shorter than [`MIN_OTP_SECRET_BYTES`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, StoreError> {
        if bytes.len() < MIN_OTP_SECRET_BYTES {
            return Err(StoreError::Invalid(format!(
                "the OTP secret must be at least {MIN_OTP_SECRET_BYTES} bytes"
            )));
        }
        Ok(Self(bytes))
    }

    /// 32 fresh bytes from the operating system's CSPRNG, kept in memory only.
    pub fn random() -> Result<Self, StoreError> {
        let mut bytes = vec![0u8; MIN_OTP_SECRET_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Internal(format!("OS random source failed: {e}")))?;
        Ok(Self(bytes))
    }

    /// HMAC-SHA256 over the parts, each followed by a 0 byte (no part contains one), so that
    /// `("ab", "c")` and `("a", "bc")` differ.
    pub(crate) fn mac(&self, parts: &[&str]) -> [u8; 32] {
        // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC takes keys of any length")
        };
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.finalize().into_bytes().into()
    }

    /// The stored hash of `code` issued to `mailbox`.
    pub(crate) fn code_hash(&self, mailbox: &str, code: &str) -> [u8; 32] {
        self.mac(&["code", mailbox, code])
    }

    /// The stored name of the client (an IP address or IPv6 /64) that guessed at a code.
    pub(crate) fn client_hash(&self, client: &str) -> [u8; 32] {
        self.mac(&["client", client])
    }
}

impl fmt::Debug for OtpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_debug_is_redacted() {
        assert!(OtpSecret::from_bytes(vec![7; 31]).is_err());
        let secret = OtpSecret::from_bytes(vec![7; 32]).ok();
        assert!(secret.is_some());
        assert_eq!(format!("{secret:?}"), "Some(OtpSecret([REDACTED]))");
    }

    #[test]
    fn the_hash_depends_on_secret_mailbox_and_code() {
        let (a, b) = (OtpSecret(vec![1; 32]), OtpSecret(vec![2; 32]));
        let h = a.code_hash("ann@example.com", "ABCDEF");
        assert_ne!(h, b.code_hash("ann@example.com", "ABCDEF"));
        assert_ne!(h, a.code_hash("bob@example.com", "ABCDEF"));
        assert_ne!(h, a.code_hash("ann@example.com", "ABCDEG"));
        assert_ne!(a.mac(&["ab", "c"]), a.mac(&["a", "bc"]));
        assert_eq!(h, a.code_hash("ann@example.com", "ABCDEF"));
    }
}
