//! `facematch keys …`: create, list, revoke and top up API keys in the server's
//! database, SQLite or PostgreSQL (safe while the server runs: one transaction per change).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use facematch_store::{ExposeSecret, Migrate, NewKey, Store};

use crate::database::DatabaseArg;

use crate::CliError;

/// `facematch keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it, alone, on stdout. It is shown only this once.
    Create {
        /// Initial credits (one per successful face match).
        #[arg(long, default_value_t = 0)]
        credits: i64,
        /// A label shown by `keys list`.
        #[arg(long, default_value = "cli")]
        name: String,
        /// May top up credits through the API (`POST /v3/billing/top-up/`).
        #[arg(long)]
        admin: bool,
        /// The key stops working after this many days.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        expires_in_days: Option<u32>,
        /// The account (its owner's e-mail) the key belongs to: its saved decisions show in
        /// that account's Business Console.
        #[arg(long)]
        account: Option<String>,
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List keys: prefix, name, credits, admin, expiry, revocation (never secrets).
    List {
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Revoke a key by id or prefix; it is refused (401) from then on.
    Revoke {
        /// The key's id or prefix (as `keys list` shows it).
        id_or_prefix: String,
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Add credits to a key (a negative number removes some); prints the new balance.
    TopUp {
        /// The key's id or prefix.
        id_or_prefix: String,
        /// Credits to add.
        #[arg(long, allow_negative_numbers = true)]
        credits: i64,
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
}

fn open(db: &DatabaseArg) -> Result<Store, CliError> {
    db.open(Migrate::IfEmpty)
}

/// Runs a `keys` subcommand.
pub fn run(command: KeysCommand) -> Result<ExitCode, CliError> {
    match command {
        KeysCommand::Create {
            credits,
            name,
            admin,
            expires_in_days,
            account,
            db,
        } => {
            if credits < 0 {
                return Err(CliError::Input(anyhow::anyhow!("--credits must be ≥ 0")));
            }
            let store = open(&db)?;
            let account_id = match &account {
                Some(email) => Some(
                    store
                        .account_id_by_email(email)
                        .context("cannot read the accounts")?
                        .ok_or_else(|| {
                            CliError::Input(anyhow::anyhow!("no account with the e-mail {email}"))
                        })?,
                ),
                None => None,
            };
            let expires_at = expires_in_days
                .map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(d)));
            let created = store
                .create_key(NewKey {
                    name,
                    credits,
                    admin,
                    expires_at,
                    account_id,
                })
                .context("cannot create the key")?;
            eprintln!(
                "created key {} ({} credits{}{}); it is shown only once:",
                created.record.prefix,
                created.record.credits,
                if admin { ", admin" } else { "" },
                expires_at.map_or(String::new(), |t| format!(", expires {}", day(t)))
            );
            println!("{}", created.secret.expose_secret());
        }
        KeysCommand::List { db } => {
            let keys = open(&db)?.list_keys().context("cannot list keys")?;
            println!(
                "{:<10} {:<20} {:>9} {:<5} {:<10} {:<10} {:<10}",
                "PREFIX", "NAME", "CREDITS", "ADMIN", "CREATED", "EXPIRES", "REVOKED"
            );
            for k in keys {
                println!(
                    "{:<10} {:<20} {:>9} {:<5} {:<10} {:<10} {:<10}",
                    k.prefix,
                    k.name.chars().take(20).collect::<String>(),
                    k.credits,
                    if k.admin { "yes" } else { "no" },
                    day(k.created_at),
                    k.expires_at.map_or("never".into(), day),
                    k.revoked_at.map_or("-".into(), day),
                );
            }
        }
        KeysCommand::Revoke { id_or_prefix, db } => {
            if !open(&db)?
                .revoke_key(&id_or_prefix)
                .context("cannot revoke")?
            {
                return Err(CliError::Input(anyhow::anyhow!(
                    "no key matches {id_or_prefix:?}"
                )));
            }
            eprintln!("revoked {id_or_prefix}");
        }
        KeysCommand::TopUp {
            id_or_prefix,
            credits,
            db,
        } => {
            let balance = open(&db)?
                .add_credits(&id_or_prefix, credits)
                .map_err(|e| match e {
                    facematch_store::StoreError::NotFound(_)
                    | facematch_store::StoreError::Invalid(_) => {
                        CliError::Input(anyhow::anyhow!("{e}"))
                    }
                    other => CliError::Other(other.into()),
                })?;
            println!("{balance}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `YYYY-MM-DD` (UTC).
fn day(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}
