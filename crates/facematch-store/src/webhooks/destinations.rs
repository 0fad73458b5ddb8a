//! Destinations: create, read, change, rotate the secret of, and delete, always as seen by one
//! key (its own and its account's); their delivery summary.

use base64::Engine as _;
use secrecy::SecretString;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{
    new_id, Destination, DestinationStats, DestinationUpdate, NewDestination,
    MAX_DESTINATIONS_PER_OWNER, MAX_LABEL_CHARS, MAX_SUBSCRIBED_EVENTS, MAX_URL_BYTES,
    VISIBLE_TO_KEY, WEBHOOK_EVENTS,
};
use crate::db;
use crate::sql::{args, Conn, Row};
use crate::{Store, StoreError};

/// Random bytes of a signing secret: 32, written as 43 URL-safe base64 characters (Didit's
/// format).
const SECRET_BYTES: usize = 32;

/// Columns read by [`destination_from_row`], in order, of the table aliased `w`.
const COLUMNS: &str = "w.id, w.key_id, w.account_id, w.label, w.url, w.subscribed_events, \
     w.enabled, w.created_at, w.updated_at";

fn destination_from_row(row: &Row) -> Result<Destination, StoreError> {
    Ok(Destination {
        id: row.get(0)?,
        key_id: row.get(1)?,
        account_id: row.get(2)?,
        label: row.get(3)?,
        url: row.get(4)?,
        subscribed_events: row.json(5)?,
        enabled: row.get(6)?,
        created_at: row.time(7)?,
        updated_at: row.time(8)?,
    })
}

