//! The decompression bomb must be refused without allocating its 900 MB. Alone in its
//! own test binary so that no other test's allocations disturb the measurement.

#![allow(clippy::unwrap_used)] // tests may unwrap: a panic is a test failure

/// Peak virtual memory of this process in KiB (`VmPeak`), Linux only. Large
/// allocations are `mmap`ed and count here even if never touched.
#[cfg(target_os = "linux")]
fn vm_peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmPeak:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn bomb_is_refused_without_a_large_allocation() {
    use facematch_imageio::{decode, DecodeLimits};
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/faces/fixtures/bomb_30000x30000.png");
    let bytes = std::fs::read(path).unwrap();
    let before = vm_peak_kib();
    let err = decode(&bytes, &DecodeLimits::default()).unwrap_err();
    let grown_mib = (vm_peak_kib() - before) / 1024;
    assert_eq!(err.code(), "image_too_large");
    // The decoded bomb would be ~858 MiB; header-only refusal needs a few MiB at most.
    assert!(
        grown_mib < 64,
        "peak virtual memory grew by {grown_mib} MiB"
    );
}
