//! A real Chromium driven through WebDriver, for the console's browser tests: start
//! Debian's `chromedriver` on a free loopback port, wait until it answers, open headless
//! sessions (JavaScript on or off) with a fresh profile each, take PNG screenshots, and kill
//! the driver and every browser it started when the [`Driver`] is dropped.
//!
//! Chromium runs with its background services off: the test machines have no network, and
//! its update, sync and QUIC probes would otherwise fail (or wait) against it.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::ClientBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::http1;

/// The WebDriver client and element locators, for the tests that drive a [`Browser`].
pub use fantoccini::elements::Element;
pub use fantoccini::error::CmdError;
pub use fantoccini::{Client, Locator};

/// Where Debian's `chromium-driver` package installs the driver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where Debian's `chromium` package installs the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The viewport of every session (and so of every screenshot).
pub const WINDOW: (u32, u32) = (1280, 900);

/// How long the driver may take to answer `/status` after it starts.
const DRIVER_START: Duration = Duration::from_secs(20);

/// Why the browser could not be driven.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// `chromedriver` is not installed, and `CI` is set (where that is a failure).
    #[error("{CHROMEDRIVER} is missing (install chromium and chromium-driver; .ci/run does)")]
    Missing,
    /// Starting a process, a temporary folder or a file failed.
    #[error("{0}: {1}")]
    Io(&'static str, #[source] std::io::Error),
    /// The driver did not answer `/status` in time.
    #[error("chromedriver did not answer within {0:?}")]
    NotReady(Duration),
    /// The driver refused to open a session.
    #[error("new WebDriver session: {0}")]
    Session(#[from] fantoccini::error::NewSessionError),
    /// A WebDriver command failed.
    #[error("WebDriver: {0}")]
    Command(#[from] fantoccini::error::CmdError),
}

/// A running `chromedriver`, killed (with the browsers it started) when dropped.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    addr: SocketAddr,
}

/// Whether a browser session runs scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    /// JavaScript runs as in any browser.
    On,
    /// JavaScript is blocked by the profile's content settings, as a user who turned it off.
    Off,
}

impl Driver {
    /// Starts the driver, or `Ok(None)` when it is not installed and `CI` is unset (the
    /// caller then skips, saying why). In CI a missing driver is [`BrowserError::Missing`].
    pub async fn start_or_skip() -> Result<Option<Driver>, BrowserError> {
        let installed = Path::new(CHROMEDRIVER).exists();
        if !should_run(installed, std::env::var_os("CI").is_some())? {
            return Ok(None);
        }
        Self::start(Path::new(CHROMEDRIVER)).await.map(Some)
    }

