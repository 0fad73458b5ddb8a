//! How the age and gender estimates were chosen, on the labelled dev photos:
//!
//! - **age crop**: which crop suits face-api.js's age net? On the UTKFace dev crops it
//!   gets dlib-aligned chips at several paddings and square detector boxes at several
//!   scales (alone and averaged with the mirrored crop), next to dlib's own age net
//!   and the mean of the two (`FACEAPI_CROP_SCALE` comes from here);
//! - **gender**: dlib's gender net, face-api.js's gender head, or the mean of the two,
//!   on the LFW dev photos (news photos of adults) and the UTKFace dev crops.
//!
//! Run: `cargo run --release -p facematch-lab --example attribute_study [-- ROOT]`

use facematch_core::pipeline::{sort_largest_first, Detection, FaceDetector};
use facematch_dlib::chip::{extract_image_chip, get_face_chip_details};
use facematch_dlib::geometry::Point2;
use facematch_engine::InferenceModel;
use facematch_models::age::square_crop;
use facematch_models::attributes::Attributes;
use facematch_models::chw::ChwFormat;
use facematch_models::lab::{load_attributes, load_detector, prepare_runtime};
use facematch_models::yunet::YunetDetector;
use facematch_models::{ensure_bundle_files, AgeModel, AgeNet, BundleOptions};
use image::RgbImage;

/// One labelled face: the requested label columns, the image, its largest face and
/// that face's dlib landmarks.
type LabelledFace = (Vec<String>, RgbImage, Detection, [Point2; 5]);

/// The served models, plus dlib's age net to compare with.
struct Models {
    detector: YunetDetector,
    /// The default attribute stage (face-api.js's age net).
    attributes: Attributes,
    /// The same with dlib's age net: what the pipeline gives with
    /// `FACEMATCH_AGE_MODEL=dlib`.
    dlib: Attributes,
}

impl Models {
    fn load() -> anyhow::Result<Self> {
        let mut options = BundleOptions::default();
        prepare_runtime(&options, &mut |_| {})?;
        let detector = load_detector(&options)?;
        let attributes = load_attributes(&options)?;
        options.age_model = AgeModel::Dlib;
        ensure_bundle_files(&options.store, &options.bundle, AgeModel::Dlib, &mut |_| {})?;
        let dlib = load_attributes(&options)?;
        Ok(Self {
            detector,
            attributes,
            dlib,
        })
    }

    fn faceapi(&self) -> anyhow::Result<&dyn InferenceModel> {
        match self.attributes.age_net() {
            AgeNet::FaceApi(net) => Ok(net.as_ref()),
            AgeNet::Dlib(_) => anyhow::bail!("the default age net is not face-api.js's"),
        }
    }

    /// Every image of a label file that has a face; `columns` are looked up in the
    /// header.
    fn labelled_faces(
        &self,
        root: &str,
        labels: &str,
        columns: &[&str],
    ) -> anyhow::Result<Vec<LabelledFace>> {
        let text = std::fs::read_to_string(format!("{root}/{labels}"))?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .ok_or_else(|| anyhow::anyhow!("{labels}: no {name} column"))
        };
        let image_col = col("image")?;
        let wanted: Vec<usize> = columns.iter().map(|c| col(c)).collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for line in lines {
            let f: Vec<&str> = line.split('\t').collect();
            let Some(path) = f.get(image_col) else {
                continue;
            };
            let img = image::open(format!("{root}/{path}"))?.to_rgb8();
            let mut faces = self.detector.detect(&img)?;
            sort_largest_first(&mut faces);
            let Some(face) = faces.into_iter().next() else {
                continue;
            };
            let points = self.attributes.landmarks(&img, &face)?;
            let values = wanted
                .iter()
                .map(|&i| f.get(i).unwrap_or(&"").to_string())
                .collect();
            out.push((values, img, face, points));
        }
        Ok(out)
    }
}

