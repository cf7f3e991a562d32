//! The two time formats `kafka-consumer-groups.sh` accepts: an ISO 8601
//! date-time (`2024-05-01T12:00:00.000`, UTC unless it ends in an offset)
//! and an ISO 8601 duration (`PT15M`, `P1DT2H`).

use anyhow::{anyhow, bail};

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn number(text: &str, what: &str) -> anyhow::Result<i64> {
    text.parse::<i64>()
        .map_err(|_| anyhow!("'{text}' is not a valid {what}"))
}

/// `YYYY-MM-DDTHH:MM:SS[.sss][Z|+HH:MM|-HH:MM]` to epoch milliseconds.
pub fn parse_datetime(text: &str) -> anyhow::Result<i64> {
    let bad = || anyhow!("--to-datetime expects YYYY-MM-DDTHH:MM:SS[.sss][Z|+HH:MM], got '{text}'");
    let (date, rest) = text.split_once('T').ok_or_else(bad)?;
    let (time, offset_ms) = if let Some(t) = rest.strip_suffix('Z') {
        (t, 0)
    } else if let Some(i) = rest.rfind(['+', '-']).filter(|&i| i >= 8) {
        let (t, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (h, m) = off[1..].split_once(':').ok_or_else(bad)?;
        (
            t,
            sign * (number(h, "hour")? * 3_600_000 + number(m, "minute")? * 60_000),
        )
    } else {
        (rest, 0)
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, mo, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (clock, millis) = match time.split_once('.') {
        Some((c, ms)) => (c, number(&format!("{ms:0<3}")[..3], "millisecond")?),
        None => (time, 0),
    };
    let hms: Vec<&str> = clock.split(':').collect();
    let [h, mi, s] = hms.as_slice() else {
        return Err(bad());
    };
    let (month, day, hour, minute, second) = (
        number(mo, "month")?,
        number(d, "day")?,
        number(h, "hour")?,
        number(mi, "minute")?,
        number(s, "second")?,
    );
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let days = days_from_civil(number(y, "year")?, month, day);
    Ok(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offset_ms)
}

/// `PnDTnHnMnS` (any part optional, seconds may have a fraction) to milliseconds.
pub fn parse_duration(text: &str) -> anyhow::Result<i64> {
    let bad =
        || anyhow!("--by-duration expects an ISO 8601 duration like PT15M or P1DT2H, got '{text}'");
    let body = text.strip_prefix('P').ok_or_else(bad)?;
    let (days_part, time_part) = body.split_once('T').unwrap_or((body, ""));
    let mut total = 0f64;
    let mut consume = |part: &str, units: &[(char, f64)]| -> anyhow::Result<()> {
        let mut digits = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                digits.push(c);
                continue;
            }
            let scale = units
                .iter()
                .find(|(u, _)| *u == c)
                .map(|(_, s)| *s)
                .ok_or_else(bad)?;
            total += digits.parse::<f64>().map_err(|_| bad())? * scale;
            digits.clear();
        }
        if digits.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    consume(days_part, &[('D', 86_400_000.0)])?;
    consume(
        time_part,
        &[('H', 3_600_000.0), ('M', 60_000.0), ('S', 1000.0)],
    )?;
    if body.is_empty() || body == "T" {
        bail!(bad());
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_are_utc_epoch_millis() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00").unwrap(), 0);
        assert_eq!(
            parse_datetime("2024-05-01T12:30:15.250").unwrap(),
            1_714_566_615_250
        );
        assert_eq!(
            parse_datetime("2024-05-01T12:30:15.250Z").unwrap(),
            1_714_566_615_250
        );
        assert_eq!(
            parse_datetime("2024-05-01T14:30:15.250+02:00").unwrap(),
            1_714_566_615_250
        );
        for bad in [
            "2024-05-01",
            "2024-13-01T00:00:00",
            "yesterday",
            "2024-05-01T25:00:00",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_add_up() {
        assert_eq!(parse_duration("PT15M").unwrap(), 900_000);
        assert_eq!(parse_duration("P1DT2H").unwrap(), 93_600_000);
        assert_eq!(parse_duration("PT0.5S").unwrap(), 500);
        for bad in ["15M", "P", "PT", "P1X", "PT5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
