//! Per-key credit balances.
//!
//! Every change is a single SQL statement or one transaction, so it stays atomic even when
//! another process (the CLI, another replica) writes to the same database.

use crate::sql::{args, Conn};
use crate::{db, keys, AuthError, Store, StoreError};

pub(crate) fn reserve_credit(store: &Store, key_id: &str) -> Result<bool, AuthError> {
    let now = db::to_nanos(db::now())?;
    store.run(|c| {
        // The conditions and the decrement are one statement: two callers racing for the last
        // credit cannot both see `credits > 0` (SQLite applies the UPDATEs one after the other;
        // PostgreSQL's second UPDATE waits for the first's row lock and re-checks the condition);
        // and a key revoked or expired after it was authenticated gets nothing.
        let n = c.execute(
            "UPDATE api_keys SET credits = credits - 1 WHERE id = ?1 AND credits > 0 \
             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
            args![key_id, now],
        )?;
        if n == 1 {
            return Ok(true);
        }
        // Why not: read after the fact, only to name the refusal.
        let found = c.query_row(
            "SELECT revoked_at, expires_at FROM api_keys WHERE id = ?1",
            args![key_id],
            |r| Ok((r.get::<Option<i64>>(0)?, r.get::<Option<i64>>(1)?)),
        )?;
        match found {
            None => Err(AuthError::Unknown),
            Some((Some(_), _)) => Err(AuthError::Revoked),
            Some((None, Some(expires_at))) if expires_at <= now => Err(AuthError::Expired),
            Some(_) => Ok(false),
        }
    })
}

pub(crate) fn refund_credit(store: &Store, key_id: &str) -> Result<(), StoreError> {
    let n = store.run(|c| {
        c.execute(
            "UPDATE api_keys SET credits = credits + 1 WHERE id = ?1",
            args![key_id],
        )
    })?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("key {key_id}")))
    }
}

pub(crate) fn balance(store: &Store, key_id: &str) -> Result<i64, StoreError> {
    store
        .run(|c| {
            c.query_row(
                "SELECT credits FROM api_keys WHERE id = ?1",
                args![key_id],
                |r| r.get(0),
            )
        })?
        .ok_or_else(|| StoreError::NotFound(format!("key {key_id}")))
}

pub(crate) fn add_credits(
    store: &Store,
    key_id_or_prefix: &str,
    amount: i64,
) -> Result<i64, StoreError> {
    // One transaction: the read-check-write below cannot interleave with another process's
    // update of the same balance.
    store.write(|c| add_credits_in(c, key_id_or_prefix, amount))
}

fn add_credits_in(
    c: &mut dyn Conn,
    key_id_or_prefix: &str,
    amount: i64,
) -> Result<i64, StoreError> {
    let key = keys::find_key_in(c, key_id_or_prefix)?
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
    c.execute(
        "UPDATE api_keys SET credits = ?2 WHERE id = ?1",
        args![&key.id, new_balance],
    )?;
    Ok(new_balance)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::test_backends::each_backend;
    use crate::{AuthError, NewKey, Store};

    fn key(store: &Store, credits: i64) -> String {
        let new = NewKey {
            name: "k".into(),
            credits,
            admin: false,
            expires_at: None,
            account_id: None,
        };
        store.create_key(new).unwrap().record.id
    }

    each_backend! {
        /// Reserve, refund, top up and the refusals, the same on both databases.
        fn credits_move_and_refuse_alike(store) {
            let id = key(&store, 1);
            assert!(store.reserve_credit(&id).unwrap());
            assert!(!store.reserve_credit(&id).unwrap());
            store.refund_credit(&id).unwrap();
            assert_eq!(store.balance(&id).unwrap(), 1);
            assert_eq!(store.add_credits(&id, 4).unwrap(), 5);
            assert!(store.add_credits(&id, -6).is_err());
            assert_eq!(store.balance(&id).unwrap(), 5, "a refused top-up changed the balance");
            assert!(matches!(store.reserve_credit("nope"), Err(AuthError::Unknown)));
            store.revoke_key(&id).unwrap();
            assert!(matches!(store.reserve_credit(&id), Err(AuthError::Revoked)));
        }

        /// Eight threads racing for three credits: exactly three win.
        fn racing_threads_spend_each_credit_once(store) {
            let id = key(&store, 3);
            let wins: usize = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| s.spawn(|| usize::from(store.reserve_credit(&id).unwrap())))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            assert_eq!(wins, 3);
            assert_eq!(store.balance(&id).unwrap(), 0);
        }
    }
}
