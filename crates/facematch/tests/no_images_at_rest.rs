//! "No biometric data at rest": the real `facematch serve` process, with its working
//! directory, HOME and TMPDIR in a fresh temporary directory and its database there,
//! answers a batch of face matches (saved and not saved), each with its one right
//! answer; afterwards that directory holds nothing but the database (and its WAL/SHM
//! files), the saved rows hold exactly the contract's fields, and no file there holds a
//! run of any uploaded image or of any face's embedding (computed here with the same
//! library). Also checks that `serve --help` documents the per-key rate limit.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{create_key, faces, free_port, multipart, request, serve_args, spawn_healthy};
use facematch_core::{image_input, CompareOptions, ImageInput};
use facematch_imageio::DecodeLimits;
use facematch_models::{load_pipeline, BundleOptions};

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

/// One face match of the batch, and the one answer it gets.
/// The `status` of a [`Case`] refused with a 400 `truncated_image` for its user image.
const TRUNCATED: &str = "400 truncated_image";

struct Case {
    user: &'static str,
    reference: &'static str,
    save: bool,
    status: &'static str,
    risks: &'static [&'static str],
}

const CASES: [Case; 4] = [
    Case {
        user: "fixtures/one_face_hopper.jpg",
        reference: "fixtures/one_face_hopper.webp",
        save: true,
        status: "Approved",
        risks: &[],
    },
    Case {
        user: "fixtures/one_face_astronaut.png",
        reference: "fixtures/one_face_astronaut.tiff",
        save: true,
        status: "Approved",
        risks: &[],
    },
    Case {
        user: "fixtures/one_face_hopper_exif_orientation_6.jpg",
        reference: "fixtures/one_face_hopper_progressive.jpg",
        save: false,
        status: "Approved",
        risks: &[],
    },
    // A truncated JPEG is refused (issue 10): a 400 `truncated_image`, and even with
    // `save_api_request` nothing of it is stored.
    Case {
        user: "fixtures/truncated_hopper.jpg",
        reference: "fixtures/no_face_cat.png",
        save: true,
        status: TRUNCATED,
        risks: &[],
    },
];

/// The keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// A warning as the contract has it, and nothing else.
fn assert_contract_warning(w: &serde_json::Value) {
    assert_eq!(
        keys(w),
        ["log_type", "long_description", "risk", "short_description"],
        "{w}"
    );
}

/// The `face_match` object as the contract has it plus issue 15's additive entity fields
/// (the five landmarks, pose, quality), and nothing else (no embedding, no image data).
fn assert_contract_face_match(fm: &serde_json::Value) {
    assert_eq!(
        keys(fm),
        ["ref_image", "score", "status", "user_image", "warnings"],
        "{fm}"
    );
    for side in ["user_image", "ref_image"] {
        assert_eq!(keys(&fm[side]), ["best_angle", "entities"], "{fm}");
        for e in fm[side]["entities"].as_array().expect("entities") {
            assert_eq!(
                keys(e),
                [
                    "age",
                    "bbox",
                    "confidence",
                    "gender",
                    "landmarks",
                    "pose",
                    "quality"
                ],
                "{fm}"
            );
        }
    }
    for w in fm["warnings"].as_array().expect("warnings") {
        assert_contract_warning(w);
    }
}

/// The little-endian bytes of every 4-component window of `embedding` (16 bytes as f32,
/// 32 as f64), at every start: a store of the vector, or of any part of it four values
/// long, holds one of them.
fn embedding_windows(embedding: &[f32]) -> Vec<Vec<u8>> {
    embedding
        .windows(4)
        .flat_map(|w| {
            let f32s = w.iter().flat_map(|x| x.to_le_bytes()).collect();
            let f64s = w.iter().flat_map(|&x| f64::from(x).to_le_bytes()).collect();
            [f32s, f64s]
        })
        .collect()
}

/// Every file under `dir`, read.
fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut paths = Vec::new();
    files_under(dir, &mut paths);
    paths
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read");
            (p, bytes)
        })
        .collect()
}

/// The first file of `files` that holds one of `needles`, and where.
fn find_any<'a>(files: &'a [(PathBuf, Vec<u8>)], needles: &[Vec<u8>]) -> Option<(&'a Path, usize)> {
    files.iter().find_map(|(path, bytes)| {
        needles
            .iter()
            .find_map(|n| bytes.windows(n.len()).position(|w| w == n.as_slice()))
            .map(|at| (path.as_path(), at))
    })
}

