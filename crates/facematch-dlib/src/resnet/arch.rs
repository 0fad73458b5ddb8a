//! The network type the reader walks the file against: the `anet_type` of dlib's
//! `dnn_face_recognition_ex.cpp`, layer by layer from the input to the loss.

/// What the network type says a layer must be; hyper-parameters are checked against
/// the file as dlib's own deserializers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spec {
    Conv {
        filters: usize,
        size: usize,
        stride: usize,
    },
    Affine,
    Relu,
    MaxPool {
        size: usize,
        stride: usize,
    },
    AvgPool {
        size: usize,
        stride: usize,
    },
    AddPrev(u32),
    Tag(u32),
    Skip(u32),
    FcNoBias {
        outputs: usize,
    },
}

impl Spec {
    /// Tag and skip layers are not `add_layer`s and carry no details.
    pub(super) fn is_tag_or_skip(self) -> bool {
        matches!(self, Spec::Tag(_) | Spec::Skip(_))
    }
}

/// `block<N, affine, stride>` followed by the residual add, input to output.
fn push_residual(specs: &mut Vec<Spec>, filters: usize, down: bool) {
    let stride = if down { 2 } else { 1 };
    specs.push(Spec::Tag(1));
    specs.push(Spec::Conv {
        filters,
        size: 3,
        stride,
    });
    specs.push(Spec::Affine);
    specs.push(Spec::Relu);
    specs.push(Spec::Conv {
        filters,
        size: 3,
        stride: 1,
    });
    specs.push(Spec::Affine);
    if down {
        // residual_down = add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<..., tag1<SUBNET>>>>>>
        specs.push(Spec::Tag(2));
        specs.push(Spec::Skip(1));
        specs.push(Spec::AvgPool { size: 2, stride: 2 });
        specs.push(Spec::AddPrev(2));
    } else {
        specs.push(Spec::AddPrev(1));
    }
    specs.push(Spec::Relu);
}

/// The layers of `anet_type`, from the input (exclusive) to the loss (exclusive).
pub(super) fn face_resnet_specs() -> Vec<Spec> {
    let mut s = vec![
        Spec::Conv {
            filters: 32,
            size: 7,
            stride: 2,
        },
        Spec::Affine,
        Spec::Relu,
        Spec::MaxPool { size: 3, stride: 2 },
    ];
    // alevel4 .. alevel0, input side first.
    let levels: [(usize, bool, usize); 5] = [
        (32, false, 3),
        (64, true, 3),
        (128, true, 2),
        (256, true, 2),
        (256, true, 0),
    ];
    for (filters, has_down, plain) in levels {
        if has_down {
            push_residual(&mut s, filters, true);
        }
        for _ in 0..plain {
            push_residual(&mut s, filters, false);
        }
    }
    s.push(Spec::AvgPool { size: 0, stride: 1 });
    s.push(Spec::FcNoBias { outputs: 128 });
    s
}

/// dlib's default padding for conv/pool templates: `stride != 1 ? 0 : size / 2`.
pub(super) fn default_padding(size: usize, stride: usize) -> usize {
    if stride != 1 {
        0
    } else {
        size / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_have_the_expected_size() {
        let specs = face_resnet_specs();
        let tags = specs.iter().filter(|s| s.is_tag_or_skip()).count();
        assert_eq!(specs.len() - tags, 108);
        assert_eq!(tags, 22);
    }
}
