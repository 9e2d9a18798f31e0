//! The HTTP status codes an http or https check accepts, as keepalived's `status_code`: single
//! codes and inclusive ranges ("200-299"), any number of each.

use std::fmt;
use std::ops::RangeInclusive;

/// The lowest and highest status code a check may name (keepalived's HTTP_STATUS_CODE_MIN/MAX).
pub const STATUS_MIN: u16 = 100;
pub const STATUS_MAX: u16 = 599;

/// A non-empty set of status codes, kept as sorted, merged ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCodes {
    ranges: Vec<RangeInclusive<u16>>,
}

impl StatusCodes {
    /// The codes of `ranges` (each within `STATUS_MIN..=STATUS_MAX`, low ≤ high); `None` when
    /// there are none.
    pub fn new(ranges: impl IntoIterator<Item = RangeInclusive<u16>>) -> Option<StatusCodes> {
        let mut ranges: Vec<RangeInclusive<u16>> = ranges.into_iter().filter(|r| !r.is_empty()).collect();
        ranges.sort_by_key(|r| *r.start());
        let mut merged: Vec<RangeInclusive<u16>> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                // Overlapping or adjacent: one range.
                Some(last) if *range.start() <= last.end().saturating_add(1) => {
                    *last = *last.start()..=(*last.end()).max(*range.end());
                }
                _ => merged.push(range),
            }
        }
        (!merged.is_empty()).then_some(StatusCodes { ranges: merged })
    }

    /// One code.
    pub fn single(code: u16) -> StatusCodes {
        StatusCodes { ranges: vec![code..=code] }
    }

    pub fn contains(&self, code: u16) -> bool {
        self.ranges.iter().any(|range| range.contains(&code))
    }

    /// Reads one item of a `status` value: "200" or "200-299".
    pub fn parse_item(text: &str) -> Result<RangeInclusive<u16>, String> {
        let number = |part: &str| -> Result<u16, String> {
            let part = part.trim();
            match part.parse::<u16>() {
                Ok(code) if (STATUS_MIN..=STATUS_MAX).contains(&code) => Ok(code),
                _ => Err(format!(
                    "bad status {text:?}: expected a code from {STATUS_MIN} to {STATUS_MAX} or a range such as \"200-299\""
                )),
            }
        };
        match text.split_once('-') {
            Some((low, high)) => {
                let (low, high) = (number(low)?, number(high)?);
                if low > high {
                    return Err(format!("bad status range {text:?}: {low} is above {high}"));
                }
                Ok(low..=high)
            }
            None => number(text).map(|code| code..=code),
        }
    }
}

impl Default for StatusCodes {
    /// 200 alone: ulvs's default since its first http check (keepalived's is 200-299).
    fn default() -> StatusCodes {
        StatusCodes::single(200)
    }
}

/// `[200]`, `[200-299, 404]`.
impl fmt::Display for StatusCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (index, range) in self.ranges.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            if range.start() == range.end() {
                write!(f, "{}", range.start())?;
            } else {
                write!(f, "{}-{}", range.start(), range.end())?;
            }
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_codes_or_ranges_within_100_to_599() {
        assert_eq!(StatusCodes::parse_item("200"), Ok(200..=200));
        assert_eq!(StatusCodes::parse_item("200-299"), Ok(200..=299));
        assert_eq!(StatusCodes::parse_item("100-599"), Ok(100..=599));
        for bad in ["99", "600", "2xx", "", "-", "200-", "-299", "300-200", "200-299-300", "0x1f4"] {
            assert!(StatusCodes::parse_item(bad).is_err(), "{bad:?} accepted");
        }
        assert!(StatusCodes::parse_item("300-200").unwrap_err().contains("300 is above 200"));
    }

    #[test]
    fn ranges_merge_and_match_like_keepalived_s_bit_array() {
        // keepalived sets one bit per code; ulvs keeps ranges: the same set, whatever the order.
        let codes = StatusCodes::new([404..=404, 200..=204, 205..=299, 250..=260, 503..=503]).unwrap();
        assert_eq!(codes.to_string(), "[200-299, 404, 503]");
        for (code, expected) in [(199, false), (200, true), (204, true), (205, true), (299, true), (300, false)] {
            assert_eq!(codes.contains(code), expected, "{code}");
        }
        assert!(codes.contains(404) && codes.contains(503) && !codes.contains(502));
        assert_eq!(StatusCodes::default().to_string(), "[200]");
        assert_eq!(StatusCodes::new([]), None);
    }
}
