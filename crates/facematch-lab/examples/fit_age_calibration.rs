//! Can a small post-hoc map of dlib's age output lower the age error? Runs the served
//! pipeline (YuNet → dlib landmarks → age net) on the UTKFace dev crops, fits
//! low-capacity maps of the raw age r (dlib's probability-weighted class mean) and
//! measures each by repeated 5-fold cross-validation stratified by the 9 age bands.
//! It also reports the mean age each map gives on the LFW dev photos (adults in news
//! photos, no age labels) as a sanity check that adults are not pushed around.
//!
//! All maps are fitted by least absolute deviations (IRLS), because the goal is
//! stated as a mean absolute error.
//!
//! Run: `cargo run --release -p facematch-lab --example fit_age_calibration [-- ROOT [DUMP.tsv]]`
//! (ROOT defaults to `../shared/data/faces`; DUMP.tsv receives every image's 81 class
//! probabilities for further study).

use std::fmt::Write as _;

use facematch_core::pipeline::{sort_largest_first, FaceDetector};
use facematch_models::attributes::Attributes;
use facematch_models::lab::{
    dlib_age_probabilities, expected_age, load_attributes, load_detector, prepare_runtime,
};
use facematch_models::yunet::YunetDetector;
use facematch_models::{AgeModel, AgeNet, BundleOptions};

/// Upper bounds of the 9 age bands the dev crops were drawn from (the last is open).
const BAND_EDGES: [f64; 8] = [3.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0];
const FOLDS: usize = 5;
const REPEATS: u64 = 20;

/// One labelled image: true age (if any) and the age net's class probabilities.
struct Row {
    image: String,
    age: Option<f64>,
    probs: Vec<f32>,
}

impl Row {
    fn raw(&self) -> f64 {
        f64::from(expected_age(&self.probs))
    }
}

fn band(age: f64) -> usize {
    BAND_EDGES.iter().filter(|&&e| age >= e).count()
}

/// Runs the served age pipeline on every image of a label file (`image` column, and
/// `age` when present). Images without a face are skipped and counted.
fn collect(
    root: &str,
    labels: &str,
    detector: &YunetDetector,
    attributes: &Attributes,
) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(format!("{root}/{labels}"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| h.trim() == name);
    let image_col = col("image").ok_or_else(|| anyhow::anyhow!("{labels}: no image column"))?;
    let age_col = col("age");
    let AgeNet::Dlib(dlib_net) = attributes.age_net() else {
        anyhow::bail!("the attributes were not loaded with dlib's age net");
    };
    let dlib_net = dlib_net.as_ref();
    let mut rows = Vec::new();
    let mut faceless = 0;
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let Some(path) = f.get(image_col).filter(|s| !s.is_empty()) else {
            continue;
        };
        let img = image::open(format!("{root}/{path}"))?.to_rgb8();
        let mut faces = detector.detect(&img)?;
        sort_largest_first(&mut faces);
        let Some(face) = faces.first() else {
            faceless += 1;
            continue;
        };
        let points = attributes.landmarks(&img, face)?;
        rows.push(Row {
            image: (*path).to_string(),
            age: age_col
                .and_then(|i| f.get(i))
                .and_then(|s| s.trim().parse().ok()),
            probs: dlib_age_probabilities(dlib_net, &img, &points)?,
        });
    }
    eprintln!("{labels}: {} faces, {faceless} without a face", rows.len());
    Ok(rows)
}

/// A candidate map: its name, its basis functions of the raw age, and the output
/// transform (identity, or back from log(1 + age)).
struct Candidate {
    name: &'static str,
    basis: fn(f64) -> Vec<f64>,
    log_target: bool,
    monotone_knots: bool,
    /// Fit raw ≈ c0 + c1·age (the by-band "regression to the middle") and invert it:
    /// the naive de-biasing that stretches the output.
    inverse: bool,
}

/// Knots (raw years) of the piecewise-linear candidate: the ends of the net's range
/// and two inner points where the dev bands change behaviour; flat beyond the ends.
const KNOTS: [f64; 4] = [0.0, 25.0, 45.0, 80.0];

fn hat_basis(r: f64) -> Vec<f64> {
    let r = r.clamp(KNOTS[0], KNOTS[3]);
    let mut b = vec![0.0; KNOTS.len()];
    for j in 0..KNOTS.len() - 1 {
        if r >= KNOTS[j] && r <= KNOTS[j + 1] {
            let t = (r - KNOTS[j]) / (KNOTS[j + 1] - KNOTS[j]);
            b[j] = 1.0 - t;
            b[j + 1] = t;
            break;
        }
    }
    b
}

