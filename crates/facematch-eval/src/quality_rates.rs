//! Error rates against face quality: by band of the pair's quality (the lower of its
//! two compared faces' 0–100 `quality`), and what a minimum quality (a
//! `quality_filter` level) removes — the errors it takes away against the photos and
//! pairs it rejects. Both at one decision threshold; see [`crate::rates`] for how a
//! pair is accepted.

use serde::Serialize;

use crate::rates::{share, wilson_ci95, ErrorCounts, PairOutcome};

/// The band edges: [0,20) [20,40) [40,60) [60,80) [80,100].
pub const BAND_EDGES: [f64; 6] = [0.0, 20.0, 40.0, 60.0, 80.0, 100.0];

/// The label of the row of pairs with a failure to acquire (no face on a side).
pub const NO_FACE: &str = "no face";

/// The label of the row of compared pairs whose quality was not measured.
pub const UNKNOWN_QUALITY: &str = "quality unknown";

/// The error counts of one quality band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityBand {
    /// Lowest pair quality in the band (inclusive); `None` for the "no face" row.
    pub lo: Option<f64>,
    /// Highest pair quality (exclusive, but 100 is in the last band); `None` for the
    /// "no face" row.
    pub hi: Option<f64>,
    /// `[lo,hi)`, `no face` or `quality unknown`.
    pub label: String,
    /// The counts and rates of the band's pairs.
    #[serde(flatten)]
    pub counts: ErrorCounts,
}

/// The band index (0–4) of a pair quality; below 0 joins the first, 100 and above
/// the last.
fn band_of(quality: f64) -> usize {
    BAND_EDGES[1..BAND_EDGES.len() - 1]
        .iter()
        .take_while(|&&edge| quality >= edge)
        .count()
}

/// The error counts at `threshold` of the pairs in each quality band, then a
/// "no face" row (failures to acquire) and, only when there are any, a "quality
/// unknown" row (compared pairs without a measured quality).
pub fn quality_bands(pairs: &[PairOutcome], threshold: f64) -> Vec<QualityBand> {
    let bands = BAND_EDGES.len() - 1;
    let mut members: Vec<Vec<&PairOutcome>> = vec![Vec::new(); bands];
    let (mut faceless, mut unknown) = (Vec::new(), Vec::new());
    for p in pairs {
        match (p.score, p.pair_quality()) {
            (None, _) => faceless.push(p),
            (Some(_), None) => unknown.push(p),
            (Some(_), Some(q)) => members[band_of(q)].push(p),
        }
    }
    let mut rows: Vec<QualityBand> = members
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let (lo, hi) = (BAND_EDGES[i], BAND_EDGES[i + 1]);
            QualityBand {
                lo: Some(lo),
                hi: Some(hi),
                label: if i + 1 == bands {
                    format!("[{lo},{hi}]")
                } else {
                    format!("[{lo},{hi})")
                },
                counts: ErrorCounts::at(m, threshold),
            }
        })
        .collect();
    rows.push(QualityBand {
        lo: None,
        hi: None,
        label: NO_FACE.into(),
        counts: ErrorCounts::at(faceless, threshold),
    });
    if !unknown.is_empty() {
        rows.push(QualityBand {
            lo: None,
            hi: None,
            label: UNKNOWN_QUALITY.into(),
            counts: ErrorCounts::at(unknown, threshold),
        });
    }
    rows
}

/// What one minimum quality does at a threshold. A photo whose compared face is below
/// the minimum is rejected, and a pair with a rejected photo is declined (as the API
/// declines it): a rejected genuine pair is a false non-match of the system, a
/// rejected impostor pair a correct rejection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityLevel {
    /// The level's name (`NONE`, `AUTO`, `LOW`, …).
    pub level: String,
    /// The lowest quality a face may have to be compared; `None`: no filter.
    pub min_quality: Option<f64>,
    /// Photos in the set (each counted once).
    pub photos: usize,
    /// Photos with a face below `min_quality`.
    pub photos_rejected: usize,
    /// Compared pairs (both faces found) with a rejected photo.
    pub pairs_rejected: usize,
    /// Errors at the threshold without the filter.
    pub errors_before: usize,
    /// Errors at the threshold with the filter, rejected genuine pairs counted as
    /// errors (the system's view).
    pub errors_after: usize,
    /// `(errors_before − errors_after) / errors_before`; negative when the filter
    /// adds more false non-matches than it removes errors; `None` without errors.
    pub errors_removed_share: Option<f64>,
    /// Genuine pairs compared and kept (neither photo rejected).
    pub genuine_kept: usize,
    /// False non-match rate on the kept genuine pairs.
    pub fnmr_kept: Option<f64>,
    /// Wilson 95% interval of `fnmr_kept`.
    pub fnmr_kept_ci95: Option<[f64; 2]>,
    /// Impostor pairs compared and kept.
    pub impostors_kept: usize,
    /// False match rate on the kept impostor pairs.
    pub fmr_kept: Option<f64>,
    /// Wilson 95% interval of `fmr_kept`.
    pub fmr_kept_ci95: Option<[f64; 2]>,
    /// Errors among the compared pairs (both faces found) without the filter.
    pub compared_errors_before: usize,
    /// Errors among the compared pairs the filter keeps: the errors the score still
    /// makes once the rejected photos are asked to be taken again.
    pub compared_errors_after: usize,
    /// `1 − compared_errors_after / compared_errors_before`: the share of the score's
    /// errors the level removes; `None` without errors.
    pub compared_errors_removed_share: Option<f64>,
    /// Error rate (false matches and non-matches) of the compared pairs without the
    /// filter.
    pub compared_error_rate_before: Option<f64>,
    /// Error rate of the compared pairs the filter keeps.
    pub compared_error_rate_after: Option<f64>,
}

