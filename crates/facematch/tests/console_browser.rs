//! The Business Console in a real browser: Debian's Chromium driven through WebDriver
//! (`facematch_testkit::browser`) against a live `facematch serve` on loopback, with the
//! real models and photos. The admin is bootstrapped with `facematch users create`, face
//! matches arrive through the API, and everything else happens by clicking in pages.
//!
//! Screenshots of every page are taken on the way, at 1280×900: into `docs/console/` with
//! `FACEMATCH_SCREENSHOTS=1` (to refresh the committed ones), into a temporary folder
//! otherwise. Without `/usr/bin/chromedriver` the tests skip with a message, unless `CI`
//! is set, where that is a failure.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use common::{faces, free_port, multipart, serve_args, spawn_healthy};
use facematch_testkit::browser::{png_size, Browser, Driver, Element, Locator, Scripts, WINDOW};
use facematch_testkit::http1;

const ADMIN: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";
const REVIEWER: &str = "reviewer@example.com";
const REVIEWER_PASSWORD: &str = "reviewer's own passphrase";

/// The two tests start a server and a browser each: one at a time on a small machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn facematch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_facematch"))
}

/// Where screenshots go: `docs/console/` when refreshing them, else a temporary folder.
fn screenshot_dir(tmp: &Path) -> PathBuf {
    if std::env::var("FACEMATCH_SCREENSHOTS").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console")
    } else {
        tmp.join("screenshots")
    }
}

/// A database with its first admin, a webhook key file, and a running server whose log
/// (stderr) is kept to read the invitation links from. Killed and reaped when dropped.
struct Site {
    dir: tempfile::TempDir,
    port: u16,
    log: PathBuf,
    child: Child,
}

