//! The npm registry: `npm pack` leaves a gzip'd tarball whose files sit under
//! `package/`.

use std::ffi::OsStr;
use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::process::Command;

use crate::client::{download_dir, find_download, run_client, NPM_ENV};
use crate::error::FetchError;
use crate::install::{archive_error, install_member, MAX_FILE_BYTES};
use crate::manifest::{ModelFile, ModelRole};
use crate::store::ModelStore;

/// Runs `npm pack` into a fresh temporary folder inside the cache: it downloads the
/// package's tarball and writes it there as published (nothing is installed or
/// built).
pub(crate) fn download(
    store: &ModelStore,
    file: &ModelFile,
    npm: &OsStr,
) -> Result<tempfile::TempDir, FetchError> {
    let tmp = download_dir(store.dir(), file)?;
    let mut cmd = Command::new(npm);
    // `--loglevel=error`, not `--silent`: quiet on success, but a failure still
    // says why on stderr (`--silent` drops npm's error lines too). Packing a
    // registry version runs no scripts; `--ignore-scripts` makes sure of it.
    cmd.args(["pack", "--loglevel=error", "--ignore-scripts"])
        .arg("--pack-destination")
        .arg(tmp.path())
        .arg(file.requirement());
    let client = npm.to_string_lossy();
    let hint = format!(
        "the {} model {} is published on npm; install Node.js and npm, or set {NPM_ENV} to the \
         npm program (FACEMATCH_AGE_MODEL=dlib uses dlib's age net from pip instead)",
        role_noun(file),
        file.file_name
    );
    run_client(&mut cmd, file, &client, &hint)?;
    Ok(tmp)
}

/// Extracts `file` from the one npm tarball in `dir`, verifies it, moves it in place.
pub(crate) fn install_from_tarball(
    store: &ModelStore,
    dir: &Path,
    file: &ModelFile,
) -> Result<(), FetchError> {
    let archive = find_download(dir, "tgz", file, "npm pack")?;
    let archive_err = |detail: String| archive_error(&archive, file, detail);
    let reader = fs::File::open(&archive).map_err(|e| archive_err(e.to_string()))?;
    let gz = flate2::read::GzDecoder::new(BufReader::new(reader));
    let mut tar = tar::Archive::new(gz);
    let entries = tar.entries().map_err(|e| archive_err(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive_err(e.to_string()))?;
        let path = entry.path().map_err(|e| archive_err(e.to_string()))?;
        if path != Path::new(file.member) {
            continue;
        }
        // A link or device under the member's name must not be followed or
        // created: only plain bytes can be hashed and installed.
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            return Err(archive_err(format!(
                "not a regular file (tar entry type {kind:?})"
            )));
        }
        return install_member(store, &mut entry, &archive, file, MAX_FILE_BYTES);
    }
    Err(archive_err("no such file in the tarball".to_string()))
}

