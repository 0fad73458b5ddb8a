//! `facematch webhooks …`: add, list, remove, rotate the secret of and test the webhook
//! destinations of an API key, in the server's database (safe while the server runs:
//! SQLite WAL, one transaction per change). Destination secrets are sealed with the key
//! file the server uses (`--webhook-key-file`, by default `<database>.webhook-key`): give
//! both the same one, or the server cannot sign with what the CLI made.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use facematch_server::webhooks::outbound::{check_url, OutboundPolicy};
use facematch_server::webhooks::schedule::RetrySchedule;
use facematch_server::webhooks::{deliver, key_file};
use facematch_store::{
    DestinationStats, ExposeSecret, Migrate, NewDestination, Store, STATUS_UPDATED,
};

use crate::database::DatabaseArg;
use crate::CliError;

/// The database and key file a `webhooks` command works on.
#[derive(Debug, Args)]
pub struct WebhookDbArgs {
    /// The server's database.
    #[command(flatten)]
    pub db: DatabaseArg,
    /// The key that seals destination secrets at rest; the server's must be the same file
    /// (default for SQLite: `<database>.webhook-key`, created 0600 when absent; required
    /// with PostgreSQL).
    #[arg(long, env = "FACEMATCH_WEBHOOK_KEY_FILE")]
    pub webhook_key_file: Option<PathBuf>,
    /// The API key (id or prefix, as `keys list` shows it) whose destinations these are.
    #[arg(long)]
    pub key: String,
}

/// Which URLs may be used, as the server's `--allow-*-webhooks` flags.
#[derive(Debug, Clone, Copy, Args)]
pub struct UrlPolicyArgs {
    /// Accept `http://` URLs, not only `https://` (the server needs `--allow-http-webhooks`
    /// to send to them).
    #[arg(long)]
    pub allow_http: bool,
    /// Accept private, loopback and link-local addresses (the server needs
    /// `--allow-private-webhooks` to send to them).
    #[arg(long)]
    pub allow_private: bool,
}

impl UrlPolicyArgs {
    fn policy(self) -> OutboundPolicy {
        OutboundPolicy {
            allow_http: self.allow_http,
            allow_private: self.allow_private,
        }
    }
}

/// `facematch webhooks …`
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Add a destination; prints its id and its signing secret, which is shown only this once.
    Add {
        /// Where events are POSTed (https unless `--allow-http`).
        #[arg(long)]
        url: String,
        /// A name for people (1 to 100 characters).
        #[arg(long, default_value = "cli")]
        label: String,
        /// Event names, comma-separated (Didit's; facematch emits `status.updated`).
        #[arg(long, value_delimiter = ',', default_value = STATUS_UPDATED)]
        events: Vec<String>,
        /// Create it disabled: its events wait until it is enabled.
        #[arg(long)]
        disabled: bool,
        /// Which URLs are accepted.
        #[command(flatten)]
        policy: UrlPolicyArgs,
        /// The database, key file and API key.
        #[command(flatten)]
        db: WebhookDbArgs,
    },
    /// List the key's destinations (never the secrets).
    List {
        /// The database, key file and API key.
        #[command(flatten)]
        db: WebhookDbArgs,
    },
    /// Remove a destination, with its pending deliveries and their log.
    Remove {
        /// The destination's id.
        id: String,
        /// The database, key file and API key.
        #[command(flatten)]
        db: WebhookDbArgs,
    },
    /// Give a destination a new signing secret and print it (shown only this once).
    RotateSecret {
        /// The destination's id.
        id: String,
        /// The database, key file and API key.
        #[command(flatten)]
        db: WebhookDbArgs,
    },
    /// Send a test `status.updated` event to a destination now; prints the status code and
    /// latency; exits 1 when it was not delivered (it is then retried by the server).
    Test {
        /// The destination's id.
        id: String,
        /// Seconds to wait for the receiver.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
        timeout_secs: u64,
        /// Which URLs may be reached.
        #[command(flatten)]
        policy: UrlPolicyArgs,
        /// The database, key file and API key.
        #[command(flatten)]
        db: WebhookDbArgs,
    },
}

/// The store with its webhook key, and the id of the API key named by `--key`.
fn open(db: &WebhookDbArgs) -> Result<(Store, String), CliError> {
    let webhook_key = key_file::load_key_for(db.webhook_key_file.as_deref(), &db.db.database)
        .context("cannot load the webhook key file")
        .map_err(CliError::Input)?;
    let store = db.db.open(Migrate::IfEmpty)?.with_webhook_key(webhook_key);
    let key = store
        .get_key(&db.key)
        .context("cannot look the key up")?
        .ok_or_else(|| CliError::Input(anyhow::anyhow!("no key matches {:?}", db.key)))?;
    Ok((store, key.id))
}

/// A refusal of the store that the user can fix (bad label, too many destinations…) is an
/// input error; anything else is ours.
fn store_error(e: facematch_store::StoreError) -> CliError {
    use facematch_store::StoreError;
    match e {
        StoreError::Invalid(_) | StoreError::NotFound(_) | StoreError::Conflict(_) => {
            CliError::Input(anyhow::anyhow!("{e}"))
        }
        other => CliError::Other(other.into()),
    }
}

