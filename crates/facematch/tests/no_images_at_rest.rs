//! "No biometric data at rest": the real `facematch serve` process, with its working
//! directory, HOME and TMPDIR in a fresh temporary directory and its database there,
//! answers a batch of face matches (saved and not saved); afterwards that directory
//! holds nothing but the database (and its WAL/SHM files), and the database bytes hold
//! no run of any uploaded image. Also checks that `serve --help` documents the per-key
//! rate limit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{create_key, faces, free_port, multipart, request, spawn_healthy};

/// Where the models are for the real user: resolved before HOME is pointed elsewhere.
fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FACEMATCH_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .expect("HOME or XDG_CACHE_HOME");
    cache.join("facematch").join("models")
}

/// `facematch …` confined to `dir`: working directory, HOME, TMPDIR and the XDG folders.
fn confined(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facematch"));
    cmd.current_dir(dir)
        .env("HOME", dir)
        .env("TMPDIR", dir)
        .env("XDG_CACHE_HOME", dir)
        .env("XDG_DATA_HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("FACEMATCH_MODELS", models_dir());
    cmd
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.push(path.clone()); // a created folder counts as something written
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Stops the server with SIGTERM (graceful: the WAL is checkpointed as on a normal
/// stop), SIGKILL if it does not exit within 30 s.
fn stop(mut server: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = server.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn no_image_bytes_are_written_anywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_path_buf();
    let db = root.join("facematch.db");
    let key = create_key(confined(&root), &db, 100);

    let port = free_port();
    let mut serve = confined(&root);
    serve
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--workers",
            "1",
        ])
        .arg("--database")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = spawn_healthy(serve, port);

    let pairs = [
        (
            "fixtures/one_face_hopper.jpg",
            "fixtures/one_face_hopper.webp",
            true,
        ),
        (
            "fixtures/one_face_astronaut.png",
            "fixtures/one_face_astronaut.tiff",
            true,
        ),
        (
            "fixtures/one_face_hopper_exif_orientation_6.jpg",
            "fixtures/one_face_hopper_progressive.jpg",
            false,
        ),
        (
            "fixtures/truncated_hopper.jpg",
            "fixtures/no_face_cat.png",
            true,
        ),
    ];
    let mut uploaded: Vec<(String, Vec<u8>)> = Vec::new();
    let mut saved = 0;
    for (i, (user, reference, save)) in pairs.into_iter().enumerate() {
        let (u, r) = (
            std::fs::read(faces(user)).expect("photo"),
            std::fs::read(faces(reference)).expect("photo"),
        );
        let vendor = format!("vendor-marker-{i}");
        let (ctype, body) = multipart(
            &u,
            &r,
            &[
                ("save_api_request", if save { "true" } else { "false" }),
                ("vendor_data", &vendor),
            ],
        );
        let (status, text) = request(
            port,
            "POST",
            "/v3/face-match/",
            &[("x-api-key", &key)],
            Some((&ctype, &body)),
        )
        .expect("face match");
        assert!(status == 200 || status == 400, "{user}: {status} {text}");
        if status == 200 && save {
            saved += 1;
        }
        uploaded.push((user.to_owned(), u));
        uploaded.push((reference.to_owned(), r));
    }
    assert!(saved >= 2, "at least two requests were saved");
    stop(server);

    // Nothing but the database (and SQLite's WAL/SHM companions) was created.
    let mut written = Vec::new();
    files_under(&root, &mut written);
    let allowed = ["facematch.db", "facematch.db-wal", "facematch.db-shm"];
    let unexpected: Vec<_> = written
        .iter()
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            path.parent() != Some(root.as_path()) || !allowed.contains(&name)
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected files written: {unexpected:?}"
    );
    assert!(written.iter().any(|p| p.ends_with("facematch.db")));

    // The database bytes hold no 64-byte run of any image (from a quarter, the middle
    // and three quarters in: past any header that two images could share).
    let mut stored = Vec::new();
    for name in allowed {
        if let Ok(bytes) = std::fs::read(root.join(name)) {
            stored.extend_from_slice(&bytes);
        }
    }
    // Control: what the server does store is found by the same search.
    assert!(
        contains(&stored, b"vendor-marker-0"),
        "the saved request is in the database"
    );
    for (name, bytes) in &uploaded {
        for at in [bytes.len() / 4, bytes.len() / 2, 3 * bytes.len() / 4] {
            let run = &bytes[at..(at + 64).min(bytes.len())];
            assert!(
                !contains(&stored, run),
                "64 bytes of {name} (offset {at}) are in the database"
            );
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn serve_help_documents_the_per_key_rate_limit() {
    let out = Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(["serve", "--help"])
        .output()
        .expect("facematch serve --help runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--rate-per-key",
        "FACEMATCH_RATE_PER_KEY",
        "--rate-burst-per-key",
        "FACEMATCH_RATE_BURST_PER_KEY",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
}