    /// Starts `binary` on a free loopback port in a process group of its own, and waits
    /// until `GET /status` answers 200.
    pub async fn start(binary: &Path) -> Result<Driver, BrowserError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BrowserError::Io("a free loopback port", e))?
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: dropping the driver kills the browsers it started too.
            .process_group(0)
            .spawn()
            .map_err(|e| BrowserError::Io("starting chromedriver", e))?;
        let driver = Driver {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + DRIVER_START;
        loop {
            let answer = tokio::time::timeout(
                Duration::from_secs(2),
                http1::send(driver.addr, "GET", "/status", &[], &[]),
            )
            .await;
            if let Ok(Ok(response)) = answer {
                if response.status == 200 {
                    return Ok(driver);
                }
            }
            if Instant::now() > deadline {
                return Err(BrowserError::NotReady(DRIVER_START));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new headless session with a fresh profile, at [`WINDOW`] size.
    pub async fn session(&self, scripts: Scripts) -> Result<Browser, BrowserError> {
        let profile = tempfile::tempdir().map_err(|e| BrowserError::Io("a profile folder", e))?;
        let caps = capabilities(profile.path(), scripts);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://{}", self.addr))
            .await?;
        let browser = Browser {
            client,
            _profile: profile,
        };
        browser.fit_viewport().await?;
        Ok(browser)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group (the driver and its browsers), by the group id we gave it.
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the browser tests run: yes when the driver is `installed`; skipped when it is
/// not, outside CI; [`BrowserError::Missing`] when it is not, in CI (`ci`).
pub fn should_run(installed: bool, ci: bool) -> Result<bool, BrowserError> {
    match (installed, ci) {
        (true, _) => Ok(true),
        (false, false) => Ok(false),
        (false, true) => Err(BrowserError::Missing),
    }
}

/// The `goog:chromeOptions` of a session: headless, no background network, a fresh
/// `profile`, and JavaScript blocked when `scripts` is [`Scripts::Off`].
pub fn capabilities(profile: &Path, scripts: Scripts) -> Capabilities {
    let (w, h) = WINDOW;
    let mut options = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            format!("--window-size={w},{h}"),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if scripts == Scripts::Off {
        options["prefs"] = json!({
            "profile.managed_default_content_settings.javascript": 2
        });
    }
    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    // A dialog (a script's confirm()) stays open until the test answers it, instead of
    // being dismissed by the next command.
    caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
    caps
}

/// One browser session; its profile folder is removed when dropped. Close it with
/// [`Browser::close`] (the driver's drop kills it otherwise).
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver client (navigate, find, click, …).
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Writes a PNG of the viewport to `path` (its folder is created), and returns the path.
    pub async fn screenshot(&self, path: &Path) -> Result<PathBuf, BrowserError> {
        let png = self.client.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BrowserError::Io("screenshot folder", e))?;
        }
        std::fs::write(path, png).map_err(|e| BrowserError::Io("writing a screenshot", e))?;
        Ok(path.to_path_buf())
    }

    /// Resizes the window so that the viewport (what a screenshot shows) is [`WINDOW`]:
    /// the window's own frame is measured on a screenshot, so no script is needed.
    pub async fn fit_viewport(&self) -> Result<(), BrowserError> {
        let (w, h) = WINDOW;
        self.client.set_window_size(w, h).await?;
        let png = self.client.screenshot().await?;
        let Some((sw, sh)) = png_size(&png) else {
            return Ok(());
        };
        if (sw, sh) != (w, h) {
            let width = (2 * w).saturating_sub(sw);
            let height = (2 * h).saturating_sub(sh);
            self.client.set_window_size(width, height).await?;
        }
        Ok(())
    }

    /// Ends the session (the browser quits).
    pub async fn close(self) -> Result<(), BrowserError> {
        self.client.close().await?;
        Ok(())
    }
}

/// Width and height from a PNG's header (its IHDR chunk), `None` if it is not one.
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if !png.starts_with(b"\x89PNG\r\n\x1a\n") || png.get(12..16) != Some(b"IHDR") {
        return None;
    }
    let be = |at: usize| {
        png.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    };
    Some((be(16)?, be(20)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_off_blocks_javascript_through_the_profile() {
        let dir = Path::new("/tmp/p");
        let off = capabilities(dir, Scripts::Off);
        let on = capabilities(dir, Scripts::On);
        assert_eq!(
            off["goog:chromeOptions"]["prefs"]
                ["profile.managed_default_content_settings.javascript"],
            2
        );
        assert!(on["goog:chromeOptions"].get("prefs").is_none());
        let args = on["goog:chromeOptions"]["args"].as_array().expect("args");
        assert!(args.contains(&json!("--headless")));
        assert!(args.contains(&json!("--user-data-dir=/tmp/p")));
    }

    #[test]
    fn a_missing_driver_skips_only_outside_ci() {
        assert!(should_run(true, false).expect("runs"));
        assert!(should_run(true, true).expect("runs"));
        assert!(!should_run(false, false).expect("skips"));
        assert!(matches!(
            should_run(false, true),
            Err(BrowserError::Missing)
        ));
    }

    #[test]
    fn png_sizes_are_read_from_the_header() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&1280u32.to_be_bytes());
        png.extend_from_slice(&900u32.to_be_bytes());
        assert_eq!(png_size(&png), Some((1280, 900)));
        assert_eq!(png_size(&png[..20]), None, "truncated");
        assert_eq!(png_size(b"GIF89a......................"), None);
    }

    #[tokio::test]
    async fn a_missing_driver_is_an_error_not_a_hang() {
        let err = Driver::start(Path::new("/nonexistent/chromedriver"))
            .await
            .expect_err("no such binary");
        assert!(matches!(err, BrowserError::Io(..)), "{err}");
    }
}