fn candidates() -> Vec<Candidate> {
    vec![
        Candidate {
            name: "(a) linear a + b*r",
            basis: |r| vec![1.0, r],
            log_target: false,
            monotone_knots: false,
            inverse: false,
        },
        Candidate {
            name: "(b) piecewise linear, knots 0/25/45/80",
            basis: hat_basis,
            log_target: false,
            monotone_knots: true,
            inverse: false,
        },
        Candidate {
            name: "(c) linear in log(1+age)",
            basis: |r| vec![1.0, r.ln_1p()],
            log_target: true,
            monotone_knots: false,
            inverse: false,
        },
        Candidate {
            name: "(d) inverse of raw = c0 + c1*age",
            basis: |a| vec![1.0, a],
            log_target: false,
            monotone_knots: false,
            inverse: true,
        },
    ]
}

/// Solves the p×p system `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let p = b.len();
    for c in 0..p {
        let piv = (c..p)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, piv);
        b.swap(c, piv);
        // A floor on the pivot keeps an empty knot segment from dividing by zero.
        let d = if a[c][c].abs() < 1e-12 {
            1e-12
        } else {
            a[c][c]
        };
        let pivot_row = a[c].clone();
        let pivot_b = b[c];
        for (row, bi) in a.iter_mut().zip(b.iter_mut()).skip(c + 1) {
            let f = row[c] / d;
            for (x, pv) in row[c..].iter_mut().zip(&pivot_row[c..]) {
                *x -= f * pv;
            }
            *bi -= f * pivot_b;
        }
    }
    let mut x = vec![0.0; p];
    for c in (0..p).rev() {
        let s: f64 = (c + 1..p).map(|k| a[c][k] * x[k]).sum();
        let d = if a[c][c].abs() < 1e-12 {
            1e-12
        } else {
            a[c][c]
        };
        x[c] = (b[c] - s) / d;
    }
    x
}

/// Least-absolute-deviation fit of y ≈ X·w by iteratively reweighted least squares
/// (weights 1 / max(|residual|, 0.5), so residuals under half a year count as L2).
fn lad_fit(x: &[Vec<f64>], y: &[f64]) -> Vec<f64> {
    let p = x.first().map_or(0, Vec::len);
    let mut w_obs = vec![1.0; y.len()];
    let mut coef = vec![0.0; p];
    for _ in 0..100 {
        let mut ata = vec![vec![1e-9; p]; p];
        let mut atb = vec![0.0; p];
        for ((row, &yi), &wi) in x.iter().zip(y).zip(&w_obs) {
            for i in 0..p {
                atb[i] += wi * row[i] * yi;
                for j in 0..p {
                    ata[i][j] += wi * row[i] * row[j];
                }
            }
        }
        coef = solve(ata, atb);
        for ((row, &yi), wi) in x.iter().zip(y).zip(w_obs.iter_mut()) {
            let pred: f64 = row.iter().zip(&coef).map(|(a, b)| a * b).sum();
            *wi = 1.0 / (yi - pred).abs().max(0.5);
        }
    }
    coef
}

/// A fitted map of the raw age.
struct Fitted<'a> {
    candidate: &'a Candidate,
    coef: Vec<f64>,
}

impl Fitted<'_> {
    fn fit<'a>(candidate: &'a Candidate, raw: &[f64], age: &[f64]) -> Fitted<'a> {
        if candidate.inverse {
            let x: Vec<Vec<f64>> = age.iter().map(|&a| (candidate.basis)(a)).collect();
            let coef = lad_fit(&x, raw);
            return Fitted { candidate, coef };
        }
        let x: Vec<Vec<f64>> = raw.iter().map(|&r| (candidate.basis)(r)).collect();
        let y: Vec<f64> = if candidate.log_target {
            age.iter().map(|a| a.ln_1p()).collect()
        } else {
            age.to_vec()
        };
        let mut coef = lad_fit(&x, &y);
        if candidate.monotone_knots {
            // Knot values must not decrease, or an older-looking face could be
            // reported younger.
            for i in 1..coef.len() {
                coef[i] = coef[i].max(coef[i - 1]);
            }
        }
        Fitted { candidate, coef }
    }

    fn apply(&self, r: f64) -> f64 {
        if self.candidate.inverse {
            let (c0, c1) = (self.coef[0], self.coef[1]);
            return ((r - c0) / c1).clamp(0.0, 100.0);
        }
        let v: f64 = (self.candidate.basis)(r)
            .iter()
            .zip(&self.coef)
            .map(|(a, b)| a * b)
            .sum();
        let v = if self.candidate.log_target {
            v.exp_m1()
        } else {
            v
        };
        v.clamp(0.0, 100.0)
    }
}

