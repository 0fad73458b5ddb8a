//! `facematch plot` and `facematch eval --plot`: one SVG of three panels drawn from
//! `eval --json` results, with the `plotters` crate (SVG backend; text is SVG `<text>`,
//! no font files).
//!
//! 1. **DET curve**: false non-match rate against false match rate at every score
//!    threshold 0, 1, …, 100 (a pair is accepted when its score is at least the
//!    threshold; a pair without a score, a failure to acquire, is rejected at every
//!    threshold), both axes logarithmic, a rate of 0 drawn at 1/(n+1) for n pairs of
//!    its kind. One line per result, named by its bundle and pair-list file stem.
//! 2. **Score histograms** of the first result: the share of same-person and of
//!    different-person pairs in each 5-point score bin (a score of 100 counts in the
//!    95–100 bin), the decline threshold as a solid line and 50, 70 and 90 dashed.
//! 3. **Error rate by quality band** of the first result: FNMR and FMR bars per band,
//!    their 95 % confidence intervals as whiskers.
//!
//! A result must hold `bundle`, `threshold` (0–100) and `pairs_detail` with at least
//! one same-person and one different-person pair, each with `same` and `score` (0–100
//! or null); `pairs_file` and `quality_bands` are optional.

use std::path::{Path, PathBuf};

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;
use serde::Deserialize;

use crate::LabError;

/// Width of the SVG in pixels (three panels side by side).
pub const WIDTH: u32 = 1950;
/// Height of the SVG in pixels.
pub const HEIGHT: u32 = 620;
/// Score thresholds of the DET curve: 0, 1, …, 100.
const THRESHOLDS: std::ops::RangeInclusive<u32> = 0..=100;
/// Width of a histogram bin, in score points.
pub const BIN_WIDTH: u32 = 5;
/// The score levels marked dashed on the histogram (the README's table).
pub const MARKED_SCORES: [f64; 3] = [50.0, 70.0, 90.0];
/// Line colours of the DET curves, in the order of the results.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];
/// Font of every text.
const FONT: &str = "sans-serif";

/// The parts of an `eval --json` report the figure needs.
#[derive(Debug, Deserialize)]
struct ResultView {
    bundle: String,
    #[serde(default)]
    pairs_file: Option<PathBuf>,
    threshold: f64,
    pairs_detail: Vec<PairView>,
    #[serde(default)]
    quality_bands: Vec<BandView>,
}

/// One scored pair.
#[derive(Debug, Deserialize)]
struct PairView {
    same: bool,
    score: Option<f64>,
}

/// One quality band's error rates.
#[derive(Debug, Deserialize)]
struct BandView {
    #[serde(default)]
    label: Option<String>,
    lo: Option<f64>,
    hi: Option<f64>,
    fnmr: Option<f64>,
    fnmr_ci95: Option<[f64; 2]>,
    fmr: Option<f64>,
    fmr_ci95: Option<[f64; 2]>,
}

/// A checked result: its name, scores by kind and bands.
struct Result1 {
    label: String,
    threshold: f64,
    genuine: Vec<Option<f64>>,
    impostor: Vec<Option<f64>>,
    bands: Vec<BandView>,
}

/// Draws the figure of `results` (the first one's histogram and bands) into `out`.
pub fn plot_results(out: &Path, results: &[serde_json::Value]) -> Result<(), LabError> {
    let named: Vec<(String, &serde_json::Value)> = results
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("result {}", i + 1), v))
        .collect();
    write_svg(out, &render(&named)?)
}

/// Runs `facematch plot`: reads each `eval --json` file and draws them into `out`.
pub fn run(out: &Path, files: &[PathBuf]) -> Result<(), LabError> {
    let mut values = Vec::with_capacity(files.len());
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
            path: path.clone(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| LabError::ResultJson {
                path: path.clone(),
                source,
            })?;
        values.push((path.display().to_string(), value));
    }
    let named: Vec<(String, &serde_json::Value)> =
        values.iter().map(|(n, v)| (n.clone(), v)).collect();
    write_svg(out, &render(&named)?)?;
    println!("{}: {} result(s) drawn", out.display(), files.len());
    Ok(())
}

