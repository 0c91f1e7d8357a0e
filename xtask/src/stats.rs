//! Small statistics for the results report: mean, sample standard deviation, and the
//! two-sided Student-t confidence interval of a mean (used on paired differences).
//!
//! The t quantile is found by bisection on the t distribution's CDF, which is computed from the
//! regularised incomplete beta function (continued fraction, as in Numerical Recipes §6.4).

/// Mean of `xs` (`NaN` when empty).
///
/// ```
/// assert_eq!(xtask::stats::mean(&[1.0, 2.0, 6.0]), 3.0);
/// ```
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (divisor `n - 1`; 0 for fewer than two values).
///
/// ```
/// assert_eq!(xtask::stats::sample_std(&[1.0, 3.0]), 2f64.sqrt());
/// ```
pub fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// The mean of paired differences with its two-sided confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedInterval {
    /// Number of pairs.
    pub n: usize,
    /// Mean difference.
    pub mean: f64,
    /// Sample standard deviation of the differences.
    pub std: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
}

/// The `level` (e.g. 0.95) Student-t interval of the mean of `diffs`: `mean ± t sd / sqrt(n)`
/// with `t` the `(1 + level) / 2` quantile of t with `n - 1` degrees of freedom. `None` for
/// fewer than two values.
///
/// ```
/// let i = xtask::stats::t_interval(&[1.0, 2.0, 3.0], 0.95).unwrap();
/// assert!((i.low - (2.0 - 4.302653 / 3f64.sqrt())).abs() < 1e-5);
/// ```
pub fn t_interval(diffs: &[f64], level: f64) -> Option<PairedInterval> {
    let n = diffs.len();
    if n < 2 {
        return None;
    }
    let (m, s) = (mean(diffs), sample_std(diffs));
    let half = t_quantile((1.0 + level) / 2.0, (n - 1) as f64) * s / (n as f64).sqrt();
    Some(PairedInterval {
        n,
        mean: m,
        std: s,
        low: m - half,
        high: m + half,
    })
}

/// The `p` quantile (`0 < p < 1`) of Student's t with `df > 0` degrees of freedom, to about
/// 1e-10 (bisection on [`t_cdf`]).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The CDF of Student's t with `df` degrees of freedom at `t`.
pub fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The regularised incomplete beta function `I_x(a, b)`.
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, n = 9; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(π x).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_published_tables() {
        // Two-sided 95 % critical values (e.g. any statistics textbook's t table; scipy's
        // `t.ppf(0.975, df)` gives the same digits).
        for (df, t) in [
            (1.0, 12.706_204_736),
            (2.0, 4.302_652_730),
            (4.0, 2.776_445_105),
            (9.0, 2.262_157_163),
            (29.0, 2.045_229_642),
            (1000.0, 1.962_339_081),
        ] {
            let q = t_quantile(0.975, df);
            assert!((q - t).abs() < 1e-6, "df {df}: {q} vs {t}");
        }
        // One-sided 90 % at 5 degrees of freedom, and symmetry.
        assert!((t_quantile(0.9, 5.0) - 1.475_884_049).abs() < 1e-6);
        assert!((t_quantile(0.025, 9.0) + 2.262_157_163).abs() < 1e-6);
        // The CDF at 0 is one half, and the normal limit.
        assert!((t_cdf(0.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((t_cdf(1.959_963_985, 1e7) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn interval_of_known_data() {
        // Differences 0.01, 0.03, -0.01, 0.02, 0.00: mean 0.01, sd sqrt(0.00025) = 0.0158114,
        // half-width 2.776445 * 0.0158114 / sqrt(5) = 0.0196324.
        let i = t_interval(&[0.01, 0.03, -0.01, 0.02, 0.0], 0.95).unwrap();
        assert_eq!(i.n, 5);
        assert!((i.mean - 0.01).abs() < 1e-12);
        assert!((i.std - 0.000_25f64.sqrt()).abs() < 1e-12);
        assert!((i.low - (0.01 - 0.019_632_4)).abs() < 1e-6, "{i:?}");
        assert!((i.high - (0.01 + 0.019_632_4)).abs() < 1e-6, "{i:?}");
        assert!(t_interval(&[1.0], 0.95).is_none());
        assert!(sample_std(&[4.0]) == 0.0);
    }
}
