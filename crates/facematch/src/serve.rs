//! `facematch serve`: the HTTP API (facematch-server) with the default model bundle.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use facematch_models::{load_pipeline, BundleOptions};
use facematch_server::ServerConfig;

use crate::CliError;

/// `facematch serve …`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Server settings.
    #[command(flatten)]
    pub config: ServerConfig,
    /// Log filter: a level (`info`, `debug`, …) or `target=level` pairs separated by
    /// commas. API keys are never logged; without SMTP, verification codes are.
    #[arg(long, env = "FACEMATCH_LOG", default_value = "info")]
    pub log: String,
    /// Model bundle: `default`, `buffalo_s` (non-commercial research only) or `custom`
    /// (FACEMATCH_CUSTOM_MODEL, FACEMATCH_CUSTOM_SHA256, …).
    #[arg(long, env = "FACEMATCH_BUNDLE", default_value = "default")]
    pub bundle: String,
}

/// Checks the transport settings (plain HTTP only on loopback unless
/// `--allow-plain-http`), opens (or creates) the database, starts listening (HTTPS with
/// `--tls-cert`/`--tls-key`; SIGHUP reloads them), loads the models in the background
/// (`/health` is 503 until then) and serves until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    // Before any other thread exists: the allocator settings of a long-running server
    // (facematch-malloc: ~100 MB less resident memory under load).
    // Elsewhere than glibc it does nothing, which is fine: nothing to report.
    facematch_malloc::tune_for_server();
    let filter: tracing_subscriber::filter::Targets = args
        .log
        .parse()
        .with_context(|| format!("--log {:?} is not a log filter", args.log))
        .map_err(CliError::Input)?;
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colours only on a terminal: log files and journald get plain text.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(filter)
            .init();
    }
    // Transport settings first, before the database and the models: plain HTTP on an
    // address that is not loopback without --allow-plain-http is a usage error (exit 2).
    facematch_server::check_transport(&args.config).map_err(|e| CliError::Input(e.into()))?;
    if let Some(warning) = facematch_server::plain_http_warning(&args.config) {
        // On stderr whatever the log filter says.
        eprintln!("facematch: warning: {warning}");
    }
    let bundle = crate::parse_bundle(&args.bundle)?;
    if bundle == facematch_models::Bundle::BuffaloS {
        // Said at every start, not only on the first fetch: whoever runs the server
        // must know what its weights allow.
        eprintln!("{}", facematch_fetch::BUFFALO_S_NOTICE);
    }
    let config = args.config;
    if config.database.sqlite_path().is_none()
        && config.otp_secret.is_none()
        && config.signup != facematch_server::config::SignupMode::Closed
    {
        return Err(CliError::Input(anyhow::anyhow!(
            "with a PostgreSQL database and sign-up open, --otp-secret is required: every \
             replica must check e-mail codes with the same secret"
        )));
    }
    // The key sealing webhook secrets: --webhook-key-file, or `<database>.webhook-key`
    // (created 0600 on first start), shared with `facematch webhooks`. Checked before the
    // database is touched.
    let webhook_key = facematch_server::webhooks::key_file::load_key_for(
        config.webhook_key_file.as_deref(),
        &config.database,
    )
    .context("cannot load the webhook key file (--webhook-key-file)")?;
    // --review-images on: its own key file (never the webhook key), which must exist and be
    // 0600, or the server does not start.
    let review_key = facematch_server::review_images::load_key(&config)
        .map_err(|e| CliError::Input(e.into()))?;
    let store = config
        .database
        .open(&config.postgres_options(), config.migrate_policy())
        .with_context(|| format!("cannot open the database {}", config.database))?;
    let mut store = store.with_webhook_key(webhook_key);
    if let Some(key) = review_key {
        store = store.with_review_images_key(key);
    }
    // One model session per worker, one thread each: the workers are the parallelism.
    let bundle = BundleOptions {
        bundle,
        sessions: config.effective_workers(),
        intra_threads: 1,
        ..BundleOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(facematch_server::serve_loading(config, store, move || {
            let pipeline = load_pipeline(&bundle, &mut crate::print_progress);
            // Model files and conversion buffers are freed by now: give the memory back.
            facematch_malloc::trim();
            pipeline
        }))
        .context("server failed")?;
    Ok(ExitCode::SUCCESS)
}
