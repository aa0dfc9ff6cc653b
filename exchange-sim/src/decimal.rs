//! Exact fixed-point decimals with 8 fractional digits.
//!
//! Binance serves every price and quantity as a decimal *string* with (at most) 8 fractional
//! digits (`"70054.01000000"`). The simulator keeps all market values as integers counting
//! units of `1e-8` so that sums (aggregated volumes, 24h windows) are exact and formatting
//! back to a string is lossless. Conversions to `f64` only happen at the very edge (see
//! [`crate::SimKline`]), by parsing the served string exactly as a client would.

/// Number of fixed-point units in `1.0` (8 fractional digits, as on Binance).
pub(crate) const SCALE: i64 = 100_000_000;

/// Parses a plain non-negative decimal (`"70054.0"`, `"32.55652"`, `"7"`) into `1e-8` units.
///
/// Returns `None` for signs, exponents, more than 8 fractional digits, empty parts or overflow.
pub(crate) fn parse_units(text: &str) -> Option<i64> {
    let (mut int, mut int_digits) = (0_i64, 0_u32);
    let (mut frac, mut frac_digits) = (0_i64, 0_u32);
    let mut seen_dot = false;
    // A byte loop rather than `split_once('.')`: this runs a million times at start-up.
    for &b in text.as_bytes() {
        match b {
            b'0'..=b'9' if !seen_dot => {
                int = int.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
                int_digits += 1;
            }
            b'0'..=b'9' if frac_digits < 8 => {
                frac = frac * 10 + i64::from(b - b'0');
                frac_digits += 1;
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return None,
        }
    }
    if int_digits == 0 {
        return None;
    }
    int.checked_mul(SCALE)?
        .checked_add(frac * 10_i64.pow(8 - frac_digits))
}

/// Formats `1e-8` units as a decimal string with exactly 8 fractional digits
/// (`7005401000000` → `"70054.01000000"`), the way Binance formats decimals.
pub(crate) fn format_units(units: i128) -> String {
    let scale = i128::from(SCALE);
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!("{sign}{}.{:08}", abs / scale, abs % scale)
}

/// Formats a percentage given in thousandths of a percent with 3 decimals
/// (`-1234` → `"-1.234"`), the shape of Binance's `priceChangePercent`.
pub(crate) fn format_milli(milli: i128) -> String {
    let sign = if milli < 0 { "-" } else { "" };
    let abs = milli.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}

/// Integer division rounding half away from zero. `den` must be positive.
pub(crate) fn div_round(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    if num >= 0 {
        (num + den / 2) / den
    } else {
        -((-num + den / 2) / den)
    }
}

/// Rounds `units` to the nearest multiple of `tick` (half away from zero). A non-positive
/// tick leaves the value unchanged.
pub(crate) fn round_to_tick(units: i128, tick: i64) -> i128 {
    if tick <= 0 {
        return units;
    }
    let tick = i128::from(tick);
    div_round(units, tick) * tick
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_python_repr_floats() {
        assert_eq!(parse_units("70054.0"), Some(7_005_400_000_000));
        assert_eq!(parse_units("32.55652"), Some(3_255_652_000));
        assert_eq!(parse_units("7"), Some(700_000_000));
        assert_eq!(parse_units("0.00000001"), Some(1));
        assert_eq!(parse_units("1e-05"), None);
        assert_eq!(parse_units("-1.0"), None);
        assert_eq!(parse_units(".5"), None);
        assert_eq!(parse_units("1.000000001"), None);
        assert_eq!(parse_units("99999999999999999999"), None);
    }

    #[test]
    fn formats_with_eight_decimals() {
        assert_eq!(format_units(7_005_400_000_000), "70054.00000000");
        assert_eq!(format_units(1), "0.00000001");
        assert_eq!(format_units(-150_000_000), "-1.50000000");
        assert_eq!(format_units(0), "0.00000000");
        assert_eq!(format_milli(-1234), "-1.234");
        assert_eq!(format_milli(5), "0.005");
    }

    #[test]
    fn rounding() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -3);
        assert_eq!(div_round(4, 3), 1);
        assert_eq!(
            round_to_tick(7_002_525_500_000, 1_000_000),
            7_002_526_000_000
        );
        assert_eq!(round_to_tick(123, 0), 123);
    }
}
