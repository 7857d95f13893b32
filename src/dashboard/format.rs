//! How the dashboard writes numbers, sizes, durations and times.

/// Bytes in binary units with one decimal ("1.5 GiB"), exact below 1 KiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A duration for people: "350 ms", "12.0 s", "4 min 5 s", "3 h 2 min".
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A time in UTC, to the second.
pub fn time(ms: u64) -> String {
    let iso = bascule_api::headers::format_iso8601(crate::s3::meta::time_of(ms));
    // "2026-11-23T10:00:00.000Z" → "2026-11-23 10:00:00 UTC"
    match iso.get(..19) {
        Some(day_time) => format!("{} UTC", day_time.replacen('T', " ", 1)),
        None => iso,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_durations_and_times_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(duration_ms(350), "350 ms");
        assert_eq!(duration_ms(12_000), "12.0 s");
        assert_eq!(duration_ms(245_000), "4 min 5 s");
        assert_eq!(duration_ms(3 * 3_600_000 + 120_000), "3 h 2 min");
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
    }
}
