//! Outgoing webhooks, as Didit sends them: the canonical JSON forms of a payload
//! ([`canonical`]), its signatures and headers ([`sign`]), and the one HTTP client that
//! delivers them with the outbound-safety rules ([`outbound`]: https only, no private
//! addresses, no redirects, capped response bodies, a total timeout).

pub mod canonical;
pub mod deliver;
pub mod key_file;
pub mod outbound;
pub mod payload;
pub mod schedule;
pub mod sign;