fn run_faceapi(net: &dyn InferenceModel, crop: &RgbImage) -> anyhow::Result<(f32, f32)> {
    let input = ChwFormat::RAW_RGB.batch(&[crop])?;
    let out = net.run(&input)?;
    Ok((out[0].data[0], out[1].data[0]))
}

fn age_crops(models: &Models, root: &str) -> anyhow::Result<()> {
    let net = models.faceapi()?;
    let age = |crop: &RgbImage| run_faceapi(net, crop).map(|(years, _)| years);
    let paddings = [0.2, 0.3, 0.4, 0.5];
    let scales = [1.0f32, 1.2, 1.4, 1.6];
    let mut names = vec!["dlib net".to_string()];
    names.extend(paddings.iter().map(|p| format!("chip padding {p}")));
    names.extend(scales.iter().map(|s| format!("box scale {s}")));
    names.extend(scales.iter().map(|s| format!("box {s} + mirror")));
    let mut preds: Vec<Vec<f32>> = vec![Vec::new(); names.len()];
    let mut truth = Vec::new();
    for (values, img, face, points) in
        models.labelled_faces(root, "utkface_dev_labels.tsv", &["age"])?
    {
        truth.push(values[0].parse::<f32>()?);
        let mut row = vec![
            models
                .dlib
                .age_net()
                .estimate(&img, &face.bbox, &points)?
                .years,
        ];
        for p in paddings {
            row.push(age(&extract_image_chip(
                &img,
                &get_face_chip_details(&points, 112, p),
            ))?);
        }
        for s in scales {
            row.push(age(&square_crop(&img, &face.bbox, s, 112))?);
        }
        for s in scales {
            let crop = square_crop(&img, &face.bbox, s, 112);
            let mirrored = image::imageops::flip_horizontal(&crop);
            row.push((age(&crop)? + age(&mirrored)?) / 2.0);
        }
        for (p, v) in preds.iter_mut().zip(row) {
            p.push(v);
        }
    }
    let mae = |p: &[f32]| {
        p.iter()
            .zip(&truth)
            .map(|(a, t)| (a - t).abs())
            .sum::<f32>()
            / truth.len() as f32
    };
    println!("age: {} faces of the UTKFace dev crops", truth.len());
    for (n, p) in names.iter().zip(&preds) {
        let mean: Vec<f32> = p
            .iter()
            .zip(&preds[0])
            .map(|(a, d)| (a + d) / 2.0)
            .collect();
        println!(
            "{n:>18}  MAE {:5.2}   averaged with the dlib net {:5.2}",
            mae(p),
            mae(&mean)
        );
    }
    Ok(())
}

fn gender(models: &Models, root: &str) -> anyhow::Result<()> {
    for labels in ["lfw_dev_gender.tsv", "utkface_dev_labels.tsv"] {
        let (mut n, mut right) = (0usize, [0usize; 3]);
        for (values, img, face, points) in models.labelled_faces(root, labels, &["gender"])? {
            // dlib's gender net alone is what the pipeline gives with dlib's age net.
            let (_, dlib) = models.dlib.estimate(&img, &face, &points)?;
            let faceapi = models
                .attributes
                .age_net()
                .estimate(&img, &face.bbox, &points)?
                .male_probability
                .unwrap_or(f32::NAN);
            let male = values[0] == "male";
            n += 1;
            for (r, p) in right
                .iter_mut()
                .zip([dlib, faceapi, (dlib + faceapi) / 2.0])
            {
                *r += usize::from((p > 0.5) == male);
            }
        }
        let pct = |r: usize| 100.0 * r as f64 / n.max(1) as f64;
        println!(
            "gender, {labels}: {n} faces  dlib {:.2}%  face-api.js {:.2}%  mean {:.2}%",
            pct(right[0]),
            pct(right[1]),
            pct(right[2])
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/faces".into());
    let models = Models::load()?;
    age_crops(&models, &root)?;
    gender(&models, &root)
}