/// Whether a face of quality `quality` is rejected at `min_quality` (an unmeasured
/// face is not: nothing says it is poor).
fn rejected(quality: Option<f64>, min_quality: Option<f64>) -> bool {
    matches!((quality, min_quality), (Some(q), Some(m)) if q < m)
}

/// The effect of `min_quality` (named `level`) at `threshold` on `pairs`, whose
/// photos' compared-face qualities are `photo_qualities` (one per distinct photo;
/// `None` where there is no face).
pub fn quality_level(
    level: &str,
    min_quality: Option<f64>,
    photo_qualities: &[Option<f64>],
    pairs: &[PairOutcome],
    threshold: f64,
) -> QualityLevel {
    let photos_rejected = photo_qualities
        .iter()
        .filter(|&&q| rejected(q, min_quality))
        .count();
    let (mut pairs_rejected, mut errors_before, mut errors_after) = (0, 0, 0);
    let (mut genuine_kept, mut fnm_kept, mut impostors_kept, mut fm_kept) = (0, 0, 0, 0);
    let (mut compared, mut compared_errors_before) = (0, 0);
    for p in pairs {
        let error = p.is_error_at(threshold);
        errors_before += usize::from(error);
        let filtered = p.quality.iter().any(|&q| rejected(q, min_quality));
        if filtered {
            // Declined: an error exactly when the pair is genuine.
            errors_after += usize::from(p.genuine);
        } else {
            errors_after += usize::from(error);
        }
        if p.score.is_none() {
            continue;
        }
        compared += 1;
        compared_errors_before += usize::from(error);
        if filtered {
            pairs_rejected += 1;
        } else if p.genuine {
            genuine_kept += 1;
            fnm_kept += usize::from(error);
        } else {
            impostors_kept += 1;
            fm_kept += usize::from(error);
        }
    }
    let errors_removed_share = (errors_before > 0)
        .then(|| (errors_before as f64 - errors_after as f64) / errors_before as f64);
    let compared_errors_after = fnm_kept + fm_kept;
    let compared_errors_removed_share = (compared_errors_before > 0)
        .then(|| 1.0 - compared_errors_after as f64 / compared_errors_before as f64);
    QualityLevel {
        compared_errors_before,
        compared_errors_after,
        compared_errors_removed_share,
        compared_error_rate_before: share(compared_errors_before, compared),
        compared_error_rate_after: share(compared_errors_after, genuine_kept + impostors_kept),
        level: level.to_string(),
        min_quality,
        photos: photo_qualities.len(),
        photos_rejected,
        pairs_rejected,
        errors_before,
        errors_after,
        errors_removed_share,
        genuine_kept,
        fnmr_kept: share(fnm_kept, genuine_kept),
        fnmr_kept_ci95: wilson_ci95(fnm_kept, genuine_kept),
        impostors_kept,
        fmr_kept: share(fm_kept, impostors_kept),
        fmr_kept_ci95: wilson_ci95(fm_kept, impostors_kept),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(genuine: bool, score: Option<f64>, l: f64, r: f64) -> PairOutcome {
        PairOutcome {
            genuine,
            score,
            quality: [Some(l), Some(r)],
        }
    }

    /// Eight pairs at threshold 50: three errors (a low-quality false non-match, a
    /// low-quality false match, a good-quality false non-match) and a failure to
    /// acquire.
    fn set() -> Vec<PairOutcome> {
        vec![
            pair(true, Some(90.0), 85.0, 95.0),    // right, band [80,100]
            pair(true, Some(20.0), 10.0, 90.0),    // FNM, band [0,20)
            pair(true, Some(40.0), 70.0, 65.0),    // FNM, band [60,80)
            pair(true, Some(60.0), 30.0, 90.0),    // right, band [20,40)
            pair(false, Some(55.0), 15.0, 50.0),   // FM, band [0,20)
            pair(false, Some(5.0), 100.0, 45.0),   // right, band [40,60)
            pair(false, Some(10.0), 100.0, 100.0), // right, band [80,100]
            PairOutcome {
                genuine: true,
                score: None,
                quality: [None, Some(50.0)],
            }, // FNM (no face)
        ]
    }

    #[test]
    fn bands_split_pairs_by_their_weaker_face() {
        assert_eq!(
            [-1.0, 0.0, 19.9, 20.0, 79.9, 80.0, 100.0, 130.0].map(band_of),
            [0, 0, 0, 1, 3, 4, 4, 4]
        );
        let rows = quality_bands(&set(), 50.0);
        let counts: Vec<(usize, usize, usize, usize)> = rows
            .iter()
            .map(|r| {
                let c = r.counts;
                (c.genuine, c.false_non_matches, c.impostors, c.false_matches)
            })
            .collect();
        assert_eq!(
            counts,
            [
                (1, 1, 1, 1),
                (1, 0, 0, 0),
                (0, 0, 1, 0),
                (1, 1, 0, 0),
                (1, 0, 1, 0),
                (1, 1, 0, 0)
            ]
        );
        assert_eq!(rows[0].label, "[0,20)");
        assert_eq!(rows[4].label, "[80,100]");
        assert_eq!((rows[5].label.as_str(), rows[5].lo), (NO_FACE, None));
        assert_eq!(rows[0].counts.fnmr, Some(1.0));
        assert_eq!(rows[2].counts.fnmr, None);
    }

    #[test]
    fn unmeasured_quality_gets_its_own_row_only_when_present() {
        let mut pairs = set();
        assert_eq!(quality_bands(&pairs, 50.0).len(), 6);
        pairs.push(PairOutcome {
            genuine: false,
            score: Some(70.0),
            quality: [Some(50.0), None],
        });
        let rows = quality_bands(&pairs, 50.0);
        assert_eq!(rows.len(), 7);
        assert_eq!(rows[6].label, UNKNOWN_QUALITY);
        assert_eq!(rows[6].counts.false_matches, 1);
    }

    #[test]
    fn no_filter_changes_nothing() {
        let photos = [Some(10.0), Some(90.0), None];
        let l = quality_level("NONE", None, &photos, &set(), 50.0);
        assert_eq!((l.photos, l.photos_rejected, l.pairs_rejected), (3, 0, 0));
        assert_eq!((l.errors_before, l.errors_after), (4, 4));
        assert_eq!(l.errors_removed_share, Some(0.0));
        assert_eq!((l.genuine_kept, l.impostors_kept), (4, 3));
        assert_eq!(l.fnmr_kept, Some(0.5));
        assert_eq!(l.fmr_kept, Some(1.0 / 3.0));
    }

    #[test]
    fn a_filter_trades_rejected_genuine_pairs_for_removed_errors() {
        let photos = [Some(10.0), Some(15.0), Some(30.0), Some(90.0), None];
        // Cut-off 20 rejects the faces at 10 and 15: the genuine FNM (still an
        // error: declined) and the impostor FM (now a correct rejection).
        let l = quality_level("LOW", Some(20.0), &photos, &set(), 50.0);
        assert_eq!((l.photos_rejected, l.pairs_rejected), (2, 2));
        assert_eq!((l.errors_before, l.errors_after), (4, 3));
        assert_eq!(l.errors_removed_share, Some(0.25));
        // Among the compared pairs, both rejected pairs' errors are gone.
        // (the no-face pair is not compared: 3 errors in 7 compared pairs, 1 in 5 kept).
        assert_eq!((l.compared_errors_before, l.compared_errors_after), (3, 1));
        assert_eq!(l.compared_errors_removed_share, Some(1.0 - 1.0 / 3.0));
        assert_eq!(l.compared_error_rate_before, Some(3.0 / 7.0));
        assert_eq!(l.compared_error_rate_after, Some(1.0 / 5.0));
        assert_eq!((l.genuine_kept, l.impostors_kept), (3, 2));
        assert_eq!(l.fnmr_kept, Some(1.0 / 3.0));
        assert_eq!(l.fmr_kept, Some(0.0));
        assert_eq!(l.fmr_kept_ci95, wilson_ci95(0, 2));
        // Cut-off 40 also rejects the genuine pair at 30 that was right: it becomes a
        // false non-match of the system, so the level removes no error at all.
        let l = quality_level("MEDIUM", Some(40.0), &photos, &set(), 50.0);
        assert_eq!((l.photos_rejected, l.pairs_rejected), (3, 3));
        assert_eq!((l.errors_before, l.errors_after), (4, 4));
        assert_eq!(l.errors_removed_share, Some(0.0));
        assert_eq!(l.genuine_kept, 2);
        assert_eq!(l.fnmr_kept, Some(0.5));
    }
}
