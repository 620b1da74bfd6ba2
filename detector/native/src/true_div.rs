//! Python's `int / int` for the window statistics: the exact quotient of two integers rounded
//! once to the nearest `f64` (ties to even). `a as f64 / b as f64` rounds each operand first and
//! so differs in the last bit once either passes 2**53; `KMV.estimate` divides `(k - 1) * 2**64`
//! by a 64-bit hash, where that happens for about one hash in five.
//!
//! Assumes a dividend of at most 128 bits and a non-zero divisor of at most 64 bits (a zero
//! divisor panics, as Python raises). Cost: one or two 128-bit integer divisions.

/// `2**e` for `-1022 <= e <= 1023`, exactly.
fn pow2(e: i32) -> f64 {
    f64::from_bits(((1023 + e) as u64) << 52)
}

/// `num / den` correctly rounded, as Python's `int / int` of non-negative ints.
pub fn div(num: u128, den: u64) -> f64 {
    assert!(den != 0, "division by zero");
    if num < 1 << 53 && den < 1 << 53 {
        return num as f64 / den as f64; // both exact, and IEEE division rounds once
    }
    // Scale by 2**s so that the integer quotient q = floor(num * 2**s / den) has 64 or 65 bits.
    let s = 64 + (64 - den.leading_zeros() as i32) - (128 - num.leading_zeros() as i32);
    let den = u128::from(den);
    let (q, exact) = if s >= 0 {
        let n = num << s; // at most 64 + bits(den) <= 128 bits
        (n / den, n.is_multiple_of(den))
    } else {
        let n = num >> -s; // floor(floor(num / 2**t) / den) = floor(num / (2**t * den))
        (n / den, n.is_multiple_of(den) && num & ((1 << -s) - 1) == 0)
    };
    // Bit 0 of q lies below the rounding position (q has 64+ bits, f64 keeps 53), so or-ing in
    // "inexact" there makes the nearest-even rounding of `as f64` that of the exact quotient.
    (q | u128::from(!exact)) as f64 * pow2(-s)
}

/// `num / den` as Python's `int / int` of any signs (`den != 0`).
pub fn div_i64(num: i64, den: i64) -> f64 {
    let q = div(u128::from(num.unsigned_abs()), den.unsigned_abs());
    if (num < 0) != (den < 0) {
        -q
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::{div, div_i64};

    #[test]
    fn matches_python_where_the_naive_division_does_not() {
        // Python: (31 << 64) / h == float.fromhex("0x1.1ec878e66b7d5p+5"); the naive quotient is one ulp above
        let h: u64 = 15952099734642059999;
        assert_eq!(div(31 << 64, h).to_bits(), 0x4041ec878e66b7d5);
        assert_eq!((31.0 * 2f64.powi(64) / h as f64).to_bits(), 0x4041ec878e66b7d6);
        assert_eq!(div(31 << 64, 11205253249702154886).to_bits(), 0x4049845a9d643a06);
    }

    #[test]
    fn matches_python_on_large_and_small_quotients() {
        assert_eq!(div(31 << 64, u64::MAX).to_bits(), 0x403f000000000000);
        assert_eq!(div(31 << 64, (1 << 53) + 1).to_bits(), 0x40eeffffffffffff);
        assert_eq!(div(31 << 64, 3).to_bits(), 0x4424aaaaaaaaaaab);
        assert_eq!(div((1 << 63) + 1, 3).to_bits(), 0x43c5555555555555);
        assert_eq!(
            div(1_000_000_000_000_000_007, (1 << 60) + 3).to_bits(),
            0x3febc16d674ec800
        );
        assert_eq!(div(7, 2), 3.5);
        assert_eq!(div(0, 5), 0.0);
    }

    #[test]
    fn signs_as_in_python() {
        assert_eq!(div_i64(-3, 7), -0.42857142857142855);
        assert!(div_i64(0, -5).is_sign_negative());
        assert_eq!(div_i64(-6, -3), 2.0);
    }
}
