//! Unit tests of the settings: secrets never shown by `Debug`, the value parsers, the
//! defaults.

use super::*;

#[test]
fn debug_never_shows_the_smtp_password() {
    let config = ServerConfig {
        smtp_url: Some(SecretString::from("smtps://me:hunter2@mail.test:465/?x=1")),
        ..ServerConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("smtps://mail.test:465"), "{shown}");
}

#[test]
fn debug_never_shows_the_metrics_token() {
    let config = ServerConfig {
        metrics_token: Some(SecretString::from("s3cret-metrics")),
        ..ServerConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret-metrics"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}

#[test]
fn cors_origins_are_exact_origins_never_a_wildcard() {
    assert_eq!(
        parse_origin("https://app.example.com:8443"),
        Ok("https://app.example.com:8443".to_owned())
    );
    for bad in [
        "*",
        "https://*.example.com",
        "app.example.com",
        "https://app.example.com/",
        "ftp://x",
        "https://",
        "null",
    ] {
        assert!(parse_origin(bad).is_err(), "{bad}");
    }
}

#[test]
fn debug_never_shows_the_otp_secret_and_the_secret_is_checked() {
    let hex = "ab".repeat(32);
    let config = ServerConfig {
        otp_secret: Some(SecretString::from(hex.clone())),
        ..ServerConfig::default()
    };
    let shown = format!("{config:?}");
    assert!(!shown.contains(&hex), "{shown}");
    assert!(
        shown.contains("otp_secret: Some(\"[REDACTED]\")"),
        "{shown}"
    );
    assert!(parse_otp_secret(&hex).is_ok());
    // 32 bytes in base64; 31 bytes refused in either spelling.
    assert!(parse_otp_secret("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
    assert!(parse_otp_secret(&"ab".repeat(31)).is_err());
    assert!(parse_otp_secret("short").is_err());
    assert_eq!(ServerConfig::default().signup, SignupMode::Closed);
    assert_eq!(ServerConfig::default().signup_credits, 0);
}

#[test]
fn budgets_and_caps_are_whole_numbers_of_at_least_one() {
    assert_eq!(parse_positive("256"), Ok(256));
    for bad in ["0", "-1", "1.5", "", "many"] {
        assert_eq!(
            parse_positive(bad),
            Err(format!("{bad:?} is not a whole number ≥ 1"))
        );
    }
}

#[test]
fn rates_are_finite_and_not_negative() {
    assert_eq!(parse_rate("2.5"), Ok(2.5));
    assert_eq!(parse_rate("0"), Ok(0.0));
    for bad in ["-1", "NaN", "inf", "", "fast"] {
        assert_eq!(
            parse_rate(bad),
            Err(format!(
                "{bad:?} is not a rate (requests per second, a number ≥ 0)"
            )),
        );
    }
}

#[test]
fn trusted_proxies_are_ranges_or_addresses() {
    let net = |t: &str| t.parse::<ipnet::IpNet>().expect("net");
    assert_eq!(parse_proxy_range("10.0.0.0/8"), Ok(net("10.0.0.0/8")));
    assert_eq!(parse_proxy_range(" 127.0.0.1 "), Ok(net("127.0.0.1/32")));
    assert_eq!(parse_proxy_range("2001:db8::/32"), Ok(net("2001:db8::/32")));
    assert_eq!(parse_proxy_range("::1"), Ok(net("::1/128")));
    for bad in ["", "10.0.0.0/33", "proxy.example", "10.0.0.0/8/8"] {
        assert!(parse_proxy_range(bad).is_err(), "{bad:?}");
    }
    // The flag takes a comma-separated list, from the command line or the env var.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerConfig,
    }
    let cli = <Cli as clap::Parser>::try_parse_from([
        "facematch",
        "--trusted-proxy",
        "127.0.0.1/32,10.0.0.0/8",
        "--trusted-proxy-header",
        "forwarded",
    ])
    .expect("parses");
    assert_eq!(
        cli.server.trusted_proxy,
        vec![net("127.0.0.1/32"), net("10.0.0.0/8")]
    );
    assert_eq!(cli.server.trusted_proxy_header, ForwardedHeader::Forwarded);
    let default = <Cli as clap::Parser>::try_parse_from(["facematch"]).expect("parses");
    assert!(default.server.trusted_proxy.is_empty());
    assert_eq!(
        default.server.trusted_proxy_header,
        ForwardedHeader::XForwardedFor
    );
}

#[test]
fn workers_and_queue_defaults() {
    let config = ServerConfig {
        workers: Some(3),
        ..ServerConfig::default()
    };
    assert_eq!(
        (config.effective_workers(), config.effective_queue()),
        (3, 6)
    );
    let zero = ServerConfig {
        workers: Some(0),
        queue: Some(0),
        ..ServerConfig::default()
    };
    assert_eq!((zero.effective_workers(), zero.effective_queue()), (1, 0));
}

#[test]
fn webhook_flags_default_as_documented_and_a_bad_schedule_is_refused() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerConfig,
    }
    let parsed = <Cli as clap::Parser>::try_parse_from(["facematch"]).expect("parses");
    let default = ServerConfig::default();
    assert_eq!(
        parsed.server.webhook_retry_schedule,
        default.webhook_retry_schedule
    );
    assert_eq!(
        default.webhook_retry_schedule.to_string(),
        "10s,30s,2m,10m,30m,1h,2h,4h,8h,8h"
    );
    assert_eq!(parsed.server.webhook_timeout_secs, 10);
    assert_eq!(default.webhook_timeout_secs, 10);
    assert_eq!(parsed.server.webhook_concurrency, 8);
    assert_eq!(default.webhook_concurrency, 8);
    assert_eq!(parsed.server.webhook_key_file, None);
    let fast = <Cli as clap::Parser>::try_parse_from([
        "facematch",
        "--webhook-retry-schedule",
        "200ms,1s",
    ])
    .expect("parses");
    assert_eq!(fast.server.webhook_retry_schedule.to_string(), "200ms,1s");
    for bad in [
        ["--webhook-retry-schedule", "10"],
        ["--webhook-retry-schedule", ""],
        ["--webhook-timeout-secs", "0"],
        ["--webhook-concurrency", "0"],
    ] {
        assert!(
            <Cli as clap::Parser>::try_parse_from(["facematch", bad[0], bad[1]]).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn outbound_webhook_flags_are_off_by_default_and_parse() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerConfig,
    }
    let parsed = <Cli as clap::Parser>::try_parse_from(["facematch"]).expect("parses");
    assert!(!parsed.server.allow_http_webhooks && !parsed.server.allow_private_webhooks);
    assert!(!ServerConfig::default().allow_http_webhooks);
    assert!(!ServerConfig::default().allow_private_webhooks);
    let on = <Cli as clap::Parser>::try_parse_from([
        "facematch",
        "--allow-http-webhooks",
        "--allow-private-webhooks",
    ])
    .expect("parses");
    assert!(on.server.allow_http_webhooks && on.server.allow_private_webhooks);
    let shown = format!("{:?}", on.server);
    assert!(shown.contains("allow_private_webhooks: true"), "{shown}");
}

#[test]
fn review_images_are_off_by_default_and_the_flags_parse() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerConfig,
    }
    let parsed = <Cli as clap::Parser>::try_parse_from(["facematch"]).expect("parses");
    assert_eq!(parsed.server.review_images, ReviewImages::Off);
    assert_eq!(parsed.server.review_images_key_file, None);
    assert_eq!(parsed.server.review_images_ttl_hours, 72);
    assert_eq!(
        parsed.server.review_images_ttl(),
        std::time::Duration::from_secs(72 * 3600)
    );
    assert_eq!(ServerConfig::default().review_images, ReviewImages::Off);
    let on = <Cli as clap::Parser>::try_parse_from([
        "facematch",
        "--review-images",
        "in-review",
        "--review-images-key-file",
        "/etc/fm/review.key",
        "--review-images-ttl-hours",
        "2",
    ])
    .expect("parses");
    assert_eq!(on.server.review_images, ReviewImages::InReview);
    assert_eq!(
        on.server.review_images_ttl(),
        std::time::Duration::from_secs(7200)
    );
    assert_eq!(
        on.server.review_images_key_file.as_deref(),
        Some(std::path::Path::new("/etc/fm/review.key"))
    );
    let all = <Cli as clap::Parser>::try_parse_from([
        "facematch",
        "--review-images",
        "all",
        "--review-images-ttl-seconds",
        "3",
    ])
    .expect("parses");
    assert_eq!(all.server.review_images, ReviewImages::All);
    assert_eq!(
        all.server.review_images_ttl(),
        std::time::Duration::from_secs(3)
    );
    for bad in [
        ["--review-images", "yes"],
        ["--review-images", ""],
        ["--review-images-ttl-hours", "0"],
        ["--review-images-ttl-hours", "-1"],
        ["--review-images-ttl-hours", "99999999999"],
        ["--review-images-ttl-seconds", "0"],
    ] {
        assert!(
            <Cli as clap::Parser>::try_parse_from(["facematch", bad[0], bad[1]]).is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn which_decisions_keep_their_images() {
    use facematch_core::Status;
    for status in [Status::Approved, Status::Declined, Status::InReview] {
        assert!(!ReviewImages::Off.keeps(status));
        assert!(ReviewImages::All.keeps(status));
        assert_eq!(
            ReviewImages::InReview.keeps(status),
            status == Status::InReview
        );
    }
}