fn no_destination(id: &str) -> CliError {
    CliError::Input(anyhow::anyhow!(
        "no webhook destination {id:?} for this key"
    ))
}

/// Runs a `webhooks` subcommand.
pub fn run(command: WebhooksCommand) -> Result<ExitCode, CliError> {
    match command {
        WebhooksCommand::Add {
            url,
            label,
            events,
            disabled,
            policy,
            db,
        } => add(&db, url, label, events, !disabled, policy.policy()),
        WebhooksCommand::List { db } => list(&db),
        WebhooksCommand::Remove { id, db } => {
            let (store, key_id) = open(&db)?;
            if !store
                .delete_destination(&id, &key_id)
                .map_err(store_error)?
            {
                return Err(no_destination(&id));
            }
            eprintln!("removed webhook destination {id}");
            Ok(ExitCode::SUCCESS)
        }
        WebhooksCommand::RotateSecret { id, db } => {
            let (store, key_id) = open(&db)?;
            let secret = store
                .rotate_destination_secret(&id, &key_id, time::OffsetDateTime::now_utc())
                .map_err(store_error)?
                .ok_or_else(|| no_destination(&id))?;
            eprintln!(
                "new signing secret of {id}; the old one no longer signs. It is shown only \
                 this once and will not be shown again:"
            );
            println!("{}", secret.expose_secret());
            Ok(ExitCode::SUCCESS)
        }
        WebhooksCommand::Test {
            id,
            timeout_secs,
            policy,
            db,
        } => test(&db, &id, policy.policy(), Duration::from_secs(timeout_secs)),
    }
}

fn add(
    db: &WebhookDbArgs,
    url: String,
    label: String,
    events: Vec<String>,
    enabled: bool,
    policy: OutboundPolicy,
) -> Result<ExitCode, CliError> {
    check_url(&url, policy).map_err(|e| CliError::Input(anyhow::anyhow!("--url refused: {e}")))?;
    let (store, key_id) = open(db)?;
    let (destination, secret) = store
        .create_destination(
            NewDestination {
                key_id,
                label,
                url,
                subscribed_events: events,
                enabled,
            },
            time::OffsetDateTime::now_utc(),
        )
        .map_err(store_error)?;
    eprintln!(
        "created webhook destination {} for {} ({}); below: its id, then its signing \
         secret, which is shown only this once and will not be shown again",
        destination.id,
        destination.url,
        destination.subscribed_events.join(",")
    );
    println!("{}", destination.id);
    println!("{}", secret.expose_secret());
    Ok(ExitCode::SUCCESS)
}

fn list(db: &WebhookDbArgs) -> Result<ExitCode, CliError> {
    let (store, key_id) = open(db)?;
    let destinations = store.list_destinations(&key_id).map_err(store_error)?;
    println!(
        "{:<36} {:<20} {:<7} {:>10} {:>6} {:<24} URL",
        "ID", "LABEL", "ENABLED", "DELIVERIES", "FAILED", "EVENTS"
    );
    for d in destinations {
        let DestinationStats {
            total_deliveries,
            failed_deliveries,
            ..
        } = store.destination_stats(&d.id).map_err(store_error)?;
        println!(
            "{:<36} {:<20} {:<7} {:>10} {:>6} {:<24} {}",
            d.id,
            d.label.chars().take(20).collect::<String>(),
            if d.enabled { "yes" } else { "no" },
            total_deliveries,
            failed_deliveries,
            d.subscribed_events.join(","),
            d.url,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends a test event now through the deliverer's own path (signed, checked, logged).
fn test(
    db: &WebhookDbArgs,
    id: &str,
    policy: OutboundPolicy,
    timeout: Duration,
) -> Result<ExitCode, CliError> {
    let (store, key_id) = open(db)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    // The default schedule: a test event that fails is retried by the server like any.
    let webhooks = deliver::WebhookRuntime::new(policy, timeout, RetrySchedule::default(), 1)
        .context("cannot set up the webhook sender")?;
    let lease = webhooks.lease();
    let due = store
        .enqueue_test_event(id, &key_id, time::OffsetDateTime::now_utc(), lease)
        .map_err(store_error)?
        .ok_or_else(|| no_destination(id))?;
    let summary = runtime
        .block_on(deliver::send_once(&store, &webhooks, due, false))
        .context("cannot send the test event")?;
    let attempt = store
        .destination_attempts(id, &key_id, 100)
        .map_err(store_error)?
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.id == summary.attempt_id)
        .ok_or_else(|| CliError::Other(anyhow::anyhow!("the test try was not logged")))?;
    let delivered = attempt
        .response_status
        .is_some_and(|s| (200..300).contains(&s));
    let status = attempt
        .response_status
        .map_or_else(|| "no answer".to_owned(), |s| format!("HTTP {s}"));
    let latency = attempt
        .response_time_ms
        .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
    let error = attempt
        .error
        .as_deref()
        .map_or_else(String::new, |e| format!(" ({e})"));
    println!(
        "{}: {status} in {latency}{error}",
        if delivered {
            "delivered"
        } else {
            "not delivered"
        }
    );
    Ok(if delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
