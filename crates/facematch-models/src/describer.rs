//! The describer of every bundle: the shared [`Attributes`] and one [`Recognizer`].

use facematch_core::pipeline::{Detection, FaceDescriber, FaceDescription};
use facematch_core::score::ScoreMapping;
use facematch_core::PipelineError;
use image::RgbImage;

use crate::attributes::Attributes;
use crate::recognizer::Recognizer;

/// Describes a face: dlib's landmarks, then age and gender, then (on request) the
/// recognizer's embedding.
pub struct Describer {
    attributes: Attributes,
    recognizer: Box<dyn Recognizer>,
}

impl Describer {
    /// A describer from the bundle's attribute models and its recognizer.
    pub fn new(attributes: Attributes, recognizer: Box<dyn Recognizer>) -> Self {
        Self {
            attributes,
            recognizer,
        }
    }

    /// The landmark and attribute stage.
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }
}

impl FaceDescriber for Describer {
    fn describe(
        &self,
        image: &RgbImage,
        face: &Detection,
        with_embedding: bool,
    ) -> Result<FaceDescription, PipelineError> {
        let points =
            tracing::info_span!("landmarks").in_scope(|| self.attributes.landmarks(image, face))?;
        let (age, male_probability) = tracing::info_span!("attributes")
            .in_scope(|| self.attributes.estimate(image, face, &points))?;
        let embedding = if with_embedding {
            let span = tracing::info_span!("embed");
            Some(span.in_scope(|| self.recognizer.embed(image, face, &points))?)
        } else {
            None
        };
        Ok(FaceDescription {
            age,
            male_probability,
            embedding,
            quality: None,
        })
    }

    fn score_mapping(&self) -> ScoreMapping {
        self.recognizer.score_mapping()
    }
}
