//! `--database` for the commands that open the server's database (`keys`, `webhooks`,
//! `db`), and `facematch db migrate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use facematch_store::{DatabaseLocation, Migrate, PostgresOptions, Store, SCHEMA_VERSION};

use crate::CliError;

/// The database a command works on.
#[derive(Debug, Args)]
pub struct DatabaseArg {
    /// The server's database: an SQLite file (created if absent) or a PostgreSQL URL
    /// (`postgres://user:password@host:5432/db`).
    #[arg(long, env = "FACEMATCH_DATABASE", default_value = "facematch.db")]
    pub database: DatabaseLocation,
    /// PostgreSQL with `sslmode=require`: PEM file of the authorities that sign the
    /// server's certificate (default: the public web roots).
    #[arg(long, env = "FACEMATCH_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,
}

impl DatabaseArg {
    /// Opens the database; an empty one gets the schema, an older one is refused unless
    /// `migrate` is [`Migrate::Apply`].
    pub fn open(&self, migrate: Migrate) -> Result<Store, CliError> {
        let options = PostgresOptions {
            ca_file: self.database_ca_file.clone(),
            ..PostgresOptions::default()
        };
        self.database
            .open(&options, migrate)
            .with_context(|| format!("cannot open the database {}", self.database))
            .map_err(CliError::Other)
    }
}

/// `facematch db …`
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Bring the database's schema up to this build's version (safe to repeat, and safe
    /// while replicas of the previous version run: migrations only add). Prints the version.
    Migrate {
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Fill an account that has no decisions yet with made-up ones (under a new key named
    /// `seed`): for console benchmarks and demos. Refuses an account with decisions.
    Seed {
        /// The account owner's e-mail.
        #[arg(long)]
        account: String,
        /// How many decisions.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        fake_decisions: u64,
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
}

/// Runs a `db` subcommand.
pub fn run(command: DbCommand) -> Result<ExitCode, CliError> {
    match command {
        DbCommand::Migrate { db } => {
            db.open(Migrate::Apply)?;
            println!("{}: schema at version {SCHEMA_VERSION}", db.database);
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Seed {
            account,
            fake_decisions,
            db,
        } => {
            let store = db.open(Migrate::IfEmpty)?;
            let n = crate::seed::seed(&store, &account, fake_decisions)?;
            println!("{}: {n} made-up decisions added to {account}", db.database);
            Ok(ExitCode::SUCCESS)
        }
    }
}