/// The SVG text of the figure of `results` (named for the error messages).
pub fn render_svg(results: &[serde_json::Value]) -> Result<String, LabError> {
    let named: Vec<(String, &serde_json::Value)> = results
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("result {}", i + 1), v))
        .collect();
    render(&named)
}

/// Writes the SVG text.
fn write_svg(out: &Path, svg: &str) -> Result<(), LabError> {
    std::fs::write(out, svg).map_err(|source| LabError::Write {
        path: out.to_path_buf(),
        source,
    })
}

/// Checks each result, then draws the three panels.
fn render(results: &[(String, &serde_json::Value)]) -> Result<String, LabError> {
    let checked = results
        .iter()
        .map(|(name, v)| check(name, v))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = checked.first() else {
        return Err(LabError::NotAResult {
            name: "the plot".into(),
            reason: "no result given".into(),
        });
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(figure)?;
        let panels = root.split_evenly((1, 3));
        draw_det(&panels[0], &checked)?;
        draw_histograms(&panels[1], first)?;
        draw_bands(&panels[2], first)?;
        root.present().map_err(figure)?;
    }
    Ok(svg)
}

/// A drawing error, kept as the figure's source.
fn figure<E: std::error::Error + Send + Sync + 'static>(e: E) -> LabError {
    LabError::Figure(Box::new(e))
}

/// Reads and checks one result.
fn check(name: &str, value: &serde_json::Value) -> Result<Result1, LabError> {
    let bad = |reason: String| LabError::NotAResult {
        name: name.to_string(),
        reason,
    };
    let view = ResultView::deserialize(value).map_err(|e| bad(e.to_string()))?;
    if !(0.0..=100.0).contains(&view.threshold) {
        return Err(bad(format!(
            "threshold {} is outside 0–100",
            view.threshold
        )));
    }
    if let Some(s) = view
        .pairs_detail
        .iter()
        .filter_map(|p| p.score)
        .find(|s| !(0.0..=100.0).contains(s))
    {
        return Err(bad(format!("score {s} is outside 0–100")));
    }
    let scores = |same: bool| -> Vec<Option<f64>> {
        view.pairs_detail
            .iter()
            .filter(|p| p.same == same)
            .map(|p| p.score)
            .collect()
    };
    let (genuine, impostor) = (scores(true), scores(false));
    if genuine.is_empty() || impostor.is_empty() {
        return Err(bad(format!(
            "needs same-person and different-person pairs ({} and {})",
            genuine.len(),
            impostor.len()
        )));
    }
    let stem = view
        .pairs_file
        .as_deref()
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned());
    // The bundle's name, without its description in brackets.
    let bundle = view.bundle.split(" (").next().unwrap_or_default().trim();
    let label = match stem {
        Some(stem) => format!("{bundle} · {stem}"),
        None => bundle.to_string(),
    };
    Ok(Result1 {
        label,
        threshold: view.threshold,
        genuine,
        impostor,
        bands: view.quality_bands,
    })
}

/// The DET points (FMR, FNMR) at every threshold, zeros clipped to 1/(n+1).
fn det_points(r: &Result1) -> Vec<(f64, f64)> {
    let accepted = |s: &Option<f64>, t: f64| s.is_some_and(|s| s >= t);
    let rate = |count: usize, n: usize| (count as f64 / n as f64).max(1.0 / (n as f64 + 1.0));
    THRESHOLDS
        .map(|t| {
            let t = f64::from(t);
            let false_non_matches = r.genuine.iter().filter(|s| !accepted(s, t)).count();
            let false_matches = r.impostor.iter().filter(|s| accepted(s, t)).count();
            (
                rate(false_matches, r.impostor.len()),
                rate(false_non_matches, r.genuine.len()),
            )
        })
        .collect()
}

