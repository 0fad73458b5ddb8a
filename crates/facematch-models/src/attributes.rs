//! What every bundle shares, whatever its recognizer: dlib's five landmarks of a
//! detected face, and the age and gender estimated from the chips they place.

use facematch_core::pipeline::Detection;
use facematch_core::PipelineError;
use facematch_dlib::chip::{extract_image_chip, get_face_chip_details};
use facematch_dlib::geometry::Point2;
use facematch_dlib::shape_predictor::ShapePredictor;
use facematch_engine::InferenceModel;
use image::RgbImage;

use crate::age::AgeNet;
use crate::chw::{run_chips, ChwFormat};
use crate::error::describer;
use crate::geometry::BoxMapping;

/// The landmark and attribute models of a bundle.
pub struct Attributes {
    /// dlib's 5-point shape predictor, which places the chips.
    predictor: ShapePredictor,
    /// YuNet → dlib box framing for the shape predictor.
    box_mapping: BoxMapping,
    /// The age estimator.
    age: AgeNet,
    /// dlib's gender net: N×3×32×32 normalised RGB → (female, male) probabilities.
    gender: Box<dyn InferenceModel>,
}

impl Attributes {
    /// The attribute stage from its models.
    pub fn new(
        predictor: ShapePredictor,
        box_mapping: BoxMapping,
        age: AgeNet,
        gender: Box<dyn InferenceModel>,
    ) -> Self {
        Self {
            predictor,
            box_mapping,
            age,
            gender,
        }
    }

    /// The age estimator.
    pub fn age_net(&self) -> &AgeNet {
        &self.age
    }

    /// dlib's five landmarks for a detected face: the detector's box mapped onto
    /// dlib's framing, then the shape predictor.
    pub fn landmarks(
        &self,
        image: &RgbImage,
        face: &Detection,
    ) -> Result<[Point2; 5], PipelineError> {
        self.predictor
            .predict5(image, self.box_mapping.to_dlib(&face.bbox))
            .ok_or_else(|| describer("the shape predictor does not give 5 points"))
    }

    /// (age in years, probability of male) of `face`, whose dlib landmarks are
    /// `points`, from the age estimator and dlib's gender net (32×32 chip, padding
    /// 0.2).
    ///
    /// When the age estimator is face-api.js's net, which classifies gender as well,
    /// the probability is the plain mean of both nets: they err on different faces
    /// (dlib's on children and tight crops, face-api.js's on news photos of adults),
    /// and the mean is right more often than either on the LFW and UTKFace dev photos
    /// together (the `attribute_study` study, `docs/accuracy.md`).
    pub fn estimate(
        &self,
        image: &RgbImage,
        face: &Detection,
        points: &[Point2; 5],
    ) -> Result<(f32, f32), PipelineError> {
        let estimate = self.age.estimate(image, &face.bbox, points)?;
        let gender_chip = extract_image_chip(image, &get_face_chip_details(points, 32, 0.2));
        let gender_out = run_chips(
            self.gender.as_ref(),
            &ChwFormat::DLIB_ATTRIBUTES,
            &[&gender_chip],
        )?;
        let g = &gender_out
            .first()
            .ok_or_else(|| describer("gender net gave no output"))?
            .data;
        if g.len() != 2 {
            return Err(describer(format!(
                "gender net gave {} values, not 2",
                g.len()
            )));
        }
        let male = match estimate.male_probability {
            Some(p) => (p + g[1]) / 2.0,
            None => g[1],
        };
        Ok((estimate.years, male))
    }
}
