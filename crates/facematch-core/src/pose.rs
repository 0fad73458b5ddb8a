//! Head pose (yaw, pitch, roll in degrees) estimated from the detector's five
//! landmarks. See [`estimate`] for the method.

use serde::{Deserialize, Serialize};

use crate::geometry::Point;

/// Head pose in degrees. `yaw`: positive when the face turns towards the image's
/// right; `pitch`: positive when it tilts up; `roll`: positive when the line from the
/// image-left eye to the image-right eye turns clockwise on screen.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Pose {
    /// Left–right turn, degrees.
    pub yaw: f64,
    /// Up–down tilt, degrees.
    pub pitch: f64,
    /// In-plane rotation, degrees.
    pub roll: f64,
}

/// The pose of a face from its five landmarks in YuNet's order (image-left eye,
/// image-right eye, nose tip, image-left mouth corner, image-right mouth corner).
pub fn estimate(landmarks: &[Point; 5]) -> Pose {
    // Skeleton: filled in by the pose work (issue 15).
    let _ = landmarks;
    Pose::default()
}
