use super::{hash_eq, sha256};

#[test]
fn hash_eq_is_true_only_for_the_same_32_bytes() {
    let stored = sha256("fm_abcdefgh_secret");
    assert!(hash_eq(&stored, &stored));
    assert!(hash_eq(&sha256("fm_abcdefgh_secret"), stored.as_slice()));
    // A difference in the first or the last byte, or anywhere between.
    for at in [0, 1, 15, 30, 31] {
        let mut other = stored;
        other[at] ^= 0x01;
        assert!(!hash_eq(&other, &stored), "byte {at} differs");
        assert!(!hash_eq(&stored, &other), "byte {at} differs");
    }
    // A stored value of another length: a prefix, a longer one, nothing.
    assert!(!hash_eq(&stored, &stored[..31]));
    assert!(!hash_eq(&stored, &[stored.as_slice(), &[0]].concat()));
    assert!(!hash_eq(&stored, &[]));
    assert!(!hash_eq(&[0; 32], &[]));
    // A different secret.
    assert!(!hash_eq(&sha256("fm_abcdefgh_secreT"), &stored));
}

/// Timing cannot be measured reliably in a unit test, so the property is pinned where it
/// lives: `hash_eq` compares with `subtle`'s `ct_eq` (no early exit), never `==`, and the
/// two secret checks (API keys, e-mail codes) compare their stored hash only through it.
#[test]
fn secrets_are_compared_only_through_ct_eq() {
    let db = include_str!("../db.rs");
    let start = db.find("pub(crate) fn hash_eq(").expect("hash_eq");
    let body = &db[start..start + db[start..].find("\n}\n").expect("end of hash_eq")];
    let code: String = body
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    assert!(code.contains(".ct_eq(stored)"), "{body}");
    assert!(!code.contains("=="), "no short-circuit comparison: {body}");
    assert!(
        !code.contains(".eq("),
        "no short-circuit comparison: {body}"
    );
    for (name, src) in [
        ("keys.rs", include_str!("../keys.rs")),
        ("accounts.rs", include_str!("../accounts.rs")),
    ] {
        let uses: Vec<&str> = src
            .lines()
            .filter(|l| l.contains("stored_hash") && !l.contains("let "))
            .collect();
        assert_eq!(
            uses,
            ["    if !db::hash_eq(&computed, &stored_hash) {"],
            "{name}: the stored hash is compared only with hash_eq"
        );
    }
}
