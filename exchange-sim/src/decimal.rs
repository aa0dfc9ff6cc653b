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
    let mut out = String::new();
    write_units(&mut out, units);
    out
}

/// Appends [`format_units`]'s text to `out`.
pub(crate) fn write_units(out: &mut String, units: i128) {
    use std::fmt::Write as _;
    let sign = if units < 0 { "-" } else { "" };
    let abs = units.unsigned_abs();
    // Every served value fits in 64 bits: 128-bit division and formatting are several
    // times slower, and this runs for several fields of every candle served.
    match u64::try_from(abs) {
        Ok(abs) => {
            let scale = SCALE.unsigned_abs();
            out.push_str(sign);
            write_digits(out, abs / scale, 1);
            out.push('.');
            write_digits(out, abs % scale, 8);
        }
        Err(_) => {
            let scale = u128::from(SCALE.unsigned_abs());
            let _ = write!(out, "{sign}{}.{:08}", abs / scale, abs % scale);
        }
    }
}

/// Appends the decimal digits of `v`, left-padded with zeros to at least `width` digits
/// (at most 20), through `itoa`: `write!` with a format spec goes through the formatter's
/// padding for every field of every candle served.
pub(crate) fn write_digits(out: &mut String, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    for _ in digits.len()..width.min(20) {
        out.push('0');
    }
    out.push_str(digits);
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
        assert_eq!(format_units(i128::from(u64::MAX)), "184467440737.09551615");
        let mut digits = String::new();
        write_digits(&mut digits, 0, 1);
        write_digits(&mut digits, 42, 5);
        write_digits(&mut digits, 1234, 2);
        write_digits(&mut digits, u64::MAX, 1);
        assert_eq!(digits, "000042123418446744073709551615");
        // Past 64 bits: the 128-bit path gives the same shape.
        assert_eq!(
            format_units(i128::from(u64::MAX) * 10 + 7),
            "1844674407370.95516157"
        );
        assert_eq!(
            format_units(-(i128::from(u64::MAX) + 1)),
            "-184467440737.09551616"
        );
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
