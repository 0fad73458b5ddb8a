//! E-mail addresses: their shape, and the mailbox they deliver to.
//!
//! One account per *mailbox*, not per spelling: `Ann+x@Example.com` and `ann@example.com` reach
//! the same inbox, so they may not mint two accounts. The mailbox is the address trimmed and
//! lower-cased, with a `+tag` cut from its local part; for Gmail (`gmail.com`,
//! `googlemail.com`), whose servers ignore dots, the dots of the local part are removed too
//! and the `googlemail.com` alias becomes `gmail.com`. Migration 0002 computes the same form in
//! SQL for the accounts made before it.
//!
//! The price: at a provider without sub-addressing, `a+b@x` and `a@x` may be two people, and
//! only the first to register gets an account; such a user asks the operator for a key.

use crate::StoreError;

/// Longest e-mail address accepted (RFC 5321 path limit).
pub(crate) const MAX_EMAIL_LEN: usize = 254;

/// An address checked for shape, and its mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// Trimmed and lower-cased: where the code is sent.
    pub(crate) address: String,
    /// The normalised form stored unique: one account per mailbox.
    pub(crate) mailbox: String,
}

/// Trims and lower-cases an e-mail address and checks its shape: one `@`, a non-empty local part,
/// a dotted domain, no whitespace or control characters. Deliverability is what the code proves.
pub(crate) fn parse(email: &str) -> Result<Address, StoreError> {
    let address = email.trim().to_lowercase();
    let bad = || StoreError::Invalid("email is not a valid e-mail address".into());
    if address.is_empty() || address.len() > MAX_EMAIL_LEN {
        return Err(bad());
    }
    if address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = address.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') {
        return Err(bad());
    }
    let labels_ok = domain.split('.').all(|l| !l.is_empty());
    if !domain.contains('.') || !labels_ok {
        return Err(bad());
    }
    let mailbox = mailbox(local, domain);
    Ok(Address { address, mailbox })
}

/// The mailbox of a checked, lower-cased `local@domain`.
fn mailbox(local: &str, domain: &str) -> String {
    // A local part that *is* a tag (`+x@…`) is kept whole: there is nothing else to keep.
    let local = match local.split_once('+') {
        Some((base, _)) if !base.is_empty() => base,
        _ => local,
    };
    if matches!(domain, "gmail.com" | "googlemail.com") {
        let undotted: String = local.chars().filter(|&c| c != '.').collect();
        // All dots: keep the original rather than an empty local part.
        let local = if undotted.is_empty() {
            local
        } else {
            &undotted
        };
        return format!("{local}@gmail.com");
    }
    format!("{local}@{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox_of(email: &str) -> String {
        parse(email).map(|a| a.mailbox).unwrap_or_default()
    }

    #[test]
    fn shapes() {
        assert_eq!(
            parse("  Ann@Example.COM ")
                .ok()
                .map(|a| a.address)
                .as_deref(),
            Some("ann@example.com")
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "a b@example.com",
            "ann@example..com",
            "ann@.com",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tags_case_and_gmail_dots_name_one_mailbox() {
        for same in [
            "victim@example.com",
            " Victim@Example.com",
            "victim+1@example.com",
            "VICTIM+a+b@example.com",
        ] {
            assert_eq!(mailbox_of(same), "victim@example.com", "{same}");
        }
        // Dots matter outside Gmail.
        assert_eq!(mailbox_of("vic.tim@example.com"), "vic.tim@example.com");
        for same in [
            "victim@gmail.com",
            "v.i.c.t.i.m@gmail.com",
            "Vic.Tim+x@GoogleMail.com",
        ] {
            assert_eq!(mailbox_of(same), "victim@gmail.com", "{same}");
        }
        // Nothing left but the tag or the dots: kept as it is.
        assert_eq!(mailbox_of("+x@example.com"), "+x@example.com");
        assert_eq!(mailbox_of("...@gmail.com"), "...@gmail.com");
        // The address where the code goes keeps its tag.
        assert_eq!(
            parse("Victim+1@Example.com").ok().map(|a| a.address),
            Some("victim+1@example.com".to_owned())
        );
    }
}
