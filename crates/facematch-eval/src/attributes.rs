//! Age and gender metrics.

use crate::EvalError;

/// Mean absolute error in years of `(predicted, true)` ages.
pub fn age_mae(ages: &[(f64, f64)]) -> Result<f64, EvalError> {
    if ages.is_empty() {
        return Err(EvalError::NotEnoughData("no ages".into()));
    }
    if ages.iter().any(|(p, t)| !p.is_finite() || !t.is_finite()) {
        return Err(EvalError::InvalidValue("an age is not finite".into()));
    }
    Ok(ages.iter().map(|(p, t)| (p - t).abs()).sum::<f64>() / ages.len() as f64)
}

/// Share of `(predicted, true)` genders (`true` = male) that agree.
pub fn gender_accuracy(genders: &[(bool, bool)]) -> Result<f64, EvalError> {
    if genders.is_empty() {
        return Err(EvalError::NotEnoughData("no genders".into()));
    }
    Ok(genders.iter().filter(|(p, t)| p == t).count() as f64 / genders.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mae_and_accuracy_on_known_sets() {
        assert_eq!(age_mae(&[(10.0, 12.0), (30.0, 26.0), (5.0, 5.0)]), Ok(2.0));
        assert!(matches!(age_mae(&[]), Err(EvalError::NotEnoughData(_))));
        assert!(matches!(
            age_mae(&[(f64::NAN, 1.0)]),
            Err(EvalError::InvalidValue(_))
        ));
        assert!(matches!(
            age_mae(&[(1.0, f64::INFINITY)]),
            Err(EvalError::InvalidValue(_))
        ));
        let g = [(true, true), (false, true), (false, false), (true, true)];
        assert_eq!(gender_accuracy(&g), Ok(0.75));
        assert!(matches!(
            gender_accuracy(&[]),
            Err(EvalError::NotEnoughData(_))
        ));
    }
}
