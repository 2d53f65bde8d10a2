//! Order statistics and a bootstrap for their uncertainty.

/// Linear-interpolated quantile `q` (0..=1) of sorted `xs`.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty());
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

pub fn median(xs: &[f64]) -> f64 {
    quantile(&sorted(xs), 0.5)
}

/// Summary of one command's samples.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub median: f64,
    pub p10: f64,
    pub p90: f64,
}

pub fn summarize(xs: &[f64]) -> Summary {
    let s = sorted(xs);
    Summary {
        median: quantile(&s, 0.5),
        p10: quantile(&s, 0.1),
        p90: quantile(&s, 0.9),
    }
}

/// xorshift64*: a fixed seed makes the intervals reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

/// 95% percentile-bootstrap interval of `stat(median(a), median(b))`,
/// resampling `a` and `b` independently.
pub fn bootstrap_ci(a: &[f64], b: &[f64], stat: impl Fn(f64, f64) -> f64) -> (f64, f64) {
    const RESAMPLES: usize = 2000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    let mut values = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        for x in ra.iter_mut() {
            *x = a[rng.below(a.len())];
        }
        for x in rb.iter_mut() {
            *x = b[rng.below(b.len())];
        }
        values.push(stat(median(&ra), median(&rb)));
    }
    let values = sorted(&values);
    (quantile(&values, 0.025), quantile(&values, 0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&s, 0.5), 3.0);
        assert_eq!(quantile(&s, 0.1), 1.4);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn bootstrap_brackets_the_difference() {
        let a: Vec<f64> = (0..200).map(|i| 10.0 + (i % 7) as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 1.0).collect();
        let (lo, hi) = bootstrap_ci(&a, &b, |ma, mb| mb - ma);
        assert!(lo <= 1.0 && 1.0 <= hi, "{lo}..{hi}");
    }
}
