//! `facematch degrade`, `facematch plot` and `facematch eval --plot` end to end on the
//! fixture photos and pair list (small, so fast).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::faces;

/// Runs `facematch` with `args`.
fn facematch(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facematch"))
        .args(args)
        .output()
        .expect("the facematch binary runs")
}

fn os(s: &(impl AsRef<std::ffi::OsStr> + ?Sized)) -> &std::ffi::OsStr {
    s.as_ref()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Width and height from a PNG's IHDR chunk.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).expect("the PNG");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

#[test]
fn degrade_writes_upright_copies_and_absolute_pair_lists() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out_dir = dir.path().join("degraded");
    let pairs = faces("pairs_fixtures.tsv");
    let root = faces("");
    let out = facematch(&[
        os("degrade"),
        os("--root"),
        os(&root),
        os("--pairs"),
        os(&pairs),
        os("--out"),
        os(&out_dir),
        os("--kinds"),
        os("dark,small"),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let list = std::fs::read_to_string(out_dir.join("pairs_small.tsv")).expect("list");
    let original = std::fs::read_to_string(&pairs).expect("pairs");
    assert_eq!(
        list.lines().count(),
        original.lines().filter(|l| !l.trim().is_empty()).count()
    );
    for line in list.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert!(
            Path::new(f[0]).is_absolute() && Path::new(f[1]).is_absolute(),
            "{line}"
        );
        assert!(
            Path::new(f[0]).is_file() && Path::new(f[1]).is_file(),
            "{line}"
        );
    }
    assert!(
        !out_dir.join("pairs_blur.tsv").exists(),
        "only the kinds asked for"
    );
    let all = std::fs::read_to_string(out_dir.join("pairs_all.tsv")).expect("all");
    assert_eq!(all.lines().count(), 2 * list.lines().count());

    // The EXIF-rotated hopper is turned upright before it is degraded: its copy has
    // the upright photo's shape, not the stored (sideways) one.
    // one_face_hopper.jpg is 512 × 600; its EXIF-6 copy is stored 600 × 512.
    let copy = out_dir
        .join("dark")
        .join("fixtures/one_face_hopper_exif_orientation_6.png");
    assert_eq!(png_size(&copy), (512, 600));

    let bad = facematch(&[
        os("degrade"),
        os("--pairs"),
        os(&pairs),
        os("--out"),
        os(&out_dir),
        os("--kinds"),
        os("fog"),
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("unknown kind `fog`"), "{}", text(&bad));
}

#[test]
fn eval_plot_and_plot_draw_the_same_figure() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let json = dir.path().join("eval.json");
    let from_eval = dir.path().join("eval.svg");
    let eval = facematch(&[
        os("eval"),
        os(&faces("pairs_fixtures.tsv")),
        os("--root"),
        os(&faces("")),
        os("--json"),
        os(&json),
        os("--plot"),
        os(&from_eval),
    ]);
    assert!(eval.status.success(), "{}", text(&eval));
    let svg = std::fs::read_to_string(&from_eval).expect("eval's figure");
    assert!(svg.starts_with("<svg"));
    for label in [
        "DET curve",
        "false match rate (FMR)",
        "error rate (%)",
        "decline 30",
    ] {
        assert!(svg.contains(label), "no `{label}`");
    }

    let from_plot = dir.path().join("plot.svg");
    let plot = facematch(&[
        os("plot"),
        os("--out"),
        os(&from_plot),
        os(&json),
        os(&json),
    ]);
    assert!(plot.status.success(), "{}", text(&plot));
    let twice = std::fs::read_to_string(&from_plot).expect("plot's figure");
    // The same result twice: one more DET line and its legend swatch.
    assert_eq!(
        twice.matches("<polyline").count(),
        svg.matches("<polyline").count() + 2
    );

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "[1, 2").expect("write");
    let bad = facematch(&[os("plot"), os("--out"), os(&from_plot), os(&garbage)]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("garbage.json is not JSON"),
        "{}",
        text(&bad)
    );
    let none = facematch(&[os("plot"), os("--out"), os(&from_plot)]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
}
