//! PostgreSQL: a pool of connections shared by the replicas' worker threads.
//!
//! Client choice: the synchronous `postgres` crate (tokio-postgres underneath) under `r2d2`.
//! The store's API is synchronous and already runs on the server's blocking threads (as SQLite
//! must), so an async client (sqlx, tokio-postgres + deadpool) would only add a second runtime
//! hop per query; sqlx would also bring its own migration and type systems beside ours. Each
//! pooled connection keeps its prepared statements, so a query is parsed once per connection.
//!
//! Transactions run `SERIALIZABLE` and are retried on a serialization failure, which gives every
//! multi-statement operation the same "as if alone" behaviour as SQLite's `BEGIN IMMEDIATE`
//! without hand-placed row locks. A server that cannot be reached, a connection cut mid-query and
//! a statement timeout are [`StoreError::Unavailable`] (HTTP 503), answered within the pool's
//! acquire timeout, never a hang.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::sql::{numbered_placeholders, Arg, Conn, Database, Dialect, Finish, Row, Value};
use crate::StoreError;

/// How a PostgreSQL store connects and how long it waits.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections this process opens (each replica has its own pool).
    pub pool_size: u32,
    /// Longest a statement may run before the server cancels it.
    pub statement_timeout: Duration,
    /// Longest a caller waits for a connection (an unreachable server fails after this).
    pub acquire_timeout: Duration,
    /// Longest a TCP connect and start-up may take.
    pub connect_timeout: Duration,
    /// PEM file of the certificate authorities that sign the server's certificate, for
    /// `sslmode=require` (default: the public web roots).
    pub ca_file: Option<PathBuf>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            pool_size: 8,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            ca_file: None,
        }
    }
}

/// The advisory lock migrations run under (any fixed number unlikely to be another program's).
const MIGRATION_LOCK: i64 = 0x666d_6d69_6772;

/// Serialization conflicts retried before the operation fails as unavailable.
const MAX_TRIES: u32 = 30;

/// A pool of connections to one database.
pub(crate) struct PostgresDatabase {
    pool: r2d2::Pool<Manager>,
    /// When a wait for a connection last failed: for a moment after, callers fail at once
    /// instead of each waiting the whole acquire timeout again (a request makes several
    /// database calls; an outage should cost it one timeout, not one per call).
    unreachable_at: Outage,
}

/// When the database was last found unreachable (shared by the pool and its connections).
type Outage = Arc<Mutex<Option<Instant>>>;

/// Notes that the database was just found unreachable.
fn mark_unreachable(outage: &Outage) {
    *outage.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
}

/// How long after a failed wait for a connection callers fail at once (unless an idle
/// connection is at hand); the next caller after it waits and so probes the database again.
const FAIL_FAST_FOR: Duration = Duration::from_secs(1);

impl fmt::Debug for PostgresDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresDatabase")
            .field("state", &self.pool.state())
            .finish_non_exhaustive()
    }
}