#[test]
fn no_image_bytes_are_written_anywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_path_buf();
    let db = root.join("facematch.db");
    let key = create_key(confined(&root), &db, 100);

    let port = free_port();
    let mut serve = confined(&root);
    serve_args(&mut serve, port, 1, &db).stderr(Stdio::null());
    let server = spawn_healthy(serve, port);

    // The embeddings the server computes, computed here with the same library (in this
    // process, while the server starts).
    let pipeline = load_pipeline(&BundleOptions::default(), &mut |_| {}).expect("the models");
    let limits = DecodeLimits::default();

    let mut uploaded: Vec<(String, Vec<u8>)> = Vec::new();
    let mut saved_ids = Vec::new();
    let mut embeddings: Vec<(String, Vec<f32>)> = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let (u, r) = (
            std::fs::read(faces(case.user)).expect("photo"),
            std::fs::read(faces(case.reference)).expect("photo"),
        );
        let vendor = format!("vendor-marker-{i}");
        let (ctype, body) = multipart(
            &u,
            &r,
            &[
                ("save_api_request", if case.save { "true" } else { "false" }),
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
        if case.status == TRUNCATED {
            assert_eq!(status, 400, "{}: {text}", case.user);
            let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert!(text.contains("truncated_image"), "{}: {text}", case.user);
            assert!(text.contains("user_image"), "{}: {v}", case.user);
            uploaded.push((case.user.to_owned(), u));
            uploaded.push((case.reference.to_owned(), r));
            continue;
        }
        assert_eq!(status, 200, "{}: {text}", case.user);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let fm = &v["face_match"];
        assert_eq!(fm["status"], case.status, "{}: {text}", case.user);
        let risks: Vec<&str> = fm["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .map(|w| w["risk"].as_str().expect("risk"))
            .collect();
        assert_eq!(risks, case.risks, "{}: {text}", case.user);
        // The library gives the answer the server gave (faces, boxes, ages, score): the
        // embeddings computed here are the server's.
        let local = pipeline
            .compare_uploads(&u, &r, &limits, &CompareOptions::default())
            .expect("compare");
        assert_eq!(
            &serde_json::to_value(&local.face_match).expect("JSON"),
            fm,
            "{}",
            case.user
        );
        let id = v["request_id"].as_str().expect("request_id").to_owned();
        let (got, _) = request(
            port,
            "GET",
            &format!("/v3/session/{id}/decision/"),
            &[("x-api-key", &key)],
            None,
        )
        .expect("decision");
        assert_eq!(got, if case.save { 200 } else { 404 }, "{}", case.user);
        if case.save {
            saved_ids.push(id);
        }
        for (name, bytes) in [(case.user, &u), (case.reference, &r)] {
            let ImageInput::Image(image) = image_input(bytes, &limits).expect("decodes") else {
                panic!("{name} is empty");
            };
            let analysis = pipeline.analyze(&image, false).expect("analysis");
            if let Some(embedding) = analysis.embedding() {
                embeddings.push((name.to_owned(), embedding.to_vec()));
            }
        }
        uploaded.push((case.user.to_owned(), u));
        uploaded.push((case.reference.to_owned(), r));
    }
    // Every photo of the 200s but the cat holds a face (the truncated pair was refused).
    assert_eq!(embeddings.len(), 6);
    stop(server);

    // Nothing but the database (and SQLite's WAL/SHM companions) and the key sealing
    // webhook secrets was created.
    let mut written = Vec::new();
    files_under(&root, &mut written);
    let allowed = [
        "facematch.db",
        "facematch.db-wal",
        "facematch.db-shm",
        "facematch.db.webhook-key",
    ];
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

    // What is stored of each saved request: exactly the contract's fields.
    {
        let conn = rusqlite::Connection::open(&db).expect("open the database");
        let mut columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('decisions')")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("columns");
        columns.sort_unstable();
        assert_eq!(
            columns,
            [
                "created_at",
                "decline_threshold",
                "face_match",
                "key_id",
                "metadata",
                "request_id",
                "review_threshold",
                "score",
                "session_number",
                "status",
                "updated_at",
                "vendor_data",
                "warnings",
            ]
        );
        let rows: Vec<(String, String, String, Option<String>)> = conn
            .prepare(
                "SELECT request_id, face_match, warnings, vendor_data FROM decisions \
                 ORDER BY created_at",
            )
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        let ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
        assert_eq!(
            ids,
            saved_ids.iter().collect::<Vec<_>>(),
            "the saved requests"
        );
        for (id, face_match, warnings, vendor) in &rows {
            let fm: serde_json::Value = serde_json::from_str(face_match).expect("JSON");
            assert_contract_face_match(&fm);
            let warnings: serde_json::Value = serde_json::from_str(warnings).expect("JSON");
            assert_eq!(warnings, fm["warnings"], "{id}");
            assert!(
                vendor
                    .as_deref()
                    .is_some_and(|v| v.starts_with("vendor-marker-")),
                "{id}: {vendor:?}"
            );
        }
        let history: i64 = conn
            .query_row("SELECT count(*) FROM decision_history", [], |r| r.get(0))
            .expect("count");
        assert_eq!(history, 0);
    }

    // The database bytes hold no 64-byte run of any image (from a quarter, the middle
    // and three quarters in: past any header that two images could share).
    let stored = all_bytes(&root);
    // Control: what the server does store is found by the same search.
    assert!(
        find_any(&stored, &[b"vendor-marker-0".to_vec()]).is_some(),
        "the saved request is in the database"
    );
    for (name, bytes) in &uploaded {
        let runs: Vec<Vec<u8>> = [bytes.len() / 4, bytes.len() / 2, 3 * bytes.len() / 4]
            .into_iter()
            .map(|at| bytes[at..(at + 64).min(bytes.len())].to_vec())
            .collect();
        if let Some((path, at)) = find_any(&stored, &runs) {
            panic!("64 bytes of {name} are in {} at {at}", path.display());
        }
    }

    // Nor any four consecutive values of a face's embedding, as f32 or f64.
    for (name, embedding) in &embeddings {
        let windows = embedding_windows(embedding);
        // Positive control: the same search over a file that does hold the vector
        // (written as `f32::to_le_bytes` would, after a header) finds it.
        let control = tempfile::tempdir().expect("temp dir");
        let mut leaked = b"header".to_vec();
        leaked.extend(embedding.iter().flat_map(|x| x.to_le_bytes()));
        std::fs::write(control.path().join("leak"), leaked).expect("write");
        assert!(
            find_any(&all_bytes(control.path()), &windows).is_some(),
            "the search cannot see {name}'s embedding"
        );
        if let Some((path, at)) = find_any(&stored, &windows) {
            panic!("{name}'s embedding is in {} at {at}", path.display());
        }
    }
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

/// Every 64-byte window of `bytes`, hashed (FNV-1a over the window, recomputed per
/// window: simple, and fast enough for a few MiB).
fn window_hash(window: &[u8]) -> u64 {
    window.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Whether a 64-byte window is distinctive: at least 32 different byte values. A run of
/// zeros or a short repeated pattern (an uncompressed stretch of a PNG) also occurs by
/// chance in any file (SQLite's `-shm` index is mostly zeros) and proves nothing; 64
/// random bytes hold ~50 different values, ciphertext and compressed pixels likewise.
fn distinctive(window: &[u8]) -> bool {
    let mut seen = [false; 256];
    window.iter().for_each(|&b| seen[usize::from(b)] = true);
    seen.iter().filter(|&&s| s).count() >= 32
}

/// The first 64-byte run of any of `uploads` found in `files`: (upload, file, offset).
/// Every distinctive window of every upload (each upload must have thousands) is looked
/// for, at every offset of every file.
fn find_any_run<'a>(
    files: &'a [(PathBuf, Vec<u8>)],
    uploads: &'a [(String, Vec<u8>)],
) -> Option<(&'a str, &'a Path, usize)> {
    const RUN: usize = 64;
    let mut wanted: std::collections::HashMap<u64, (usize, usize)> =
        std::collections::HashMap::new();
    for (i, (name, bytes)) in uploads.iter().enumerate() {
        let mut searched = 0;
        for (at, w) in bytes.windows(RUN).enumerate() {
            if distinctive(w) {
                wanted.entry(window_hash(w)).or_insert((i, at));
                searched += 1;
            }
        }
        assert!(
            searched >= 10_000 && searched * 10 >= bytes.len(),
            "{name}: only {searched} distinctive windows to look for"
        );
    }
    for (path, bytes) in files {
        for (at, w) in bytes.windows(RUN).enumerate() {
            if let Some(&(i, from)) = wanted.get(&window_hash(w)) {
                // Confirmed byte for byte (a hash collision is not a finding), and against
                // every upload holding this window.
                let hit = uploads[i].1[from..from + RUN] == *w
                    || uploads
                        .iter()
                        .any(|(_, u)| u.windows(RUN).any(|uw| uw == w));
                if hit {
                    return Some((uploads[i].0.as_str(), path.as_path(), at));
                }
            }
        }
    }
    None
}

/// Rows of `review_images` in the server's SQLite database (read while it runs: WAL).
fn review_rows(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    let mut select = conn
        .prepare("SELECT request_id FROM review_images ORDER BY request_id")
        .expect("prepare");
    let rows = select
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows
}

/// `--review-images all`: the two uploads of every saved decision are kept, but only as
/// ciphertext (no 64-byte run of any upload in any file of the data directory, the
/// database and its WAL included); a review deletes its pair at once, and the others go
/// when their lifetime ends (here 15 s through the hidden `--review-images-ttl-seconds`,
/// which also makes the sweep run every 15 s).
#[test]
fn review_images_are_kept_only_as_ciphertext_and_deleted_on_review_and_expiry() {
    const TTL_SECS: u64 = 15;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().to_path_buf();
    let db = root.join("facematch.db");
    let key = create_key(confined(&root), &db, 100);
    let key_file = root.join("review.key");
    {
        use std::io::Read as _;
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut random = [0u8; 32];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .expect("random key");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&key_file)
            .and_then(|mut f| f.write_all(&random))
            .expect("key file");
    }

    // Refused to start without the key file, and with one readable by others.
    let refused = |extra: &[&str]| {
        let mut serve = confined(&root);
        serve_args(&mut serve, free_port(), 1, &db)
            .args(["--review-images", "all"])
            .args(extra);
        let out = serve.output().expect("serve runs");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&[]);
    assert!(err.contains("--review-images-key-file"), "{err}");
    let open_key = root.join("open.key");
    std::fs::write(&open_key, [9u8; 32]).expect("write");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&open_key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let err = refused(&[
        "--review-images-key-file",
        open_key.to_str().expect("utf-8"),
    ]);
    assert!(err.contains("644"), "{err}");
    std::fs::remove_file(&open_key).expect("remove");

    let port = free_port();
    let mut serve = confined(&root);
    serve_args(&mut serve, port, 1, &db)
        .args(["--review-images", "all", "--review-images-key-file"])
        .arg(&key_file)
        .args(["--review-images-ttl-seconds", &TTL_SECS.to_string()])
        .stderr(Stdio::null());
    let server = spawn_healthy(serve, port);

    let mut uploaded: Vec<(String, Vec<u8>)> = Vec::new();
    let mut ids = Vec::new();
    for case in CASES.iter().filter(|c| c.save && c.status != TRUNCATED) {
        let (u, r) = (
            std::fs::read(faces(case.user)).expect("photo"),
            std::fs::read(faces(case.reference)).expect("photo"),
        );
        let (ctype, body) = multipart(&u, &r, &[("save_api_request", "true")]);
        let (status, text) = request(
            port,
            "POST",
            "/v3/face-match/",
            &[("x-api-key", &key)],
            Some((&ctype, &body)),
        )
        .expect("face match");
        assert_eq!(status, 200, "{}: {text}", case.user);
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        ids.push(v["request_id"].as_str().expect("request_id").to_owned());
        uploaded.push((case.user.to_owned(), u));
        uploaded.push((case.reference.to_owned(), r));
    }
    let saved_at = Instant::now();
    assert_eq!(ids.len(), 2);
    let mut kept = ids.clone();
    kept.sort_unstable();
    assert_eq!(review_rows(&db), kept, "both pairs kept");

    // The key file is the operator's, 0600; nothing in the data directory holds a run of
    // an upload. Positive control: the same search finds a run planted in a file.
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let control = tempfile::tempdir().expect("temp dir");
    let (name, bytes) = &uploaded[1];
    let mut planted = b"elsewhere".to_vec();
    planted.extend_from_slice(&bytes[bytes.len() / 3..bytes.len() / 3 + 64]);
    std::fs::write(control.path().join("leak"), planted).expect("write");
    assert!(
        find_any_run(&all_bytes(control.path()), &uploaded).is_some(),
        "the search cannot see a run of {name}"
    );
    if let Some((name, path, at)) = find_any_run(&all_bytes(&root), &uploaded) {
        panic!("64 bytes of {name} are in {} at {at}", path.display());
    }

    // A review through the API deletes that decision's pair at once.
    let patch = br#"{"new_status":"Declined","comment":"not the same person"}"#;
    let (status, text) = request(
        port,
        "PATCH",
        &format!("/v3/session/{}/update-status/", ids[0]),
        &[("x-api-key", &key)],
        Some(("application/json", patch)),
    )
    .expect("update-status");
    assert_eq!(status, 200, "{text}");
    assert!(
        saved_at.elapsed() < Duration::from_secs(TTL_SECS),
        "the review came after the lifetime: the test proves nothing"
    );
    assert_eq!(
        review_rows(&db),
        vec![ids[1].clone()],
        "the reviewed pair is gone"
    );

    // The other one goes by itself once its lifetime is over (within one more sweep).
    let deadline = saved_at + Duration::from_secs(3 * TTL_SECS + 10);
    while !review_rows(&db).is_empty() {
        assert!(
            Instant::now() < deadline,
            "expired review images were not deleted"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        saved_at.elapsed() >= Duration::from_secs(TTL_SECS),
        "deleted before their lifetime ended"
    );
    // The decisions themselves stay.
    for id in &ids {
        let (got, _) = request(
            port,
            "GET",
            &format!("/v3/session/{id}/decision/"),
            &[("x-api-key", &key)],
            None,
        )
        .expect("decision");
        assert_eq!(got, 200);
    }
    stop(server);
}