impl Site {
    fn start() -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("facematch.db");
        let key_file = dir.path().join("webhook.key");
        let images_key_file = dir.path().join("review-images.key");
        for (file, key) in [
            (
                &key_file,
                b"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            ),
            (
                &images_key_file,
                b"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
            ),
        ] {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(file)
                .expect("key file");
            f.write_all(key).expect("key written");
        }
        // The bootstrap of a fresh install: the first admin, password on stdin.
        let mut create = facematch()
            .args(["users", "create", "--email", ADMIN, "--role", "admin"])
            .arg("--password-stdin")
            .arg("--database")
            .arg(&db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("users create runs");
        create
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
            .expect("password written");
        let out = create.wait_with_output().expect("users create ends");
        assert!(
            out.status.success(),
            "users create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout.is_empty(),
            "no password is printed when it came from stdin"
        );

        let port = free_port();
        let log = dir.path().join("serve.log");
        let mut serve = facematch();
        serve_args(&mut serve, port, 1, &db)
            .arg("--webhook-key-file")
            .arg(&key_file)
            .args(["--allow-http-webhooks", "--allow-private-webhooks"])
            .args(["--review-images", "in-review", "--review-images-key-file"])
            .arg(&images_key_file)
            .args(["--log", "info"])
            .stderr(std::fs::File::create(&log).expect("log file"));
        let child = spawn_healthy(serve, port);
        Site {
            dir,
            port,
            log,
            child,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The last console link (`/console/invite?token=…`) the log shows for `email`.
    fn link_for(&self, email: &str, kind: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let found = text
                .lines()
                .filter(|l| l.contains(email))
                .filter_map(|l| l.split_once("link=").map(|(_, rest)| rest))
                .filter_map(|rest| rest.split_whitespace().next())
                .rfind(|link| link.starts_with(kind))
                .map(str::to_owned);
            if let Some(link) = found {
                return link;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} link for {email} in the log:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One face match through the API: `save_api_request=true`, and thresholds that put
    /// any pair with one face each In Review. Returns the request id.
    async fn face_match_in_review(&self, key: &str, user: &str, reference: &str) -> String {
        let u = std::fs::read(faces(user)).expect("photo");
        let r = std::fs::read(faces(reference)).expect("photo");
        let vendor = format!("browser-test {user}");
        let (ctype, body) = multipart(
            &u,
            &r,
            &[
                ("save_api_request", "true"),
                ("vendor_data", &vendor),
                ("face_match_score_decline_threshold", "0"),
                ("face_match_score_review_threshold", "100"),
            ],
        );
        let response = self
            .api("POST", "/v3/face-match/", key, Some((&ctype, &body)))
            .await;
        assert_eq!(response.status, 200, "{}", response.text());
        let v: serde_json::Value = serde_json::from_str(&response.text()).expect("JSON");
        assert_eq!(v["face_match"]["status"], "In Review", "{v}");
        v["request_id"].as_str().expect("request_id").to_owned()
    }

    /// One API request with `x-api-key`, bounded to 60 s.
    async fn api(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<(&str, &[u8])>,
    ) -> http1::Response {
        let mut headers = vec![("x-api-key", key)];
        if let Some((ctype, _)) = body {
            headers.push(("Content-Type", ctype));
        }
        let bytes = body.map_or(&[][..], |(_, b)| b);
        tokio::time::timeout(
            Duration::from_secs(60),
            http1::send(self.addr(), method, path, &headers, bytes),
        )
        .await
        .expect("an answer within 60 s")
        .expect("the request")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A webhook receiver on a real socket: answers 200 to every POST and sends each body on
/// the channel. Its URL.
fn webhook_receiver() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx
                .send(String::from_utf8_lossy(&body).into_owned())
                .is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

/// Starts the driver, or `None` (the test then skips) when chromedriver is absent outside CI.
async fn driver_or_skip() -> Option<Driver> {
    match Driver::start_or_skip().await {
        Ok(Some(d)) => Some(d),
        Ok(None) => {
            eprintln!(
                "SKIPPED: {} is not installed (apt-get install chromium chromium-driver; \
                 in CI, where CI is set, this is a failure)",
                facematch_testkit::browser::CHROMEDRIVER
            );
            None
        }
        Err(e) => panic!("the browser cannot be driven: {e}"),
    }
}

/// What a page says, as a user reads it.
async fn body_text(b: &Browser) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A page being replaced meanwhile answers "stale": read the new one.
        let text = match b.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await,
            Err(e) => Err(e),
        };
        match text {
            Ok(text) => return text,
            Err(e) => assert!(Instant::now() < deadline, "the page's text: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn path_of(b: &Browser) -> String {
    let url = b.client.current_url().await.expect("url");
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

async fn fill(b: &Browser, css: &str, value: &str) {
    let field = b.client.find(Locator::Css(css)).await.expect(css);
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("typed");
}

/// Clicks what `css` finds: a link or a submit button, so it then waits until the next
/// page has replaced this one (the old document's root goes stale), without any script.
async fn click(b: &Browser, css: &str) {
    let old = b.client.find(Locator::Css("html")).await.expect("html");
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("clicked");
    wait_replaced(old).await;
}

/// Waits (10 s at most) until `old`, the root of the page before, is stale.
async fn wait_replaced(old: Element) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match old.tag_name().await {
            Err(e) if e.is_stale_element_reference() => return,
            // An open dialog (the script's confirmation) answers every command with an
            // error: the caller answers it.
            Err(e) if e.is_unexpected_alert_open() => return,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the page did not change within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// An accessibility audit of the page in the browser: every control has a name (a label,
/// `aria-label` or, for a button, its text), every image an `alt`, the page a `lang`, a
/// title, one `<main>` and one `<h1>`; and every piece of text has a WCAG contrast of at
/// least 4.5:1 against the background it sits on. Answers the problems found.
const AUDIT: &str = r#"
const problems = [];
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea, button')) {
  const named = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label')
    || (el.tagName === 'BUTTON' && el.textContent.trim());
  if (!named) problems.push('unnamed control: ' + el.outerHTML.slice(0, 80));
}
for (const img of document.querySelectorAll('img')) if (!img.getAttribute('alt')) problems.push('img without alt');
if (!document.documentElement.lang) problems.push('no lang');
if (!document.title) problems.push('no title');
if (document.querySelectorAll('main').length !== 1) problems.push('not one main');
if (document.querySelectorAll('h1').length !== 1) problems.push('not one h1');
const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
  .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
const background = (el) => {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg') || !el.offsetParent) continue;
  const text = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!text) continue;
  const fg = lum(rgb(getComputedStyle(el).color)), bg = lum(background(el));
  const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  if (ratio < 4.5) problems.push('contrast ' + ratio.toFixed(2) + ': ' + el.outerHTML.slice(0, 80));
}
return problems;
"#;

async fn shot(b: &Browser, dir: &Path, name: &str) {
    let problems = b.client.execute(AUDIT, vec![]).await.expect("audit script");
    assert_eq!(
        problems,
        serde_json::json!([]),
        "{name}: accessibility problems"
    );
    let path = b
        .screenshot(&dir.join(format!("{name}.png")))
        .await
        .expect("screenshot");
    let png = std::fs::read(&path).expect("read back");
    assert_eq!(
        png_size(&png),
        Some(WINDOW),
        "{name}: a PNG of the whole viewport"
    );
}

/// Signs in on the sign-in page (from wherever the browser was sent there).
async fn sign_in(b: &Browser, site: &Site, email: &str, password: &str, dir: Option<&Path>) {
    b.client
        .goto(&site.url("/console/sign-in"))
        .await
        .expect("sign-in page");
    if let Some(dir) = dir {
        shot(b, dir, "sign-in").await;
    }
    fill(b, "input[name=email]", email).await;
    fill(b, "input[name=password]", password).await;
    click(b, "form[action='/console/sign-in'] button[type=submit]").await;
    let path = path_of(b).await;
    assert!(
        !path.starts_with("/console/sign-in"),
        "still on {path}: {}",
        body_text(b).await
    );
}

/// Creates a key named `name` on the Keys page; returns its secret, shown once.
async fn create_key(b: &Browser, site: &Site, name: &str, dir: &Path, shots: bool) -> String {
    b.client
        .goto(&site.url("/console/keys"))
        .await
        .expect("keys");
    if shots {
        shot(b, dir, "keys").await;
    }
    fill(b, "#create-key input[name=name]", name).await;
    fill(b, "#create-key input[name=credits]", "100").await;
    click(b, "#create-key button[type=submit]").await;
    let secret = b
        .client
        .find(Locator::Css("#new-key-secret"))
        .await
        .expect("the new key's secret")
        .text()
        .await
        .expect("text")
        .trim()
        .to_owned();
    assert!(secret.starts_with("fm_"), "{secret}");
    if shots {
        shot(b, dir, "new-key").await;
    }
    secret
}

/// Clicks Revoke on the Keys page for `key`; with `confirm`, the script's confirmation
/// dialog must appear and is accepted (without the script the form posts at once).
async fn revoke(b: &Browser, site: &Site, key: &str, confirm: bool) {
    b.client
        .goto(&site.url("/console/keys"))
        .await
        .expect("keys");
    let prefix: String = key.chars().take(11).collect();
    let button = b
        .client
        .find(Locator::Css(&format!(
            "button[aria-label='Revoke {prefix}']"
        )))
        .await
        .expect("the key's Revoke button");
    button.click().await.expect("clicked");
    if confirm {
        let asks = b
            .client
            .get_alert_text()
            .await
            .expect("a confirmation dialog");
        assert!(asks.contains(&prefix), "{asks}");
        b.client.accept_alert().await.expect("confirmed");
    }
    // Back on the Keys page, which now says the key is revoked.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path_of(b).await.starts_with("/console/keys") || !body_text(b).await.contains("revoked")
    {
        assert!(Instant::now() < deadline, "{}", body_text(b).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The request ids the page links to (`/console/checks/{id}`).
async fn linked_checks(b: &Browser) -> Vec<String> {
    let mut ids = Vec::new();
    for a in b
        .client
        .find_all(Locator::Css("main a[href^='/console/checks/']"))
        .await
        .expect("links")
    {
        if let Some(href) = a.attr("href").await.expect("href") {
            ids.push(href.trim_start_matches("/console/checks/").to_owned());
        }
    }
    ids
}

/// Approves the open decision with `comment`, and checks its history then holds exactly
/// that review, by the admin.
async fn approve(b: &Browser, id: &str, comment: &str) {
    fill(b, "textarea[name=comment]", comment).await;
    click(b, "button[name=verdict][value=Approved]").await;
    assert_eq!(path_of(b).await, format!("/console/checks/{id}"));
    let mut history = Vec::new();
    for li in b
        .client
        .find_all(Locator::XPath(
            "//h2[normalize-space()='History']/following-sibling::ol[1]/li",
        ))
        .await
        .expect("history entries")
    {
        history.push(li.text().await.expect("text"));
    }
    assert_eq!(history.len(), 1, "one review: {history:?}");
    let expected = format!("In Review → Approved by {ADMIN} — “{comment}”");
    assert!(
        history[0].ends_with(&expected),
        "{:?} should end with {expected:?}",
        history[0]
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn the_console_end_to_end_in_a_real_browser() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let started = Instant::now();
    let site = Site::start();
    let (hook_url, hooks) = webhook_receiver();
    let dir = screenshot_dir(site.dir.path());
    runtime().block_on(async {
        let Some(driver) = driver_or_skip().await else {
            return;
        };
        let admin = driver.session(Scripts::On).await.expect("a session");

        // Signed out, a console page sends the browser to sign in, and back afterwards.
        admin
            .client
            .goto(&site.url("/console/queue"))
            .await
            .expect("queue");
        assert!(path_of(&admin).await.starts_with("/console/sign-in"));
        sign_in(&admin, &site, ADMIN, ADMIN_PASSWORD, Some(&dir)).await;

        // A key for the face matches, made on the Keys page.
        let key = create_key(&admin, &site, "browser test", &dir, true).await;

        // A webhook destination for status.updated, on the Webhooks page.
        admin
            .client
            .goto(&site.url("/console/webhooks"))
            .await
            .expect("webhooks");
        fill(&admin, "#create-webhook input[name=label]", "review desk").await;
        fill(&admin, "#create-webhook input[name=url]", &hook_url).await;
        click(&admin, "#create-webhook button[type=submit]").await;
        let text = body_text(&admin).await;
        assert!(
            text.contains(&hook_url),
            "the destination is listed: {text}"
        );
        shot(&admin, &dir, "webhooks").await;

        // Face matches through the API, all In Review.
        let pairs = [
            (
                "fixtures/one_face_hopper.jpg",
                "fixtures/one_face_astronaut.png",
            ),
            (
                "fixtures/one_face_astronaut.png",
                "fixtures/one_face_hopper_gray.jpg",
            ),
            (
                "fixtures/one_face_hopper_progressive.jpg",
                "fixtures/one_face_hopper.jpg",
            ),
        ];
        let mut ids = Vec::new();
        for (u, r) in pairs {
            ids.push(site.face_match_in_review(&key, u, r).await);
        }

        // The queue lists them, oldest first.
        admin
            .client
            .goto(&site.url("/console/queue"))
            .await
            .expect("queue");
        let queued = linked_checks(&admin).await;
        assert_eq!(queued, ids, "the queue, oldest first");
        shot(&admin, &dir, "queue").await;
        admin
            .client
            .goto(&site.url("/console/checks"))
            .await
            .expect("checks");
        let listed = linked_checks(&admin).await;
        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(listed, newest_first, "Manual Checks, newest first");
        shot(&admin, &dir, "checks").await;

        // Open the oldest from the queue, approve it with a comment.
        admin
            .client
            .goto(&site.url("/console/queue"))
            .await
            .expect("queue");
        click(&admin, &format!("a[href='/console/checks/{}']", ids[0])).await;
        assert_eq!(path_of(&admin).await, format!("/console/checks/{}", ids[0]));
        // With --review-images in-review: both photos and both face crops load (decrypted,
        // served to this signed-in admin only), each with its box drawn over it.
        let loaded = admin
            .client
            .execute(
                "return Array.from(document.querySelectorAll('main img'))\
                 .filter(i => i.complete && i.naturalWidth > 0).length;",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(loaded.as_u64(), Some(4), "two photos and two crops load");
        let boxes = admin
            .client
            .find_all(Locator::Css(".photo svg rect"))
            .await
            .expect("boxes");
        assert!(boxes.len() >= 2, "a box over each photo");
        shot(&admin, &dir, "decision").await;
        // Readable on a phone: 390 px wide, nothing overflows sideways (wide tables scroll
        // inside their own box), on the pages a reviewer uses.
        let decision = site.url(&format!("/console/checks/{}", ids[0]));
        admin
            .client
            .set_window_size(390, 844)
            .await
            .expect("phone size");
        for page in [
            site.url("/console/queue"),
            site.url("/console/checks"),
            decision.clone(),
        ] {
            admin.client.goto(&page).await.expect("page");
            let overflow = admin
                .client
                .execute(
                    "return document.documentElement.scrollWidth - window.innerWidth;",
                    vec![],
                )
                .await
                .expect("script");
            assert!(
                overflow.as_i64().is_some_and(|o| o <= 0),
                "{page} overflows by {overflow} px"
            );
        }
        admin.fit_viewport().await.expect("desktop size again");
        admin.client.goto(&decision).await.expect("decision page");
        approve(&admin, &ids[0], "Same person: checked the ID photo by eye.").await;

        // It leaves the queue; the webhook receiver gets status.updated.
        admin
            .client
            .goto(&site.url("/console/queue"))
            .await
            .expect("queue");
        assert_eq!(linked_checks(&admin).await, ids[1..].to_vec());
        let deadline = Instant::now() + Duration::from_secs(30);
        let event = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let body = hooks
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no status.updated for {} within 30 s", ids[0]));
            let v: serde_json::Value = serde_json::from_str(&body).expect("JSON webhook");
            if v["session_id"] == ids[0].as_str() && v["status"] == "Approved" {
                break v;
            }
        };
        assert_eq!(event["webhook_type"], "status.updated", "{event}");

        // Keys: a second key, used, revoked (confirmed), refused.
        let temp = create_key(&admin, &site, "to revoke", &dir, false).await;
        let ok = site.api("GET", "/v3/billing/balance/", &temp, None).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        revoke(&admin, &site, &temp, true).await;
        let prefix: String = temp.chars().take(11).collect();
        let refused = site.api("GET", "/v3/billing/balance/", &temp, None).await;
        assert_eq!(refused.status, 401, "{}", refused.text());
        let still = site.api("GET", "/v3/billing/balance/", &key, None).await;
        assert_eq!(still.status, 200, "only that key is revoked");

        // The other pages, for their screenshots and a smoke check each.
        for (path, name, says) in [
            ("/console/usage", "usage", "Usage"),
            ("/console/billing", "billing", "Billing"),
            ("/console/settings", "settings", "Settings"),
            ("/console/account", "account", "Account"),
        ] {
            admin.client.goto(&site.url(path)).await.expect(path);
            assert_eq!(path_of(&admin).await, path);
            let text = body_text(&admin).await;
            assert!(text.contains(says), "{path}: {text}");
            shot(&admin, &dir, name).await;
        }

        // Users: invite a reviewer; the link goes to the log (no SMTP).
        admin
            .client
            .goto(&site.url("/console/users"))
            .await
            .expect("users");
        fill(&admin, "#invite input[name=email]", REVIEWER).await;
        let role = admin
            .client
            .find(Locator::Css("#invite select[name=role]"))
            .await
            .expect("role");
        role.select_by_value("reviewer").await.expect("reviewer");
        click(&admin, "#invite button[type=submit]").await;
        assert!(body_text(&admin).await.contains(REVIEWER));
        shot(&admin, &dir, "users").await;
        let link = site.link_for(REVIEWER, "/console/invite?token=");

        // The reviewer accepts it in a browser of their own.
        let reviewer = driver.session(Scripts::On).await.expect("a second session");
        reviewer
            .client
            .goto(&site.url(&link))
            .await
            .expect("invite");
        fill(&reviewer, "input[name=password]", REVIEWER_PASSWORD).await;
        click(&reviewer, "form button[type=submit]").await;
        if path_of(&reviewer).await.starts_with("/console/sign-in") {
            sign_in(&reviewer, &site, REVIEWER, REVIEWER_PASSWORD, None).await;
        }
        reviewer
            .client
            .goto(&site.url("/console/queue"))
            .await
            .expect("queue");
        assert_eq!(
            linked_checks(&reviewer).await,
            ids[1..].to_vec(),
            "a reviewer sees the account's queue"
        );
        reviewer
            .client
            .goto(&site.url("/console/keys"))
            .await
            .expect("keys");
        let text = body_text(&reviewer).await;
        assert!(
            text.contains("Forbidden"),
            "a reviewer cannot open keys: {text}"
        );
        assert!(!text.contains(&prefix), "no key is shown to a reviewer");
        shot(&reviewer, &dir, "forbidden").await;
        reviewer.close().await.expect("closed");

        // Sign out: the console asks to sign in again.
        click(&admin, "form[action='/console/sign-out'] button").await;
        admin
            .client
            .goto(&site.url("/console/checks"))
            .await
            .expect("checks");
        assert!(
            path_of(&admin).await.starts_with("/console/sign-in"),
            "signed out"
        );
        admin.close().await.expect("closed");
    });
    eprintln!("browser end-to-end test: {:?}", started.elapsed());
}

#[test]
fn reviewing_works_with_javascript_off() {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let site = Site::start();
    let dir = site.dir.path().join("no-js");
    runtime().block_on(async {
        let Some(driver) = driver_or_skip().await else {
            return;
        };
        let b = driver.session(Scripts::Off).await.expect("a session");
        sign_in(&b, &site, ADMIN, ADMIN_PASSWORD, None).await;
        let key = create_key(&b, &site, "no script", &dir, false).await;

        let id = site
            .face_match_in_review(
                &key,
                "fixtures/one_face_hopper.jpg",
                "fixtures/one_face_hopper_gray.jpg",
            )
            .await;
        b.client
            .goto(&site.url("/console/queue"))
            .await
            .expect("queue");
        assert_eq!(linked_checks(&b).await, std::slice::from_ref(&id));
        click(&b, &format!("a[href='/console/checks/{id}']")).await;
        approve(&b, &id, "Approved without any script.").await;
        b.client
            .goto(&site.url("/console/queue"))
            .await
            .expect("queue");
        assert!(linked_checks(&b).await.is_empty(), "the queue is empty");

        // No script, so no confirmation dialog: the Revoke form posts at once (with the
        // script on, the dialog would block the next command).
        revoke(&b, &site, &key, false).await;
        let refused = site.api("GET", "/v3/billing/balance/", &key, None).await;
        assert_eq!(refused.status, 401, "{}", refused.text());
        b.close().await.expect("closed");
    });
}