/// SplitMix64: a small deterministic generator, so the folds are reproducible
/// without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fold of each sample: within each band the samples are shuffled and dealt round
/// the folds from a random start, so every fold holds ~1/5 of every band.
fn stratified_folds(bands: &[usize], rng: &mut SplitMix) -> Vec<usize> {
    let mut fold = vec![0; bands.len()];
    for b in 0..=BAND_EDGES.len() {
        let mut idx: Vec<usize> = (0..bands.len()).filter(|&i| bands[i] == b).collect();
        for i in (1..idx.len()).rev() {
            idx.swap(i, rng.below(i + 1));
        }
        let start = rng.below(FOLDS);
        for (k, &i) in idx.iter().enumerate() {
            fold[i] = (start + k) % FOLDS;
        }
    }
    fold
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    (
        m,
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

fn mae(pred: impl Iterator<Item = f64>, age: &[f64]) -> f64 {
    pred.zip(age).map(|(p, a)| (p - a).abs()).sum::<f64>() / age.len() as f64
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let root = args.next().unwrap_or_else(|| "../shared/data/faces".into());
    let dump = args.next();
    // This study is about dlib's age net, which is not the default one.
    let options = BundleOptions {
        age_model: AgeModel::Dlib,
        ..BundleOptions::default()
    };
    prepare_runtime(&options, &mut |_| {})?;
    let detector = load_detector(&options)?;
    let attributes = load_attributes(&options)?;
    let utk = collect(&root, "utkface_dev_labels.tsv", &detector, &attributes)?;
    let lfw = collect(&root, "lfw_dev_gender.tsv", &detector, &attributes)?;
    if let Some(path) = dump {
        let mut out = String::from("set\timage\tage\traw\tprobs\n");
        for (set, rows) in [("utkface", &utk), ("lfw", &lfw)] {
            for r in rows {
                let probs: Vec<String> = r.probs.iter().map(|p| format!("{p:.6}")).collect();
                let age = r.age.map(|a| a.to_string()).unwrap_or_default();
                writeln!(
                    out,
                    "{set}\t{}\t{age}\t{:.4}\t{}",
                    r.image,
                    r.raw(),
                    probs.join(",")
                )?;
            }
        }
        std::fs::write(&path, out)?;
    }

    let labelled: Vec<&Row> = utk.iter().filter(|r| r.age.is_some()).collect();
    let raw: Vec<f64> = labelled.iter().map(|r| r.raw()).collect();
    let age: Vec<f64> = labelled.iter().filter_map(|r| r.age).collect();
    let bands: Vec<usize> = age.iter().map(|&a| band(a)).collect();
    let lfw_raw: Vec<f64> = lfw.iter().map(Row::raw).collect();
    let lfw_mean =
        |f: &dyn Fn(f64) -> f64| lfw_raw.iter().map(|&r| f(r)).sum::<f64>() / lfw_raw.len() as f64;

    println!(
        "UTKFace dev: {} labelled faces; {FOLDS}-fold CV x {REPEATS} repeats, stratified by {} age bands",
        age.len(),
        BAND_EDGES.len() + 1
    );
    println!(
        "{:<40} {:>16} {:>10} {:>10}",
        "map", "CV MAE", "in-sample", "LFW mean"
    );
    println!(
        "{:<40} {:>16} {:>10.2} {:>10.1}",
        "raw (dlib's decoding)",
        format!("{:.2}", mae(raw.iter().copied(), &age)),
        mae(raw.iter().copied(), &age),
        lfw_mean(&|r| r)
    );
    for c in &candidates() {
        let mut maes = Vec::new();
        for rep in 0..REPEATS {
            let mut rng = SplitMix(rep);
            let fold = stratified_folds(&bands, &mut rng);
            let mut err = 0.0;
            for k in 0..FOLDS {
                let (tr_r, tr_a): (Vec<f64>, Vec<f64>) = (0..age.len())
                    .filter(|&i| fold[i] != k)
                    .map(|i| (raw[i], age[i]))
                    .unzip();
                let f = Fitted::fit(c, &tr_r, &tr_a);
                err += (0..age.len())
                    .filter(|&i| fold[i] == k)
                    .map(|i| (f.apply(raw[i]) - age[i]).abs())
                    .sum::<f64>();
            }
            maes.push(err / age.len() as f64);
        }
        let (m, s) = mean_std(&maes);
        let full = Fitted::fit(c, &raw, &age);
        println!(
            "{:<40} {:>16} {:>10.2} {:>10.1}   coefficients {:.4?}",
            c.name,
            format!("{m:.2} ± {s:.2}"),
            mae(raw.iter().map(|&r| full.apply(r)), &age),
            lfw_mean(&|r| full.apply(r)),
            full.coef
        );
    }

    // The by-band view that suggested "regression to the middle": the mean prediction
    // given the true age, against the mean true age given the prediction.
    println!("\nby true-age band: n, mean true, mean raw, raw MAE");
    for b in 0..=BAND_EDGES.len() {
        let idx: Vec<usize> = (0..age.len()).filter(|&i| bands[i] == b).collect();
        let n = idx.len() as f64;
        println!(
            "  band {b}: {:>3} {:>6.1} {:>6.1} {:>6.2}",
            idx.len(),
            idx.iter().map(|&i| age[i]).sum::<f64>() / n,
            idx.iter().map(|&i| raw[i]).sum::<f64>() / n,
            idx.iter().map(|&i| (raw[i] - age[i]).abs()).sum::<f64>() / n
        );
    }
    Ok(())
}
