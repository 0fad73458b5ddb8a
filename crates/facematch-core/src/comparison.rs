//! What a comparison returns: the decision, and how long each stage took (the server
//! feeds its stage histogram from it; the names of the stages are spelled here).

use std::time::Duration;

use crate::response::FaceMatch;

/// The outcome of [`Pipeline::compare`](crate::Pipeline::compare).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The contract's `face_match` object.
    pub face_match: FaceMatch,
    /// How long each stage took.
    pub timings: StageTimings,
}

/// A timed stage of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Decoding one uploaded image.
    Decode,
    /// Detecting and describing the faces of one image.
    Analyze,
    /// Both analyses and the decision, end to end.
    Compare,
}

impl Stage {
    /// The stage's name, as a metric label (`decode`, `analyze`, `compare`).
    pub const fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Analyze => "analyze",
            Stage::Compare => "compare",
        }
    }
}

/// How long each stage of one comparison took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageTimings {
    /// Decoding each uploaded part, user's then reference's; empty when the pipeline
    /// was given decoded images.
    pub decode: Vec<Duration>,
    /// Analysing each non-empty image, user's first.
    pub analyze: Vec<Duration>,
    /// Both analyses and the decision together.
    pub compare: Duration,
}

impl StageTimings {
    /// Every measured duration with its stage, in the order the stages began.
    pub fn iter(&self) -> impl Iterator<Item = (Stage, Duration)> + '_ {
        let decode = self.decode.iter().map(|&d| (Stage::Decode, d));
        let analyze = self.analyze.iter().map(|&d| (Stage::Analyze, d));
        decode
            .chain(analyze)
            .chain(std::iter::once((Stage::Compare, self.compare)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_list_every_stage_once_per_measurement() {
        let ms = Duration::from_millis;
        let timings = StageTimings {
            decode: vec![ms(1), ms(2)],
            analyze: vec![ms(3)],
            compare: ms(4),
        };
        let listed: Vec<(&str, Duration)> = timings.iter().map(|(s, d)| (s.name(), d)).collect();
        assert_eq!(
            listed,
            [
                ("decode", ms(1)),
                ("decode", ms(2)),
                ("analyze", ms(3)),
                ("compare", ms(4))
            ]
        );
    }
}
