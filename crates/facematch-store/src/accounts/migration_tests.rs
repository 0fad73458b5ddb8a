//! Migration 0002's mailbox backfill on accounts written before it.
//! SQLite only: PostgreSQL support starts at version 4, so no PostgreSQL database predates it.

#![allow(clippy::unwrap_used)]

use rusqlite::Connection;

use crate::migrations::{migrate_with, MIGRATIONS};

/// Accounts made before migration 0002 get their mailbox; where two old spellings share
/// one, the verified account keeps it and the other keeps its own address.
#[test]
fn migration_0002_backfills_mailboxes() {
    let mut conn = Connection::open_in_memory().unwrap();
    migrate_with(&mut conn, &MIGRATIONS[..1]).unwrap();
    for (id, email, verified) in [
        ("1", "ann+x@example.com", None),
        ("2", "ann@example.com", Some(5)),
        ("3", "b.o.b@googlemail.com", None),
        ("4", "+tag@example.com", None),
        ("5", "carol@example.com", None),
    ] {
        conn.execute(
            "INSERT INTO accounts (id, email, password_hash, created_at, verified_at) \
             VALUES (?1, ?2, 'x', 0, ?3)",
            rusqlite::params![id, email, verified],
        )
        .unwrap();
    }
    migrate_with(&mut conn, MIGRATIONS).unwrap();
    let mailbox = |id: &str| -> String {
        conn.query_row("SELECT mailbox FROM accounts WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(mailbox("2"), "ann@example.com");
    assert_eq!(mailbox("1"), "ann+x@example.com");
    assert_eq!(mailbox("3"), "bob@gmail.com");
    assert_eq!(mailbox("4"), "+tag@example.com");
    assert_eq!(mailbox("5"), "carol@example.com");
}
