//! `facematch users …`: Business Console users in the server's database — bootstrap the
//! first admin of a fresh install, add a user to an account, list an account's users.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use facematch_store::{Migrate, Role, Store, UserAccount};

use crate::database::DatabaseArg;
use crate::CliError;

/// Longest password read from stdin (Argon2 input is capped lower by the store).
const MAX_PASSWORD_INPUT: u64 = 4096;

/// `facematch users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a console user who signs in with e-mail and password. Without --account a new
    /// account is made with this e-mail (the bootstrap of a fresh install: `--role admin`);
    /// keys made with `keys create --account <e-mail>` or in the console belong to it.
    Create {
        /// The user's e-mail (their sign-in name).
        #[arg(long)]
        email: String,
        /// `admin` (everything) or `reviewer` (Manual Checks only).
        #[arg(long, value_parser = ["admin", "reviewer"])]
        role: String,
        /// Add the user to the account whose owner has this e-mail, instead of a new one.
        #[arg(long)]
        account: Option<String>,
        /// Read the password from stdin (first line). Without it, a random password is
        /// printed once on stdout.
        #[arg(long)]
        password_stdin: bool,
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List the console users of the account whose owner has this e-mail.
    List {
        /// The account owner's e-mail.
        #[arg(long)]
        account: String,
        /// The database.
        #[command(flatten)]
        db: DatabaseArg,
    },
}

/// Runs a `users` subcommand.
pub fn run(command: UsersCommand) -> Result<ExitCode, CliError> {
    match command {
        UsersCommand::Create {
            email,
            role,
            account,
            password_stdin,
            db,
        } => {
            let role: Role = role
                .parse()
                .map_err(|e| CliError::Input(anyhow::Error::new(e)))?;
            let (password, generated) = if password_stdin {
                (read_password()?, false)
            } else {
                (random_password(), true)
            };
            let store: Store = db.open(Migrate::IfEmpty)?;
            let target = match &account {
                Some(owner) => UserAccount::OwnedBy(owner),
                None => UserAccount::New,
            };
            let user = store
                .create_console_user(
                    &email,
                    &password,
                    role,
                    target,
                    time::OffsetDateTime::now_utc(),
                )
                .map_err(|e| match e {
                    facematch_store::StoreError::Invalid(_)
                    | facematch_store::StoreError::Conflict(_)
                    | facematch_store::StoreError::NotFound(_) => CliError::Input(e.into()),
                    other => CliError::Other(other.into()),
                })?;
            eprintln!(
                "created console user {} ({}); sign in at /console/",
                user.email, user.role
            );
            if generated {
                eprintln!("its password, shown only once (change it under Account):");
                println!("{password}");
            }
        }
        UsersCommand::List { account, db } => {
            let store: Store = db.open(Migrate::IfEmpty)?;
            let id = store
                .account_id_by_email(&account)
                .context("cannot read the accounts")?
                .ok_or_else(|| {
                    CliError::Input(anyhow::anyhow!("no account with the e-mail {account}"))
                })?;
            for u in store
                .list_console_users(&id)
                .context("cannot list the users")?
            {
                println!(
                    "{}\t{}\t{}",
                    u.email,
                    u.role,
                    if u.active { "active" } else { "invited" }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_password() -> Result<String, CliError> {
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_PASSWORD_INPUT)
        .read_to_string(&mut text)
        .map_err(|e| CliError::Input(anyhow::anyhow!("reading the password from stdin: {e}")))?;
    let line = text.lines().next().unwrap_or("").to_owned();
    if line.is_empty() {
        return Err(CliError::Input(anyhow::anyhow!(
            "--password-stdin: stdin is empty"
        )));
    }
    Ok(line)
}

/// 20 characters drawn uniformly from 57 unambiguous ones (≈117 bits), from the OS-seeded
/// thread generator.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..20)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}
