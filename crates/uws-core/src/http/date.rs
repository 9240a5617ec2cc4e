//! IMF-fixdate for the `Date` response header, without a calendar crate.

const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Formats `unix_secs` as `Sun, 06 Nov 1994 08:49:37 GMT` (always 29 bytes).
///
/// The server formats this at most once per second and caches it, so clarity beats speed here.
pub fn http_date(unix_secs: u64) -> [u8; 29] {
    let days = unix_secs / 86_400;
    let secs_of_day = unix_secs % 86_400;
    // 1970-01-01 was a Thursday, hence DAYS starts at "Thu".
    let weekday = DAYS[(days % 7) as usize];
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);

    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[0..3].copy_from_slice(weekday);
    put2(&mut out[5..7], day);
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    // Years past 9999 cannot be expressed in a fixed-width IMF-fixdate; clamp rather than panic.
    let year = year.min(9999);
    put2(&mut out[12..14], year / 100);
    put2(&mut out[14..16], year % 100);
    put2(&mut out[17..19], h);
    put2(&mut out[20..22], m);
    put2(&mut out[23..25], s);
    out
}

fn put2(dst: &mut [u8], v: u64) {
    dst[0] = b'0' + (v / 10 % 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), Howard Hinnant's
/// `civil_from_days` restricted to non-negative inputs.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: u64) -> String {
        String::from_utf8(http_date(secs).to_vec()).unwrap()
    }

    #[test]
    fn epoch() {
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn rfc_example() {
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn leap_days_and_century_rules() {
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(1_709_164_800), "Thu, 29 Feb 2024 00:00:00 GMT");
        assert_eq!(fmt(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
    }

    #[test]
    fn end_of_year_and_day() {
        assert_eq!(fmt(1_704_067_199), "Sun, 31 Dec 2023 23:59:59 GMT");
        assert_eq!(fmt(1_704_067_200), "Mon, 01 Jan 2024 00:00:00 GMT");
    }

    #[test]
    fn matches_day_by_day_reference_walk() {
        // Walk 1970..2100 one day at a time with a naive calendar and compare.
        let mut days = 0u64;
        for year in 1970u64..2100 {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            let lens = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            for (mi, len) in lens.iter().enumerate() {
                for d in 1..=*len {
                    assert_eq!(civil_from_days(days), (year, mi as u64 + 1, d));
                    days += 1;
                }
            }
        }
    }

    #[test]
    fn far_future_does_not_panic() {
        assert_eq!(http_date(u64::MAX).len(), 29);
    }
}