impl PostgresDatabase {
    /// Parses `url` (`postgres://user:password@host:port/db?sslmode=…`) and opens the pool,
    /// connecting once now so that a wrong URL or password fails at start-up.
    pub(crate) fn connect(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Invalid(format!("database URL: {e}")))?;
        config.connect_timeout(options.connect_timeout);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("facematch");
        }
        // TLS only when the URL asks for it (`sslmode=require`), and then always verified: a
        // server's self-signed certificate must be named by --database-ca-file. `prefer` (the
        // default) connects in plain text, as to a server without TLS.
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(tls_connector(options.ca_file.as_deref())?),
            _ => None,
        };
        let outage: Outage = Arc::default();
        let manager = Manager {
            config,
            statement_timeout: options.statement_timeout,
            tls,
            outage: outage.clone(),
        };
        // Connect once by hand first: r2d2's own first connection would report only "timed out".
        let first = manager.connect_client().map_err(classify)?;
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size.max(1))
            .min_idle(Some(0))
            .connection_timeout(options.acquire_timeout)
            // A connection is checked when a query on it fails (has_broken), not by an extra
            // round trip at every checkout.
            .test_on_check_out(false)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(manager);
        drop(first);
        Ok(PostgresDatabase {
            pool,
            unreachable_at: outage,
        })
    }

    /// Applies `migrations` (`(version, name, sql)`) above the database's version, under an
    /// advisory lock held for the transaction, at READ COMMITTED so that a replica that waited
    /// for the lock sees the tables the first one made.
    pub(crate) fn migrate(
        &self,
        migrations: &[(usize, &str, &str)],
        latest: usize,
        policy: crate::Migrate,
    ) -> Result<(), StoreError> {
        let mut client = self.get()?;
        let client = client.raw()?;
        let mut tx = client.transaction()?;
        tx.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK}); \
             CREATE TABLE IF NOT EXISTS facematch_schema (version BIGINT NOT NULL)"
        ))?;
        let current: Option<i64> = tx
            .query_one("SELECT max(version) FROM facematch_schema", &[])?
            .try_get(0)?;
        let current = usize::try_from(current.unwrap_or(0))
            .map_err(|_| StoreError::Migration(format!("invalid schema version {current:?}")))?;
        crate::migrations::check_version(current, latest, policy)?;
        for (version, name, sql) in migrations.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql)
                .map_err(|e| StoreError::Migration(format!("{name}: {e}")))?;
            let version = i64::try_from(*version)
                .map_err(|_| StoreError::Migration(format!("{name}: version out of range")))?;
            tx.execute(
                "INSERT INTO facematch_schema (version) VALUES ($1)",
                &[&version],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// A pooled connection, or [`StoreError::Unavailable`] after the acquire timeout.
    pub(crate) fn get(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        let recently = self
            .unreachable_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|t| t.elapsed() < FAIL_FAST_FOR);
        if recently {
            return self.pool.try_get().ok_or_else(|| {
                StoreError::Unavailable("the database was unreachable a moment ago".into())
            });
        }
        let got = self.pool.get();
        let mut unreachable_at = self
            .unreachable_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match got {
            Ok(conn) => {
                *unreachable_at = None;
                Ok(conn)
            }
            Err(e) => {
                drop(unreachable_at);
                mark_unreachable(&self.unreachable_at);
                Err(StoreError::Unavailable(Box::new(e)))
            }
        }
    }
}

impl Database for PostgresDatabase {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn autocommit(
        &self,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut client = self.get()?;
        let mut conn = PgConn::new(&mut client);
        f(&mut conn)
    }

    fn transaction(
        &self,
        f: &mut dyn FnMut(&mut dyn Conn) -> Result<Finish, StoreError>,
    ) -> Result<(), StoreError> {
        for attempt in 0..MAX_TRIES {
            let mut client = self.get()?;
            client.batch("BEGIN ISOLATION LEVEL SERIALIZABLE")?;
            let mut conn = PgConn::new(&mut client);
            let outcome = f(&mut conn);
            let (conflict, failed) = (conn.conflict, conn.failed);
            let finish = match outcome {
                // A statement failed and the closure carried on: PostgreSQL has aborted the
                // transaction, and its COMMIT would silently roll back. Say so instead.
                Ok(Finish::Commit) if failed && !conflict => {
                    let _ = client.batch("ROLLBACK");
                    return Err(StoreError::Internal(
                        "a statement failed inside a transaction that asked to commit; \
                         nothing was written"
                            .into(),
                    ));
                }
                Ok(finish) if !conflict => finish,
                Ok(_) => Finish::Rollback,
                Err(e) if !conflict => {
                    let _ = client.batch("ROLLBACK");
                    return Err(e);
                }
                Err(_) => Finish::Rollback,
            };
            match (finish, conflict) {
                (Finish::Commit, _) => match client.batch("COMMIT") {
                    Ok(()) => return Ok(()),
                    Err(Failure::Conflict) => {}
                    Err(Failure::Other(e)) => return Err(e),
                },
                (Finish::Rollback, false) => {
                    client.batch("ROLLBACK")?;
                    return Ok(());
                }
                (Finish::Rollback, true) => client.batch("ROLLBACK")?,
            }
            // Another transaction won the race: wait a moment (longer each time, plus a random
            // part so that the losers do not collide again in step) and run the whole
            // operation again on fresh data.
            let mut jitter = [0u8; 1];
            let _ = getrandom::fill(&mut jitter);
            let pause = Duration::from_micros(200 * u64::from(attempt + 1))
                + Duration::from_micros(u64::from(jitter[0]) * 4);
            std::thread::sleep(pause);
        }
        Err(StoreError::Unavailable(
            format!("gave up after {MAX_TRIES} serialization conflicts").into(),
        ))
    }

