//! Per-key credit balances.
//!
//! Every change is a single SQL statement or an `IMMEDIATE` transaction, so it stays atomic even
//! when another process (the CLI) writes to the same database file.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::{db, keys, AuthError, Store, StoreError};

pub(crate) fn reserve_credit(store: &Store, key_id: &str) -> Result<bool, AuthError> {
    let now = db::to_nanos(db::now())?;
    let conn = store.conn();
    // The conditions and the decrement are one statement: two callers racing for the last credit
    // cannot both see `credits > 0`, because SQLite applies the UPDATEs one after the other; and a
    // key revoked or expired after it was authenticated gets nothing, however close the two are.
    let n = conn
        .execute(
            "UPDATE api_keys SET credits = credits - 1 WHERE id = ?1 AND credits > 0 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
            params![key_id, now],
        )
        .map_err(StoreError::from)?;
    if n == 1 {
        return Ok(true);
    }
    // Why not: read after the fact, only to name the refusal.
    let found: Option<(Option<i64>, Option<i64>)> = conn
        .query_row(
            "SELECT revoked_at, expires_at FROM api_keys WHERE id = ?1",
            [key_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(StoreError::from)?;
    match found {
        None => Err(AuthError::Unknown),
        Some((Some(_), _)) => Err(AuthError::Revoked),
        Some((None, Some(expires_at))) if expires_at <= now => Err(AuthError::Expired),
        Some(_) => Ok(false),
    }
}

pub(crate) fn refund_credit(store: &Store, key_id: &str) -> Result<(), StoreError> {
    let conn = store.conn();
    let n = conn.execute(
        "UPDATE api_keys SET credits = credits + 1 WHERE id = ?1",
        [key_id],
    )?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("key {key_id}")))
    }
}

pub(crate) fn balance(store: &Store, key_id: &str) -> Result<i64, StoreError> {
    let conn = store.conn();
    conn.query_row(
        "SELECT credits FROM api_keys WHERE id = ?1",
        [key_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("key {key_id}")))
}

pub(crate) fn add_credits(
    store: &Store,
    key_id_or_prefix: &str,
    amount: i64,
) -> Result<i64, StoreError> {
    let mut conn = store.conn();
    // IMMEDIATE takes the write lock up front, so the read-check-write below cannot interleave
    // with another process's update of the same balance.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let key = keys::find_key(&tx, key_id_or_prefix)?
        .ok_or_else(|| StoreError::NotFound(format!("key {key_id_or_prefix}")))?;
    let new_balance = key
        .credits
        .checked_add(amount)
        .ok_or_else(|| StoreError::Invalid("credit balance would overflow".into()))?;
    if new_balance < 0 {
        return Err(StoreError::Invalid(format!(
            "credit balance would become negative ({new_balance})"
        )));
    }
    tx.execute(
        "UPDATE api_keys SET credits = ?2 WHERE id = ?1",
        params![key.id, new_balance],
    )?;
    tx.commit()?;
    Ok(new_balance)
}
