//! Secret random strings from the operating system's CSPRNG.

use crate::StoreError;

/// Alphabet of API key parts.
pub(crate) const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Alphabet of e-mail codes: upper case and digits without the look-alikes 0/O, 1/I/L, so a code
/// read from an e-mail is typed right the first time.
pub(crate) const OTP_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// `len` characters drawn uniformly from `alphabet` (at most 256 symbols).
///
/// Uses rejection sampling: `byte % n` alone would make the first `256 % n` symbols more likely.
pub(crate) fn random_string(alphabet: &[u8], len: usize) -> Result<String, StoreError> {
    let n = alphabet.len();
    debug_assert!((1..=256).contains(&n));
    // Largest multiple of n that fits in a byte's range; bytes at or above it are discarded.
    let limit = 256 - 256 % n;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf)
            .map_err(|e| StoreError::Internal(format!("OS random source failed: {e}")))?;
        for &b in &buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % n]));
            }
        }
    }
    Ok(out)
}