    fn found_unreachable_at(&self) -> Option<Instant> {
        *self
            .unreachable_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn ping(&self) -> Result<(), StoreError> {
        let mut client = self.get()?;
        client.batch("SELECT 1")?;
        Ok(())
    }

    fn exclusive(
        &self,
        lock: i64,
        f: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        let mut client = self.get()?;
        let got = {
            let mut conn = PgConn::new(&mut client);
            let conn: &mut dyn Conn = &mut conn;
            conn.query_one("SELECT pg_try_advisory_lock(?1)", &[Arg::Int(lock)], |r| {
                r.get::<bool>(0)
            })?
        };
        if !got {
            return Ok(false);
        }
        let outcome = f();
        // Released with the session too, should this connection die first.
        let _ = client.batch(&format!("SELECT pg_advisory_unlock({lock})"));
        outcome.map(|()| true)
    }
}

/// Opens connections for the pool.
pub(crate) struct Manager {
    config: postgres::Config,
    statement_timeout: Duration,
    tls: Option<MakeRustlsConnect>,
    outage: Outage,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("statement_timeout", &self.statement_timeout)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A rustls client trusting `ca_file`'s certificates (PEM), or the public web roots.
fn tls_connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                StoreError::Invalid(format!("--database-ca-file {}: {e}", path.display()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    StoreError::Invalid(format!("--database-ca-file {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    StoreError::Invalid(format!("--database-ca-file {}: {e}", path.display()))
                })?;
            }
            if roots.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "--database-ca-file {} holds no certificate",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Internal(format!("TLS set-up: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

impl Manager {
    fn connect_client(&self) -> Result<PgClient, postgres::Error> {
        let mut client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(NoTls)?,
        };
        let ms = self.statement_timeout.as_millis().max(1);
        client.batch_execute(&format!(
            "SET statement_timeout = {ms}; SET idle_in_transaction_session_timeout = {}",
            ms.saturating_mul(2)
        ))?;
        Ok(PgClient {
            client: Some(client),
            statements: HashMap::new(),
            broken: false,
            outage: self.outage.clone(),
        })
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgClient;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgClient, postgres::Error> {
        self.connect_client()
    }

    fn is_valid(&self, conn: &mut PgClient) -> Result<(), postgres::Error> {
        match conn.client.as_mut() {
            Some(client) => client.batch_execute(""),
            None => Ok(()),
        }
    }

    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.broken || conn.client.as_ref().is_none_or(Client::is_closed)
    }
}

/// One pooled connection and the statements prepared on it, keyed by their `?N` source text.
pub(crate) struct PgClient {
    /// Always `Some` until dropped (see the `Drop` below).
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    /// Set when the connection failed in a way that leaves it unusable.
    broken: bool,
    /// The database's outage mark, set when this connection is lost.
    outage: Outage,
}

/// Why a statement failed: a serialization conflict (retry) or anything else.
enum Failure {
    Conflict,
    Other(StoreError),
}

impl From<Failure> for StoreError {
    fn from(f: Failure) -> StoreError {
        match f {
            Failure::Conflict => StoreError::Unavailable("serialization conflict".into()),
            Failure::Other(e) => e,
        }
    }
}

/// `postgres::Client`'s own `Drop` blocks on its private runtime, which panics on a thread that
/// drives async tasks (a store dropped by the server's runtime, a pool shrinking there): the
/// connection is closed on a thread of its own instead.
impl Drop for PgClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

impl PgClient {
    fn raw(&mut self) -> Result<&mut Client, Failure> {
        self.client
            .as_mut()
            .ok_or_else(|| Failure::Other(StoreError::Internal("the connection was closed".into())))
    }

    fn batch(&mut self, sql: &str) -> Result<(), Failure> {
        let r = self.raw()?.batch_execute(sql);
        r.map_err(|e| self.failure(e))
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, Failure> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.raw()?.prepare(&numbered_placeholders(sql));
        let stmt = stmt.map_err(|e| self.failure(e))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    fn failure(&mut self, e: postgres::Error) -> Failure {
        if is_conflict(&e) {
            return Failure::Conflict;
        }
        // The connection itself is gone (not a statement timeout or a full server, which
        // leave it usable): drop it from the pool and let the next callers fail fast.
        let lost = connection_lost(&e);
        let e = classify(e);
        if lost {
            self.broken = true;
            mark_unreachable(&self.outage);
        }
        Failure::Other(e)
    }
}

fn is_conflict(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// A driver error as a store error: lost or refused connections, server shut-downs, too many
/// clients and statement timeouts are `Unavailable` (503); everything else keeps its source as
/// `Postgres`.
pub(crate) fn classify(e: postgres::Error) -> StoreError {
    let unavailable = connection_lost(&e)
        || e.code().is_some_and(|code| {
            [
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::QUERY_CANCELED,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code)
        });
    if unavailable {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Postgres(e)
    }
}

/// Whether the connection itself is gone: a connection-class SQLSTATE, the server shutting
/// down, or (without a SQLSTATE) a closed socket or an I/O failure.
fn connection_lost(e: &postgres::Error) -> bool {
    match e.code() {
        Some(code) => {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
        }
        None => e.is_closed() || caused_by_io(e),
    }
}

fn caused_by_io(e: &postgres::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A statement-level view of a pooled connection, recording serialization conflicts.
struct PgConn<'c> {
    client: &'c mut PgClient,
    /// A statement met a serialization conflict: the transaction is to be run again.
    conflict: bool,
    /// A statement failed (any other way).
    failed: bool,
}

impl<'c> PgConn<'c> {
    fn new(client: &'c mut PgClient) -> Self {
        PgConn {
            client,
            conflict: false,
            failed: false,
        }
    }

    fn check(&mut self, r: Result<Statement, Failure>) -> Result<Statement, StoreError> {
        r.map_err(|f| self.note(f))
    }

    fn note(&mut self, f: Failure) -> StoreError {
        match f {
            Failure::Conflict => self.conflict = true,
            Failure::Other(_) => self.failed = true,
        }
        f.into()
    }
}

impl Conn for PgConn<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<usize, StoreError> {
        let stmt = self.client.statement(sql);
        let stmt = self.check(stmt)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        let result = match self.client.raw() {
            Ok(raw) => raw.execute(&stmt, &params),
            Err(f) => return Err(f.into()),
        };
        match result {
            Ok(n) => {
                usize::try_from(n).map_err(|_| StoreError::Corrupt(format!("{n} rows changed")))
            }
            Err(e) => {
                let f = self.client.failure(e);
                Err(self.note(f))
            }
        }
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.client.statement(sql);
        let stmt = self.check(stmt)?;
        let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as _).collect();
        let result = match self.client.raw() {
            Ok(raw) => raw.query(&stmt, &params),
            Err(f) => return Err(f.into()),
        };
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                let f = self.client.failure(e);
                return Err(self.note(f));
            }
        };
        rows.iter().map(read_row).collect()
    }
}

fn read_row(row: &postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Int(i64::from(v)))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)?.map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v.into()))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob)
        } else if [
            Type::TEXT,
            Type::VARCHAR,
            Type::BPCHAR,
            Type::NAME,
            Type::UNKNOWN,
        ]
        .contains(ty)
        {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        } else {
            return Err(StoreError::Corrupt(format!(
                "column {} has type {ty}, which the store does not read (cast it in the query)",
                column.name()
            )));
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row::new(values))
}

/// Binds an [`Arg`] to whatever type the server inferred for its placeholder, so the same
/// `i64` serves a BIGINT column, an `integer` expression or a boolean flag.
impl ToSql for Arg<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match *self {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) => {
                if *ty == Type::INT8 {
                    v.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(v)?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(v)?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (v != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    #[allow(clippy::cast_precision_loss)]
                    (v as f64).to_sql(ty, out)
                } else if [Type::TEXT, Type::VARCHAR, Type::UNKNOWN].contains(ty) {
                    v.to_string().as_str().to_sql(ty, out)
                } else {
                    Err(format!("an integer cannot be bound to a {ty} parameter").into())
                }
            }
            Arg::Real(v) => {
                if *ty == Type::FLOAT4 {
                    #[allow(clippy::cast_possible_truncation)]
                    (v as f32).to_sql(ty, out)
                } else {
                    v.to_sql(ty, out)
                }
            }
            Arg::Text(s) => s.to_sql(ty, out),
            Arg::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> StoreError {
        classify(e)
    }
}