/// What a model of `file`'s role is called in a message ("the age model").
fn role_noun(file: &ModelFile) -> &'static str {
    match file.role {
        ModelRole::Runtime => "runtime",
        ModelRole::Detector => "detector",
        ModelRole::Landmarks => "landmarks",
        ModelRole::Recognizer => "recognizer",
        ModelRole::Age => "age",
        ModelRole::Gender => "gender",
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::client::Clients;
    use crate::install::tests::{leftovers, scratch};
    use crate::manifest::{Registry, FACEAPI_AGE_GENDER_WEIGHTS};
    use crate::store::FetchEvent;
    use crate::verify::sha256_bytes;

    /// Writes a gzip'd tarball holding `entries` (path, bytes) as regular files.
    fn write_tgz(path: &Path, entries: &[(&str, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(path).expect("create tgz"),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            tar.append_data(&mut header, name, *bytes).expect("append");
        }
        tar.into_inner().expect("tar").finish().expect("gzip");
    }

    #[test]
    fn a_tarball_with_the_wrong_bytes_is_not_installed() {
        let dir = scratch("tgz-bad");
        let tgz_dir = dir.join("t");
        fs::create_dir_all(&tgz_dir).expect("dir");
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        write_tgz(
            &tgz_dir.join("x.tgz"),
            &[
                ("package/package.json", b"{}"),
                (file.member, b"evil bytes"),
            ],
        );
        let store = ModelStore::new(&dir);
        let err = install_from_tarball(&store, &tgz_dir, &file).expect_err("accepted");
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
        assert!(
            !store.path(&file).exists(),
            "a bad file was left in the cache"
        );
        assert_eq!(leftovers(&dir), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_tarball_without_the_member_is_refused_naming_it() {
        let dir = scratch("tgz-missing");
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        write_tgz(&dir.join("x.tgz"), &[("package/model/other.bin", b"x")]);
        let err = install_from_tarball(&ModelStore::new(&dir), &dir, &file).expect_err("accepted");
        assert!(
            matches!(&err, FetchError::Archive { member, .. } if member == file.member),
            "{err}"
        );
        assert!(err.to_string().contains(file.member), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_tar_link_under_the_member_name_is_refused() {
        let dir = scratch("tgz-link");
        let file = FACEAPI_AGE_GENDER_WEIGHTS;
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(dir.join("x.tgz")).expect("create"),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, file.member, "/etc/passwd")
            .expect("link");
        tar.into_inner().expect("tar").finish().expect("gzip");
        let store = ModelStore::new(&dir);
        let err = install_from_tarball(&store, &dir, &file).expect_err("accepted");
        assert!(matches!(err, FetchError::Archive { .. }), "{err}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert!(!store.path(&file).exists());
        let _ = fs::remove_dir_all(&dir);
    }

    /// Only one test at a time writes and runs a fake client: a script written while
    /// another thread forks can fail to exec with "text file busy".
    static CLIENT_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// A fake npm in `dir`: a shell script running `body` after setting `$dest` to
    /// the `--pack-destination` argument and appending its arguments to `args.log`.
    #[cfg(unix)]
    fn fake_npm(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("fake-npm");
        let log = dir.join("args.log");
        let text = format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nwhile [ $# -gt 0 ]; do\n  \
             if [ \"$1\" = --pack-destination ]; then dest=\"$2\"; fi\n  shift\ndone\n{body}\n",
            log.display()
        );
        fs::write(&script, text).expect("write script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        script
    }

    /// A pinned npm file whose bytes are `payload`.
    fn test_npm_file(payload: &[u8]) -> ModelFile {
        ModelFile {
            role: ModelRole::Age,
            registry: Registry::Npm,
            package: "@facematch-test/fake",
            version: "1.0.0",
            member: "package/model/fake.bin",
            file_name: "fake.bin",
            sha256: Box::leak(sha256_bytes(payload).into_boxed_str()),
            license: "MIT",
            platform_wheel: false,
        }
    }

    /// Clients whose npm is `npm` and whose pip must not be needed.
    fn clients(npm: &Path) -> Clients {
        Clients {
            python: "/nonexistent/python-not-used".into(),
            npm: npm.into(),
        }
    }

    #[cfg(unix)]
    #[test]
    fn npm_fetch_runs_the_client_and_installs_the_verified_file() {
        let _lock = CLIENT_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = scratch("npm-ok");
        let payload = b"fake model bytes";
        let file = test_npm_file(payload);
        let fixture = dir.join("fixture.tgz");
        write_tgz(
            &fixture,
            &[("package/package.json", b"{}"), (file.member, payload)],
        );
        let npm = fake_npm(
            &dir,
            &format!(
                "cp '{}' \"$dest/facematch-test-fake-1.0.0.tgz\"",
                fixture.display()
            ),
        );
        let store = ModelStore::new(dir.join("cache"));
        let mut events = Vec::new();
        store
            .ensure_with(&[file], &mut |e| events.push(e), &clients(&npm))
            .expect("fetch");
        assert_eq!(
            events,
            [
                FetchEvent::Downloading("@facematch-test/fake@1.0.0".to_string()),
                FetchEvent::Installed("fake.bin"),
            ]
        );
        assert_eq!(store.read_verified(&file).expect("installed"), payload);
        assert_eq!(leftovers(store.dir()), Vec::<String>::new());
        let log = fs::read_to_string(dir.join("args.log")).expect("log");
        assert!(log.starts_with("pack "), "{log}");
        assert!(
            log.trim_end().ends_with(" @facematch-test/fake@1.0.0"),
            "{log}"
        );

        // A second run finds the file cached and does not run npm again.
        events.clear();
        store
            .ensure_with(&[file], &mut |e| events.push(e), &clients(&npm))
            .expect("cached");
        assert_eq!(events, [FetchEvent::Cached("fake.bin")]);
        let runs = fs::read_to_string(dir.join("args.log")).expect("log");
        assert_eq!(runs.lines().count(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn a_failing_npm_reports_its_stderr() {
        let _lock = CLIENT_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = scratch("npm-fail");
        let npm = fake_npm(
            &dir,
            "echo 'npm error notarget No matching version' >&2\nexit 1",
        );
        let file = test_npm_file(b"x");
        let store = ModelStore::new(dir.join("cache"));
        let err = store
            .ensure_with(&[file], &mut |_| {}, &clients(&npm))
            .expect_err("accepted");
        assert!(matches!(err, FetchError::Download { .. }), "{err}");
        assert!(err.to_string().contains("notarget"), "{err}");
        assert!(
            err.to_string().contains("@facematch-test/fake@1.0.0"),
            "{err}"
        );
        assert_eq!(leftovers(store.dir()), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn an_npm_that_leaves_no_tarball_is_a_download_error() {
        let _lock = CLIENT_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = scratch("npm-empty");
        let npm = fake_npm(&dir, "exit 0");
        let store = ModelStore::new(dir.join("cache"));
        let err = store
            .ensure_with(&[test_npm_file(b"x")], &mut |_| {}, &clients(&npm))
            .expect_err("accepted");
        assert!(err.to_string().contains("left no .tgz"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_npm_that_cannot_run_says_how_to_get_one() {
        let _lock = CLIENT_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = scratch("npm-absent");
        let store = ModelStore::new(dir.join("cache"));
        let err = store
            .ensure_with(
                &[FACEAPI_AGE_GENDER_WEIGHTS],
                &mut |_| {},
                &clients(&dir.join("no-such-npm")),
            )
            .expect_err("accepted");
        let text = err.to_string();
        assert!(matches!(err, FetchError::Download { .. }), "{text}");
        assert!(text.contains("could not run"), "{text}");
        assert!(text.contains("the age model"), "{text}");
        assert!(text.contains(NPM_ENV), "{text}");
        assert_eq!(leftovers(store.dir()), Vec::<String>::new());
        let _ = fs::remove_dir_all(&dir);
    }
}