/// A rate as a percentage with as many decimals as its order of magnitude needs
/// (`0.001` → `0.1%`, `0.5` → `50%`).
fn percent(rate: f64) -> String {
    let p = 100.0 * rate;
    let decimals = if p > 0.0 {
        (-p.log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        0
    };
    format!("{p:.decimals$}%")
}

/// The power of ten at or below `v` (the log axes' lower end).
fn decade_below(v: f64) -> f64 {
    10f64.powf(v.log10().floor())
}

/// Panel 1: the DET curves of every result.
fn draw_det<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    results: &[Result1],
) -> Result<(), LabError>
where
    DB::ErrorType: 'static,
{
    let curves: Vec<Vec<(f64, f64)>> = results.iter().map(det_points).collect();
    let min = |f: fn(&(f64, f64)) -> f64| {
        decade_below(curves.iter().flatten().map(f).fold(1.0, f64::min))
    };
    let (x_min, y_min) = (min(|p| p.0), min(|p| p.1));
    let mut chart = ChartBuilder::on(area)
        .caption("DET curve (thresholds 0–100)", (FONT, 24))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((x_min..1.0).log_scale(), (y_min..1.0).log_scale())
        .map_err(figure)?;
    chart
        .configure_mesh()
        .x_desc("false match rate (FMR)")
        .y_desc("false non-match rate (FNMR)")
        .x_label_formatter(&|v| percent(*v))
        .y_label_formatter(&|v| percent(*v))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(figure)?;
    for (i, (r, points)) in results.iter().zip(curves).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(figure)?
            .label(r.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(figure)?;
    Ok(())
}

/// Share (%) of `scores` in each 5-point bin; pairs without a score are left out.
fn bin_shares(scores: &[Option<f64>]) -> Vec<f64> {
    let bins = (100 / BIN_WIDTH) as usize;
    let mut counts = vec![0usize; bins];
    for s in scores.iter().flatten() {
        let bin = ((s / f64::from(BIN_WIDTH)).floor() as usize).min(bins - 1);
        counts[bin] += 1;
    }
    counts
        .into_iter()
        .map(|c| 100.0 * c as f64 / scores.len() as f64)
        .collect()
}

/// Panel 2: the score histograms of the first result, with the thresholds marked.
fn draw_histograms<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    r: &Result1,
) -> Result<(), LabError>
where
    DB::ErrorType: 'static,
{
    let genuine = bin_shares(&r.genuine);
    let impostor = bin_shares(&r.impostor);
    // Head room above the tallest bar for the legend, then the thresholds' labels.
    let tallest = genuine
        .iter()
        .chain(&impostor)
        .fold(1.0f64, |a, &b| a.max(b));
    let top = tallest * 1.5;
    let label_y = tallest * 1.08;
    let unscored = |v: &[Option<f64>]| v.iter().filter(|s| s.is_none()).count();
    let mut chart = ChartBuilder::on(area)
        .caption(format!("Scores: {}", r.label), (FONT, 24))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..100f64, 0f64..top)
        .map_err(figure)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("score")
        .y_desc("share of pairs of the kind (%)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(figure)?;
    let series = [
        (
            &genuine,
            COLOURS[0],
            format!(
                "same person (n={}, {} unscored)",
                r.genuine.len(),
                unscored(&r.genuine)
            ),
        ),
        (
            &impostor,
            COLOURS[1],
            format!(
                "different people (n={}, {} unscored)",
                r.impostor.len(),
                unscored(&r.impostor)
            ),
        ),
    ];
    for (shares, colour, label) in series {
        let style = colour.mix(0.45).filled();
        chart
            .draw_series(shares.iter().enumerate().map(|(i, &share)| {
                let x0 = f64::from(BIN_WIDTH) * i as f64;
                Rectangle::new([(x0, 0.0), (x0 + f64::from(BIN_WIDTH), share)], style)
            }))
            .map_err(figure)?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], style));
    }
    for v in MARKED_SCORES {
        chart
            .draw_series(DashedLineSeries::new(
                [(v, 0.0), (v, top)],
                6,
                4,
                RGBColor(110, 110, 110).stroke_width(1),
            ))
            .map_err(figure)?;
        chart
            .draw_series([Text::new(format!("{v:.0}"), (v + 0.8, label_y), (FONT, 14))])
            .map_err(figure)?;
    }
    chart
        .draw_series(LineSeries::new(
            [(r.threshold, 0.0), (r.threshold, top)],
            BLACK.stroke_width(2),
        ))
        .map_err(figure)?
        .label(format!("decline threshold {}", r.threshold))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    chart
        .draw_series([Text::new(
            format!("decline {}", r.threshold),
            (r.threshold + 0.8, label_y * 0.93),
            (FONT, 14),
        )])
        .map_err(figure)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(figure)?;
    Ok(())
}

