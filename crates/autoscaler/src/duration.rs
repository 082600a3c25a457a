//! Go's `time.ParseDuration` / `Duration.String` and `%v` of a float64. Knative's
//! ConfigMap values and annotations are Go durations ("60s", "1m30s", "500ms") and
//! its error messages print values the Go way ("1h0m0s"), so both directions are
//! reproduced exactly.

use std::time::Duration;

/// A parsed Go duration in nanoseconds; negative values are legal Go durations
/// ("-5s") that the validators then refuse with Knative's own messages.
pub type Nanos = i64;

const NS: u64 = 1;
const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const M: u64 = 60 * S;
const H: u64 = 60 * M;

/// Go's `strconv.Quote`-like quoting used by the `time` package's errors.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => NS,
        "us" | "\u{b5}s" | "\u{3bc}s" => US,
        "ms" => MS,
        "s" => S,
        "m" => M,
        "h" => H,
        _ => return None,
    })
}

/// Parses a duration the way Go's `time.ParseDuration` does ("300ms", "-1.5h",
/// "2h45m"), with Go's error messages (`time: invalid duration "x"`,
/// `time: missing unit in duration "1"`, `time: unknown unit "d" in duration "1d"`).
pub fn parse_go_duration(input: &str) -> Result<Nanos, String> {
    let invalid = || format!("time: invalid duration {}", quote(input));
    let mut s = input;
    let mut neg = false;
    if let Some(c) = s.chars().next() {
        if c == '-' || c == '+' {
            neg = c == '-';
            s = &s[1..];
        }
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let bytes = s.as_bytes();
        if !(bytes[0] == b'.' || bytes[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &b in &bytes[..int_len] {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .filter(|v| *v <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        let pre = int_len > 0;
        s = &s[int_len..];
        // Fractional part.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.starts_with('.') {
            s = &s[1..];
            let frac_len = s.bytes().take_while(|b| b.is_ascii_digit()).count();
            let mut overflow = false;
            for b in s[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                match frac
                    .checked_mul(10)
                    .and_then(|f| f.checked_add(u64::from(b - b'0')))
                    .filter(|f| *f <= 1 << 63)
                {
                    Some(f) => {
                        frac = f;
                        scale *= 10.0;
                    }
                    None => overflow = true,
                }
            }
            post = frac_len > 0;
            s = &s[frac_len..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let unit_len = s
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(input)));
        }
        let unit_str = &s[..unit_len];
        s = &s[unit_len..];
        let unit = unit_nanos(unit_str).ok_or_else(|| {
            format!(
                "time: unknown unit {} in duration {}",
                quote(unit_str),
                quote(input)
            )
        })?;
        if v > (1 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        total = total
            .checked_add(v)
            .filter(|t| *t <= 1 << 63)
            .ok_or_else(invalid)?;
    }
    if neg {
        return Ok((total as i128).wrapping_neg() as i64);
    }
    if total > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(total as i64)
}

/// Formats `frac` (the low `prec` digits of a value) as ".123", dropping trailing
/// zeros, or nothing when it is zero — Go's `fmtFrac`.
fn push_frac(out: &mut String, mut v: u64, prec: u32) -> u64 {
    let mut digits = Vec::new();
    let mut print = false;
    for _ in 0..prec {
        let digit = v % 10;
        print = print || digit != 0;
        if print {
            digits.push(char::from(b'0' + digit as u8));
        }
        v /= 10;
    }
    if print {
        digits.push('.');
    }
    digits.reverse();
    out.extend(digits);
    v
}

/// Formats nanoseconds like Go's `Duration.String`: "0s", "500ms", "1.5µs",
/// "1m0s", "1h0m0s", "-2s".
pub fn format_go_nanos(d: Nanos) -> String {
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < S {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            u if u < US => (0, "ns"),
            u if u < MS => (3, "\u{b5}s"),
            _ => (6, "ms"),
        };
        let mut frac = String::new();
        let int = push_frac(&mut frac, u, prec);
        out.push_str(&int.to_string());
        out.push_str(&frac);
        out.push_str(unit);
    } else {
        let mut frac = String::new();
        let secs = push_frac(&mut frac, u, 9);
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        if h > 0 {
            out.push_str(&format!("{h}h{m}m"));
        } else if secs >= 60 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// [`format_go_nanos`] for a std `Duration`.
pub fn format_go_duration(d: Duration) -> String {
    format_go_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Go's `%v` (shortest `%g`) rendering of a float64: "100", "0.7", "1e+21", "+Inf".
pub(crate) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        // Rust writes "1e21" / "1.5e-5"; Go writes "1e+21" / "1.5e-05".
        let s = format!("{v:e}");
        if let Some((mantissa, exp)) = s.split_once('e') {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            return format!("{mantissa}e{sign}{digits:0>2}");
        }
        return s;
    }
    format!("{v}")
}

/// Nanoseconds as a std `Duration`, clamping negatives to zero.
pub(crate) fn nanos_to_duration(n: Nanos) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("60s"), Ok(60 * S as i64));
        assert_eq!(parse_go_duration("1m30s"), Ok(90 * S as i64));
        assert_eq!(parse_go_duration("500ms"), Ok(500 * MS as i64));
        assert_eq!(parse_go_duration("1.5h"), Ok(5400 * S as i64));
        assert_eq!(parse_go_duration("-5s"), Ok(-5 * S as i64));
        assert_eq!(parse_go_duration("+2m"), Ok(120 * S as i64));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(parse_go_duration(".5s"), Ok(500 * MS as i64));
        assert_eq!(parse_go_duration("1\u{b5}s"), Ok(1000));
        assert_eq!(
            parse_go_duration("2h45m0.5s"),
            Ok((9900 * S + 500 * MS) as i64)
        );
    }

    #[test]
    fn go_duration_errors() {
        assert_eq!(
            parse_go_duration("nope").unwrap_err(),
            "time: invalid duration \"nope\""
        );
        assert_eq!(
            parse_go_duration("60").unwrap_err(),
            "time: missing unit in duration \"60\""
        );
        assert_eq!(
            parse_go_duration("1d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"1d\""
        );
        assert_eq!(
            parse_go_duration("").unwrap_err(),
            "time: invalid duration \"\""
        );
        assert_eq!(
            parse_go_duration(".s").unwrap_err(),
            "time: invalid duration \".s\""
        );
        assert!(parse_go_duration("9999999999999h").is_err());
    }

    #[test]
    fn formats_like_go() {
        for (n, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5\u{b5}s"),
            (500 * MS as i64, "500ms"),
            (S as i64, "1s"),
            (60 * S as i64, "1m0s"),
            (90 * S as i64, "1m30s"),
            (3600 * S as i64, "1h0m0s"),
            (7261 * S as i64 + 500 * MS as i64, "2h1m1.5s"),
            (-5 * S as i64, "-5s"),
        ] {
            assert_eq!(format_go_nanos(n), want, "{n}");
        }
        assert_eq!(format_go_duration(Duration::from_secs(6)), "6s");
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(100.0), "100");
        assert_eq!(go_float(0.7), "0.7");
        assert_eq!(go_float(0.01), "0.01");
        assert_eq!(go_float(-1.0), "-1");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.5e-5), "1.5e-05");
        assert_eq!(go_float(f64::INFINITY), "+Inf");
    }
}