/// A label: trimmed, 1 to [`MAX_LABEL_CHARS`] characters, no control characters.
fn check_label(label: &str) -> Result<String, StoreError> {
    let label = label.trim();
    let chars = label.chars().count();
    if chars == 0 || chars > MAX_LABEL_CHARS {
        return Err(StoreError::Invalid(format!(
            "label must be 1 to {MAX_LABEL_CHARS} characters, got {chars}"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "label must not contain control characters".into(),
        ));
    }
    Ok(label.to_owned())
}

/// A URL's length only: whether it is safe to send to is the server's to check.
fn check_url(url: &str) -> Result<String, StoreError> {
    if url.is_empty() || url.len() > MAX_URL_BYTES {
        return Err(StoreError::Invalid(format!(
            "url must be 1 to {MAX_URL_BYTES} bytes, got {}",
            url.len()
        )));
    }
    Ok(url.to_owned())
}

/// Event names: 1 to [`MAX_SUBSCRIBED_EVENTS`], each one of [`WEBHOOK_EVENTS`]; duplicates are
/// dropped, the first occurrence's order kept.
fn check_events(events: &[String]) -> Result<Vec<String>, StoreError> {
    if events.is_empty() || events.len() > MAX_SUBSCRIBED_EVENTS {
        return Err(StoreError::Invalid(format!(
            "subscribed_events must name 1 to {MAX_SUBSCRIBED_EVENTS} events, got {}",
            events.len()
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for event in events {
        if !WEBHOOK_EVENTS.contains(&event.as_str()) {
            let shown: String = event.chars().take(64).collect();
            return Err(StoreError::Invalid(format!(
                "unknown event {shown:?}; known events: {}",
                WEBHOOK_EVENTS.join(", ")
            )));
        }
        if !out.contains(event) {
            out.push(event.clone());
        }
    }
    Ok(out)
}

fn events_json(events: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(events)
        .map_err(|e| StoreError::Internal(format!("subscribed_events: {e}")))
}

/// A fresh signing secret: 32 random bytes as URL-safe base64 without padding (43 chars).
fn new_secret() -> Result<Zeroizing<String>, StoreError> {
    let mut bytes = Zeroizing::new([0u8; SECRET_BYTES]);
    getrandom::fill(bytes.as_mut_slice())
        .map_err(|e| StoreError::Internal(format!("OS random source failed: {e}")))?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice()),
    ))
}

fn find(c: &mut dyn Conn, id: &str, key_id: &str) -> Result<Option<Destination>, StoreError> {
    c.query_row(
        &format!(
            "SELECT {COLUMNS} FROM webhook_destinations w WHERE w.id = ?2 AND {VISIBLE_TO_KEY}"
        ),
        args![key_id, id],
        destination_from_row,
    )
}

pub(crate) fn create_destination(
    store: &Store,
    new: NewDestination,
    now: OffsetDateTime,
) -> Result<(Destination, SecretString), StoreError> {
    let label = check_label(&new.label)?;
    let url = check_url(&new.url)?;
    let events = check_events(&new.subscribed_events)?;
    let events_text = events_json(&events)?;
    let id = new_id();
    let secret = new_secret()?;
    let sealed = store.webhook_key().seal(secret.as_bytes(), &id)?;
    let now_n = db::to_nanos(now)?;

    // One transaction: the count and the insert see the same rows, so two concurrent creations
    // (in this process, another, or another replica) cannot both take the last place (SQLite:
    // the write lock; PostgreSQL: SERIALIZABLE, the loser retried and then refused).
    let account_id = store.write(|c| {
        let account: Option<Option<String>> = c.query_row(
            "SELECT account_id FROM api_keys WHERE id = ?1",
            args![&new.key_id],
            |r| r.get(0),
        )?;
        let Some(account_id) = account else {
            return Err(StoreError::NotFound(format!("key {}", new.key_id)));
        };
        let existing: i64 = c.query_one(
            &format!("SELECT count(*) FROM webhook_destinations w WHERE {VISIBLE_TO_KEY}"),
            args![&new.key_id],
            |r| r.get(0),
        )?;
        if usize::try_from(existing).unwrap_or(usize::MAX) >= MAX_DESTINATIONS_PER_OWNER {
            return Err(StoreError::Conflict(format!(
                "at most {MAX_DESTINATIONS_PER_OWNER} webhook destinations per account; delete one first"
            )));
        }
        c.execute(
            "INSERT INTO webhook_destinations (id, key_id, account_id, label, url, \
             subscribed_events, enabled, secret_sealed, backoff_until, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?9)",
            args![
                &id,
                &new.key_id,
                account_id.as_deref(),
                &label,
                &url,
                &events_text,
                new.enabled,
                &sealed,
                now_n
            ],
        )?;
        Ok(account_id)
    })?;
    let destination = Destination {
        id,
        key_id: new.key_id,
        account_id,
        label,
        url,
        subscribed_events: events,
        enabled: new.enabled,
        created_at: now,
        updated_at: now,
    };
    Ok((destination, SecretString::from(secret.as_str())))
}

pub(crate) fn list_destinations(
    store: &Store,
    key_id: &str,
) -> Result<Vec<Destination>, StoreError> {
    store.run(|c| {
        c.query_map(
            &format!(
                "SELECT {COLUMNS} FROM webhook_destinations w WHERE {VISIBLE_TO_KEY} \
                 ORDER BY w.created_at, w.id"
            ),
            args![key_id],
            destination_from_row,
        )
    })
}

pub(crate) fn get_destination(
    store: &Store,
    id: &str,
    key_id: &str,
) -> Result<Option<Destination>, StoreError> {
    store.run(|c| find(c, id, key_id))
}

pub(crate) fn update_destination(
    store: &Store,
    id: &str,
    key_id: &str,
    update: DestinationUpdate,
    now: OffsetDateTime,
) -> Result<Option<Destination>, StoreError> {
    let label = update.label.as_deref().map(check_label).transpose()?;
    let url = update.url.as_deref().map(check_url).transpose()?;
    let events = update
        .subscribed_events
        .as_deref()
        .map(check_events)
        .transpose()?;
    let now_n = db::to_nanos(now)?;
    store.write(|c| {
        let Some(mut d) = find(c, id, key_id)? else {
            return Ok(None);
        };
        if let Some(label) = &label {
            d.label.clone_from(label);
        }
        if let Some(url) = &url {
            d.url.clone_from(url);
        }
        if let Some(events) = &events {
            d.subscribed_events.clone_from(events);
        }
        if let Some(enabled) = update.enabled {
            d.enabled = enabled;
        }
        d.updated_at = now;
        c.execute(
            "UPDATE webhook_destinations SET label = ?2, url = ?3, subscribed_events = ?4, \
             enabled = ?5, updated_at = ?6 WHERE id = ?1",
            args![
                id,
                &d.label,
                &d.url,
                &events_json(&d.subscribed_events)?,
                d.enabled,
                now_n
            ],
        )?;
        Ok(Some(d))
    })
}

pub(crate) fn rotate_destination_secret(
    store: &Store,
    id: &str,
    key_id: &str,
    now: OffsetDateTime,
) -> Result<Option<SecretString>, StoreError> {
    let secret = new_secret()?;
    let sealed = store.webhook_key().seal(secret.as_bytes(), id)?;
    let now_n = db::to_nanos(now)?;
    let n = store.run(|c| {
        c.execute(
            &format!(
                "UPDATE webhook_destinations AS w SET secret_sealed = ?3, updated_at = ?4 \
                 WHERE w.id = ?2 AND {VISIBLE_TO_KEY}"
            ),
            args![key_id, id, &sealed, now_n],
        )
    })?;
    Ok((n > 0).then(|| SecretString::from(secret.as_str())))
}

pub(crate) fn delete_destination(
    store: &Store,
    id: &str,
    key_id: &str,
) -> Result<bool, StoreError> {
    store.write(|c| {
        if find(c, id, key_id)?.is_none() {
            return Ok(false);
        }
        // Explicitly, not by ON DELETE CASCADE: the log, the deliveries, then the events left
        // with no delivery at all.
        c.execute(
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE destination_id = ?1)",
            args![id],
        )?;
        let events: Vec<String> = c.query_map(
            "SELECT DISTINCT event_id FROM webhook_deliveries WHERE destination_id = ?1",
            args![id],
            |r| r.get(0),
        )?;
        c.execute(
            "DELETE FROM webhook_deliveries WHERE destination_id = ?1",
            args![id],
        )?;
        for event in &events {
            c.execute(
                "DELETE FROM webhook_events WHERE id = ?1 AND NOT EXISTS \
                 (SELECT 1 FROM webhook_deliveries WHERE event_id = ?1)",
                args![event],
            )?;
        }
        c.execute("DELETE FROM webhook_destinations WHERE id = ?1", args![id])?;
        Ok(true)
    })
}

pub(crate) fn destination_secret(
    store: &Store,
    id: &str,
) -> Result<Option<SecretString>, StoreError> {
    let sealed: Option<Vec<u8>> = store.run(|c| {
        c.query_row(
            "SELECT secret_sealed FROM webhook_destinations WHERE id = ?1",
            args![id],
            |r| r.get(0),
        )
    })?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let plain = store.webhook_key().open(&sealed, id)?;
    let text = std::str::from_utf8(&plain)
        .map_err(|_| StoreError::Corrupt(format!("webhook secret of destination {id}")))?;
    Ok(Some(SecretString::from(text)))
}

pub(crate) fn destination_stats(store: &Store, id: &str) -> Result<DestinationStats, StoreError> {
    // The mean is computed here from a sum and a count (integers on both databases, rounded
    // down exactly), not by the databases' AVG (a real on SQLite, a NUMERIC on PostgreSQL).
    let (stats, sum, timed) = store.run(|c| {
        c.query_one(
            "SELECT count(*), \
                    CAST(coalesce(sum(CASE WHEN a.error IS NOT NULL OR a.response_status IS NULL \
                         OR a.response_status NOT BETWEEN 200 AND 299 THEN 1 ELSE 0 END), 0) \
                         AS BIGINT), \
                    min(a.response_time_ms), CAST(sum(a.response_time_ms) AS BIGINT), \
                    count(a.response_time_ms), max(a.response_time_ms), max(a.created_at) \
             FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
             WHERE d.destination_id = ?1",
            args![id],
            |r| {
                let stats = DestinationStats {
                    total_deliveries: r.get(0)?,
                    failed_deliveries: r.get(1)?,
                    min_response_time_ms: r.get(2)?,
                    avg_response_time_ms: None,
                    max_response_time_ms: r.get(5)?,
                    last_delivery_at: r.opt_time(6)?,
                };
                Ok((stats, r.get::<Option<i64>>(3)?, r.get::<i64>(4)?))
            },
        )
    })?;
    let avg_response_time_ms = match sum {
        Some(sum) if timed > 0 => Some(sum.div_euclid(timed)),
        _ => None,
    };
    Ok(DestinationStats {
        avg_response_time_ms,
        ..stats
    })
}