/// A band's own label (`[lo,hi)`, `no face`, …), else `lo–hi`.
fn band_label(b: &BandView) -> String {
    if let Some(label) = &b.label {
        return label.clone();
    }
    let end = |v: Option<f64>| v.map_or("?".to_string(), |v| format!("{v}"));
    format!("{}–{}", end(b.lo), end(b.hi))
}

/// Panel 3: FNMR and FMR by quality band of the first result, 95 % CIs as whiskers.
fn draw_bands<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    r: &Result1,
) -> Result<(), LabError>
where
    DB::ErrorType: 'static,
{
    let n = r.bands.len();
    let highest = r
        .bands
        .iter()
        .flat_map(|b| {
            [b.fnmr, b.fmr]
                .into_iter()
                .flatten()
                .chain(b.fnmr_ci95.map(|c| c[1]))
                .chain(b.fmr_ci95.map(|c| c[1]))
        })
        .fold(0.01f64, f64::max);
    let top = 100.0 * highest * 1.15;
    let labels: Vec<String> = r.bands.iter().map(band_label).collect();
    // x in hundredths of a band (integer: plotters formats integer axes' labels),
    // band i spanning [100 i, 100 i + 100), its label at the centre.
    let centres: Vec<i32> = (0..n as i32).map(|i| 100 * i + 50).collect();
    let mut chart = ChartBuilder::on(area)
        .caption("Error rate by quality band", (FONT, 24))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (0i32..100 * n.max(1) as i32).with_key_points(centres),
            0f64..top,
        )
        .map_err(figure)?;
    let label_of = |x: &i32| {
        usize::try_from(x / 100)
            .ok()
            .and_then(|i| labels.get(i).cloned())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("face quality band (lower face of the pair)")
        .y_desc("error rate (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_label_formatter(&label_of)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .draw()
        .map_err(figure)?;
    if n == 0 {
        chart
            .draw_series([Text::new(
                "no quality bands in this result".to_string(),
                (10, top * 0.5),
                (FONT, 18),
            )])
            .map_err(figure)?;
        return Ok(());
    }
    let kinds = [("FNMR", COLOURS[4], 10), ("FMR", COLOURS[3], 52)];
    for (name, colour, offset) in kinds {
        let of = |b: &BandView| {
            if name == "FNMR" {
                (b.fnmr, b.fnmr_ci95)
            } else {
                (b.fmr, b.fmr_ci95)
            }
        };
        let bars = r.bands.iter().enumerate().filter_map(|(i, b)| {
            let x0 = 100 * i as i32 + offset;
            of(b).0.map(|rate| {
                Rectangle::new(
                    [(x0, 0.0), (x0 + 38, 100.0 * rate)],
                    colour.mix(0.8).filled(),
                )
            })
        });
        chart
            .draw_series(bars)
            .map_err(figure)?
            .label(format!("{name} (95 % CI)"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.mix(0.8).filled())
            });
        let whiskers = r.bands.iter().enumerate().filter_map(|(i, b)| {
            let x = 100 * i as i32 + offset + 19;
            let (rate, ci) = of(b);
            rate.and(ci).map(|[lo, hi]| {
                let (lo, hi) = (100.0 * lo, 100.0 * hi);
                PathElement::new(
                    vec![
                        (x - 6, lo),
                        (x + 6, lo),
                        (x, lo),
                        (x, hi),
                        (x - 6, hi),
                        (x + 6, hi),
                    ],
                    BLACK.stroke_width(1),
                )
            })
        });
        chart.draw_series(whiskers).map_err(figure)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(figure)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A synthetic result: same-person scores high, different-person scores low, one
    /// failure to acquire, two quality bands.
    fn result(bundle: &str, shift: f64) -> serde_json::Value {
        let mut pairs = Vec::new();
        for i in 0..40 {
            pairs.push(json!({"left": "a", "right": "b", "same": true,
                "score": (55.0 + i as f64 + shift).min(100.0)}));
            pairs.push(json!({"left": "c", "right": "d", "same": false,
                "score": (i as f64 * 1.2 - shift).max(0.0)}));
        }
        pairs.push(json!({"left": "e", "right": "f", "same": true, "score": null}));
        json!({
            "bundle": format!("{bundle} (a description)"),
            "pairs_file": "../shared/data/faces/pairs_lfw_dev.tsv",
            "threshold": 30.0,
            "pairs_detail": pairs,
            "quality_bands": [
                {"lo": 0, "hi": 50, "genuine": 10, "false_non_matches": 2, "fnmr": 0.2,
                 "fnmr_ci95": [0.05, 0.5], "impostors": 10, "false_matches": 1, "fmr": 0.1,
                 "fmr_ci95": [0.02, 0.4]},
                {"lo": 50, "hi": 100, "genuine": 31, "false_non_matches": 0, "fnmr": 0.0,
                 "fnmr_ci95": [0.0, 0.11], "impostors": 30, "false_matches": 0, "fmr": 0.0,
                 "fmr_ci95": [0.0, 0.11]},
                {"label": "no face", "lo": null, "hi": null, "genuine": 1,
                 "false_non_matches": 1, "fnmr": 1.0, "fnmr_ci95": [0.2, 1.0],
                 "impostors": 0, "false_matches": 0, "fmr": null, "fmr_ci95": null}
            ]
        })
    }

    fn polylines(svg: &str) -> usize {
        svg.matches("<polyline").count()
    }

    #[test]
    fn one_result_draws_three_labelled_panels() {
        let svg = render_svg(&[result("default", 0.0)]).expect("drawn");
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "DET curve",
            "false match rate (FMR)",
            "false non-match rate (FNMR)",
            "share of pairs of the kind (%)",
            "error rate (%)",
            "default · pairs_lfw_dev",
            "decline 30",
            "same person (n=41, 1 unscored)",
            "0–50",
            "50–100",
            "no face",
        ] {
            assert!(svg.contains(text), "no `{text}` in the SVG");
        }
        assert!(
            svg.contains("stroke=\"#1F77B4\" stroke-width=\"2\""),
            "the first DET line is blue"
        );
    }

    #[test]
    fn two_results_draw_two_det_lines() {
        let one = render_svg(&[result("default", 0.0)]).expect("drawn");
        let two = render_svg(&[result("default", 0.0), result("buffalo_s", 5.0)]).expect("drawn");
        // The second result adds its DET line and its legend swatch, nothing else:
        // the histograms and bands are the first result's.
        assert_eq!(polylines(&two), polylines(&one) + 2);
        assert!(two.contains("buffalo_s · pairs_lfw_dev"));
        assert!(!one.contains("stroke=\"#D62728\" stroke-width=\"2\""));
        assert!(two.contains("stroke=\"#D62728\" stroke-width=\"2\""));
    }

    #[test]
    fn det_rates_count_unscored_pairs_as_rejected_and_clip_zeros() {
        let r = check("r", &result("default", 0.0)).expect("checked");
        let points = det_points(&r);
        assert_eq!(points.len(), 101);
        // Threshold 0: every scored pair accepted; the unscored one is a false non-match.
        assert_eq!(points[0], (1.0, 1.0 / 41.0));
        // Threshold 100: nothing accepted; FMR 0 is drawn at 1/(40+1).
        assert_eq!(points[100], (1.0 / 41.0, 1.0));
    }

    #[test]
    fn rates_print_as_percentages() {
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.1), "10%");
        assert_eq!(percent(0.001), "0.1%");
        assert_eq!(percent(1e-4), "0.01%");
        assert_eq!(percent(0.0), "0%");
    }

    #[test]
    fn histogram_bins_are_five_points_wide() {
        let shares = bin_shares(&[Some(0.0), Some(4.9), Some(5.0), Some(100.0), None]);
        assert_eq!(shares.len(), 20);
        assert_eq!(shares[0], 40.0);
        assert_eq!(shares[1], 20.0);
        assert_eq!(shares[19], 20.0);
    }

    #[test]
    fn a_result_without_bands_still_draws() {
        let mut r = result("default", 0.0);
        r.as_object_mut().expect("object").remove("quality_bands");
        let svg = render_svg(&[r]).expect("drawn");
        assert!(svg.contains("no quality bands in this result"));
    }

    #[test]
    fn garbage_is_a_clear_input_error() {
        let cases = [
            (json!({}), "missing field"),
            (json!([1, 2]), "result 1"),
            (json!("text"), "result 1"),
            (
                json!({"bundle": "b", "threshold": 30, "pairs_detail": []}),
                "needs same-person and different-person pairs (0 and 0)",
            ),
            (
                json!({"bundle": "b", "threshold": 30, "pairs_detail": [
                    {"same": true, "score": 150}, {"same": false, "score": 1}]}),
                "score 150 is outside 0–100",
            ),
            (
                json!({"bundle": "b", "threshold": -3, "pairs_detail": []}),
                "threshold -3 is outside 0–100",
            ),
        ];
        for (value, message) in cases {
            let err = render_svg(&[value]).expect_err("not a result");
            assert!(err.is_input(), "{err}");
            assert!(err.to_string().contains(message), "{err}");
        }
        let err = render_svg(&[]).expect_err("nothing");
        assert!(err.to_string().contains("no result given"), "{err}");
    }

    #[test]
    fn files_are_read_parsed_and_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good.json");
        std::fs::write(&good, result("default", 0.0).to_string()).expect("write");
        let out = dir.path().join("fig.svg");
        run(&out, std::slice::from_ref(&good)).expect("drawn");
        let svg = std::fs::read_to_string(&out).expect("svg");
        assert!(svg.starts_with("<svg"));

        let garbage = dir.path().join("garbage.json");
        std::fs::write(&garbage, "{not json").expect("write");
        let err = run(&out, &[good.clone(), garbage.clone()]).expect_err("garbage");
        assert!(
            matches!(err, LabError::ResultJson { .. }) && err.is_input(),
            "{err}"
        );
        assert!(
            err.to_string().contains("garbage.json is not JSON"),
            "{err}"
        );

        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "{}").expect("write");
        let err = run(&out, &[empty]).expect_err("empty");
        assert!(
            err.to_string()
                .contains("empty.json is not an `eval --json` result"),
            "{err}"
        );

        let missing = dir.path().join("missing.json");
        let err = run(&out, &[missing]).expect_err("missing");
        assert!(matches!(err, LabError::Read { .. }), "{err}");
    }
}
