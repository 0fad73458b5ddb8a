//! The server's memory settings for glibc's allocator.
//!
//! Measured on `facematch serve` under load (docs/benchmarks.md, "Memory"): with glibc's
//! defaults its resident memory grew from ~200 MB idle to ~300–330 MB, and never came
//! back. Two defaults cause it. Freeing a large block (a 22 MB model file read at start)
//! raises glibc's mmap threshold to that size, so every later image buffer (3 MB for a
//! 1 MP photo) comes from the heap arenas, one per busy thread, and stays there when
//! freed; and the buffers freed after loading the models are kept too.
//! [`tune_for_server`] pins the threshold (blocks of 1 MiB or more get their own
//! mapping, returned to the system when freed) and [`trim`] hands free memory back
//! after the models are loaded: ~120 MB idle, ~190 MB at the peak of the load run.
//! The price is a page fault per page of each such block (~5 % of throughput, measured;
//! a 4 MiB threshold kept throughput but peaked at 210–240 MB, and capping the arenas
//! at two cost throughput and saved nothing more).
//!
//! This crate is the workspace's only `unsafe` code: two calls into the C library with
//! integer arguments, which have no memory-safety preconditions. Elsewhere (musl,
//! macOS) both functions do nothing.

/// Blocks this large or larger are mapped on their own (`M_MMAP_THRESHOLD`).
pub const MMAP_THRESHOLD: usize = 1 << 20;

/// Sets glibc's mmap threshold for a long-running server. Call it first thing, before
/// other threads exist. `false` when the C library refused it (or is not glibc).
pub fn tune_for_server() -> bool {
    imp::tune(MMAP_THRESHOLD)
}

/// Returns free heap memory to the system (`malloc_trim(0)`); `true` when some was.
pub fn trim() -> bool {
    imp::trim()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod imp {
    pub(crate) fn tune(threshold: usize) -> bool {
        let Ok(threshold) = i32::try_from(threshold) else {
            return false;
        };
        // SAFETY: mallopt takes two integers and only changes allocator parameters; it
        // is safe to call at any time (glibc serialises it with allocations).
        let set = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) };
        set == 1
    }

    pub(crate) fn trim() -> bool {
        // SAFETY: malloc_trim takes an integer (the padding to keep) and only returns
        // free pages to the system; no pointer is involved.
        unsafe { libc::malloc_trim(0) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(crate) fn tune(_threshold: usize) -> bool {
        false
    }

    pub(crate) fn trim() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resident memory of this process, from /proc (kB).
    fn vm_rss_kb() -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_settings_and_trim_returns_freed_heap() {
        assert!(tune_for_server());
        // 64 MB in 512 KB blocks (below the threshold: heap memory), touched, then
        // all but the last freed: the heap keeps them until trimmed.
        let mut blocks: Vec<Vec<u8>> = (0..128).map(|_| vec![1u8; 512 * 1024]).collect();
        let keep = blocks.pop();
        let before = vm_rss_kb();
        drop(blocks);
        assert!(trim(), "malloc_trim found nothing to return");
        let after = vm_rss_kb();
        assert!(
            after + 32 * 1024 < before,
            "RSS {before} kB → {after} kB after freeing 63.5 MB and trimming"
        );
        drop(keep);
    }
}
