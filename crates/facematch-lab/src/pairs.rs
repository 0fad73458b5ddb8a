//! Pair lists (`left<TAB>right<TAB>1|0`) and the bookkeeping around them: each path
//! analysed once, and the `best_angle_AAA` folders that name a photo's rotation.

use std::collections::HashMap;
use std::path::Path;

use crate::LabError;

/// One line of a pair list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairLine {
    /// The left photo, relative to the data root.
    pub left: String,
    /// The right photo, relative to the data root.
    pub right: String,
    /// Whether both show the same person.
    pub same: bool,
}

/// Reads a pair list; blank lines are skipped, any other malformed line is an error,
/// and so is a list without pairs.
pub fn read_pairs(path: &Path) -> Result<Vec<PairLine>, LabError> {
    let text = std::fs::read_to_string(path).map_err(|source| LabError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_pairs(&text, path)
}

/// Parses the text of the pair list `path`.
fn parse_pairs(text: &str, path: &Path) -> Result<Vec<PairLine>, LabError> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let same = match f.get(2).map(|s| s.trim()) {
            Some("1") => true,
            Some("0") => false,
            _ => {
                return Err(LabError::PairLine {
                    path: path.to_path_buf(),
                    line: i + 1,
                })
            }
        };
        pairs.push(PairLine {
            left: f[0].to_string(),
            right: f[1].to_string(),
            same,
        });
    }
    if pairs.is_empty() {
        return Err(LabError::NoPairs {
            path: path.to_path_buf(),
        });
    }
    Ok(pairs)
}

/// The clockwise angle named by a `best_angle_AAA` folder in `path`, if any.
pub fn angle_in_path(path: &str) -> Option<u16> {
    path.split("best_angle_")
        .nth(1)
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
}

/// Unique paths in first-seen order, and each path's index.
pub fn unique(paths: impl IntoIterator<Item = String>) -> (Vec<String>, HashMap<String, usize>) {
    let mut list = Vec::new();
    let mut index = HashMap::new();
    for p in paths {
        if !index.contains_key(&p) {
            index.insert(p.clone(), list.len());
            list.push(p);
        }
    }
    (list, index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles_are_read_from_best_angle_folders() {
        assert_eq!(
            angle_in_path("lfw/rotated/best_angle_090/A/A_0001.jpg"),
            Some(90)
        );
        assert_eq!(
            angle_in_path("fixtures/one_face_best_angle_270.png"),
            Some(270)
        );
        assert_eq!(angle_in_path("lfw/original/A/A_0001.jpg"), None);
    }

    #[test]
    fn unique_keeps_first_seen_order() {
        let (list, index) = unique(["b", "a", "b", "c"].map(String::from));
        assert_eq!(list, ["b", "a", "c"]);
        assert_eq!(index["c"], 2);
    }

    #[test]
    fn pair_lists_are_parsed_strictly() {
        let path = Path::new("pairs.tsv");
        let pairs = parse_pairs("a\tb\t1\n\nc\td\t0\n", path).expect("two pairs");
        assert_eq!(pairs.len(), 2);
        assert!(pairs[0].same && !pairs[1].same);
        let bad = parse_pairs("a\tb\t1\nc\td\n", path).expect_err("no label");
        assert_eq!(
            bad.to_string(),
            "pairs.tsv:2: expected left<TAB>right<TAB>1|0"
        );
        assert!(parse_pairs("\n", path).is_err_and(|e| e.is_input()));
    }
}
