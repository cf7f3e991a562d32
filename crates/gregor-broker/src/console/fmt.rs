//! Numbers, sizes and times as the console shows them.

/// 1536 -> "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`; negative
/// (no timestamp) as "-".
pub fn time_ms(ms: i64) -> String {
    if ms < 0 {
        return "-".to_string();
    }
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03} UTC",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `YYYY-MM-DDTHH:MM[:SS]` (an HTML datetime-local value, taken as UTC) or
/// milliseconds since the epoch, to milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    let text = text.trim_end_matches('Z');
    let (date, time) = text.split_once(['T', ' '])?;
    let mut date = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.splitn(3, ':');
    let h = time.next()?.parse::<i64>().ok()?;
    let min = time.next()?.parse::<i64>().ok()?;
    let sec: f64 = match time.next() {
        Some(s) => s.parse().ok()?,
        None => 0.0,
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || min > 59 || sec >= 61.0 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    Some(days * 86_400_000 + h * 3_600_000 + min * 60_000 + (sec * 1000.0) as i64)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(time_ms(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(time_ms(1_780_000_000_123), "2026-05-28 20:26:40.123 UTC");
        assert_eq!(
            parse_time("2026-05-28T20:26:40.123"),
            Some(1_780_000_000_123)
        );
        assert_eq!(
            parse_time("2026-05-28T20:26"),
            Some(1_780_000_000_000 - 40_000)
        );
        assert_eq!(parse_time("1780000000123"), Some(1_780_000_000_123));
        assert_eq!(parse_time("2026-13-01T00:00"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(10), "10 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
