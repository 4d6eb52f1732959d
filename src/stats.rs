//! The one set of statistics every layer uses: nearest-rank percentiles and medians.
//!
//! The p-th percentile of n sorted values is the value at rank ⌈p·n⌉ (1-based, at least 1), so it is
//! always a value that was measured. The median is the 50th percentile by that rule (the lower middle
//! value of an even count). The guard, the report and the planner all call these, so they never
//! disagree about the same run.

/// The nearest-rank percentile `p` (0..=1) of `values`; sorts in place. `None` when empty.
pub fn percentile<T: Copy + Into<f64>>(values: &mut [T], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(|a, b| (*a).into().total_cmp(&(*b).into()));
    Some(values[rank(values.len(), p) - 1].into())
}

/// The nearest-rank median of `values` (copied, not sorted in place). `None` when empty.
pub fn median<T: Copy + Into<f64>>(values: &[T]) -> Option<f64> {
    percentile(&mut values.to_vec(), 0.5)
}

/// The 1-based rank of the `p` percentile among `n` values (`n` > 0).
pub fn rank(n: usize, p: f64) -> usize {
    ((p.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n)
}

/// The share of `values` for which `pred` holds (0..1); `None` when empty.
pub fn share<T>(values: &[T], pred: impl Fn(&T) -> bool) -> Option<f64> {
    (!values.is_empty())
        .then(|| values.iter().filter(|v| pred(v)).count() as f64 / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v = vec![15.0f32, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&mut v, 0.05), Some(15.0));
        assert_eq!(percentile(&mut v, 0.30), Some(20.0));
        assert_eq!(percentile(&mut v, 0.40), Some(20.0));
        assert_eq!(percentile(&mut v, 0.50), Some(35.0));
        assert_eq!(percentile(&mut v, 1.0), Some(50.0));
        assert_eq!(percentile::<f64>(&mut [], 0.5), None);
        // Even count: the lower middle value, the same everywhere (guard, report, planner).
        assert_eq!(median(&[1.0f64, 2.0, 3.0, 4.0]), Some(2.0));
        assert_eq!(median(&[7u32]), Some(7.0));
        assert_eq!(share(&[1, 5, 9, 12], |v| *v > 4), Some(0.75));
    }
}
