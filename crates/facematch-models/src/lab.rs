//! Hooks for the studies in `crates/facematch-lab/examples` (cargo feature `lab`, off
//! by default): the served stages one at a time, and the knobs only a study turns.
//! Nothing here is served; the product loads a whole bundle with
//! [`load_pipeline`](crate::load_pipeline).

use facematch_core::PipelineError;
use facematch_dlib::geometry::Point2;
use facematch_dlib::shape_predictor::ShapePredictor;
use facematch_engine::InferenceModel;
use facematch_fetch::FetchEvent;
use image::RgbImage;

use crate::age::AgeNet;
use crate::attributes::Attributes;
use crate::describer::Describer;
use crate::error::ModelError;
use crate::load::{self, BundleOptions};
use crate::yunet::YunetDetector;

/// Fetches what `options` needs (when allowed) and loads ONNX Runtime: the first step
/// before any other loader here.
pub fn prepare_runtime(
    options: &BundleOptions,
    progress: &mut dyn FnMut(FetchEvent),
) -> Result<(), ModelError> {
    load::prepare_runtime(options, progress)
}

/// The YuNet detector.
pub fn load_detector(options: &BundleOptions) -> Result<YunetDetector, ModelError> {
    load::load_detector(options)
}

/// dlib's 5-point shape predictor.
pub fn load_shape_predictor(options: &BundleOptions) -> Result<ShapePredictor, ModelError> {
    load::load_shape_predictor(options)
}

/// The age estimator chosen by `options.age_model`.
pub fn load_age_net(options: &BundleOptions) -> Result<AgeNet, ModelError> {
    load::load_age_net(options)
}

/// The landmark and attribute stage, with the age net chosen by `options.age_model`.
pub fn load_attributes(options: &BundleOptions) -> Result<Attributes, ModelError> {
    load::load_attributes(options)
}

/// The default bundle's describer; with `flip`, dlib's ResNet also embeds the mirrored
/// chip and the two descriptors are averaged (the `flip_check` study; not served).
pub fn load_dlib_describer(options: &BundleOptions, flip: bool) -> Result<Describer, ModelError> {
    let recognizer = load::load_dlib_recognizer(options)?.with_flip(flip);
    Ok(Describer::new(
        load::load_attributes(options)?,
        Box::new(recognizer),
    ))
}

/// dlib's age net's 81 class probabilities (class 0 = 0.25 years, class i = i years)
/// for the face whose dlib landmarks are `points`: exactly the served inputs.
pub fn dlib_age_probabilities(
    net: &dyn InferenceModel,
    image: &RgbImage,
    points: &[Point2; 5],
) -> Result<Vec<f32>, PipelineError> {
    crate::age::dlib_age_probabilities(net, image, points)
}

/// dlib's own age decoding: the probability-weighted mean of the class ages.
pub fn expected_age(probs: &[f32]) -> f32 {
    crate::age::expected_age(probs)
}
