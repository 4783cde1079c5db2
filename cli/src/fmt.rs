//! Times and amounts as people read them in tables: UTC timestamps and major units.

/// `2026-01-01 09:30:00` (UTC) for milliseconds since the Unix epoch.
pub fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `2026-01-31`, `2026-01-31T09:30`, `2026-01-31T09:30:15` (UTC) or a number of
/// milliseconds since the Unix epoch.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("'{text}' is not a time such as 2026-01-31, 2026-01-31T09:30 (UTC) or milliseconds")
    };
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|_| bad());
    }
    let (date, clock) = text.split_once(['T', ' ']).unwrap_or((text, "00:00"));
    let mut d = date.split('-');
    let (Some(y), Some(m), Some(dd), None) = (d.next(), d.next(), d.next(), d.next()) else {
        return Err(bad());
    };
    let (y, m, dd): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        dd.parse().map_err(|_| bad())?,
    );
    let mut c = clock.split(':');
    let h: u64 = c.next().unwrap_or("0").parse().map_err(|_| bad())?;
    let min: u64 = c.next().unwrap_or("0").parse().map_err(|_| bad())?;
    let sec: u64 = c.next().unwrap_or("0").parse().map_err(|_| bad())?;
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&dd)
        || h > 23
        || min > 59
        || sec > 59
        || c.next().is_some()
    {
        return Err(bad());
    }
    let days = u64::try_from(days_from_civil(y, m, dd)).map_err(|_| bad())?;
    Ok(((days * 24 + h) * 60 + min) * 60_000 + sec * 1000)
}

/// `12.50 CNY` for 1250 minor units of ISO 4217 currency 156 (two decimals; the codes
/// posmate's simulated world uses are named, others stay numeric).
pub fn money(minor: u64, currency: u16) -> String {
    let code = match currency {
        156 => "CNY".to_owned(),
        344 => "HKD".to_owned(),
        840 => "USD".to_owned(),
        978 => "EUR".to_owned(),
        other => format!("#{other}"),
    };
    format!("{}.{:02} {code}", minor / 100, minor % 100)
}

/// `1.234 s` or `850 ms`.
pub fn duration_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_amounts_read_well() {
        assert_eq!(time(1_767_225_600_000), "2026-01-01 00:00:00");
        assert_eq!(time(1_767_225_600_000 + 86_399_000), "2026-01-01 23:59:59");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(money(1250, 156), "12.50 CNY");
        assert_eq!(money(5, 999), "0.05 #999");
        assert_eq!(duration_ms(850.4), "850 ms");
        assert_eq!(duration_ms(1234.0), "1.23 s");
        assert_eq!(parse_time("2026-01-01"), Ok(1_767_225_600_000));
        assert_eq!(
            parse_time("2026-01-01T23:59:59"),
            Ok(1_767_225_600_000 + 86_399_000)
        );
        assert_eq!(parse_time("2000-02-29 00:00"), Ok(951_782_400_000));
        assert_eq!(parse_time("1767225600000"), Ok(1_767_225_600_000));
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2026-01-01T25:00").is_err());
    }
}
