//! The one data type that crosses the runtime boundary, and the trait models stand
//! behind.

use crate::error::EngineError;

/// A dense float32 tensor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor from its shape and data; fails when they disagree.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, EngineError> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(EngineError::BadOutput(format!(
                "shape {shape:?} does not hold {} values",
                data.len()
            )));
        }
        Ok(Self { shape, data })
    }
}

/// A loaded model that maps one float input tensor to its float outputs.
pub trait InferenceModel: Send + Sync {
    /// Runs the model; outputs come in the order of [`InferenceModel::output_names`].
    fn run(&self, input: &Tensor) -> Result<Vec<Tensor>, EngineError>;
    /// The names of the model's outputs.
    fn output_names(&self) -> &[String];
}
