//! Search filters (`in=`, `from=`, `to=`, `orient=`): what they are in a URL, how their values
//! are checked, and the shared facts behind them — a photo's orientation from its size, and
//! calendar dates as seconds since the epoch. The server turns checked filters into one Milvus
//! expression (`server/src/store/filter.rs`); a value that does not pass [`Filters::check`]
//! never gets there.
//!
//! Dates are calendar dates without a time zone, read as UTC: `from=2019-05` starts at
//! 2019-05-01 00:00:00 UTC, `to=2019-05` ends before 2019-06-01 00:00:00 UTC. The date a photo
//! was taken (EXIF DateTimeOriginal, which has no zone either) is stored the same way, so a
//! photo taken at 23:30 on the camera's clock on 3 May is in `to=2019-05-03` wherever it was.

use serde::{Deserialize, Serialize};

/// The URL parameters that filter a search, in the order links write them.
pub const FILTER_KEYS: [&str; 4] = ["in", "from", "to", "orient"];
/// Longest folder accepted in `in=` (characters).
pub const MAX_FOLDER_CHARS: usize = 200;
/// How much of a refused value an error message repeats.
const ECHO_CHARS: usize = 40;

/// The filters of a search as the URL carries them (`None`: not filtered). Values are kept as
/// given; [`Filters::check`] says whether they are usable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// A folder as the site shows paths (relative to the indexed folder, e.g. `2019/杭州`).
    #[serde(rename = "in", default)]
    pub folder: Option<String>,
    /// Taken on or after this date (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`).
    #[serde(default)]
    pub from: Option<String>,
    /// Taken on or before this date (the whole year, month or day).
    #[serde(default)]
    pub to: Option<String>,
    /// `landscape`, `portrait` or `square`.
    #[serde(default)]
    pub orient: Option<String>,
}

/// A photo's orientation, from its (upright) size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Orient {
    /// Wider than tall.
    Landscape,
    /// Taller than wide.
    Portrait,
    /// Exactly as wide as tall.
    Square,
}

impl Orient {
    pub const ALL: [Orient; 3] = [Orient::Landscape, Orient::Portrait, Orient::Square];

    /// The orientation of a `width` × `height` picture.
    pub fn of(width: u32, height: u32) -> Orient {
        match width.cmp(&height) {
            std::cmp::Ordering::Greater => Orient::Landscape,
            std::cmp::Ordering::Less => Orient::Portrait,
            std::cmp::Ordering::Equal => Orient::Square,
        }
    }

    /// The value in URLs and in the stored rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Orient::Landscape => "landscape",
            Orient::Portrait => "portrait",
            Orient::Square => "square",
        }
    }

    pub fn parse(s: &str) -> Option<Orient> {
        Orient::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// A folder filter that passed the checks: its components, none empty, `.` or `..`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folder {
    /// Written from the root (`/srv/photos`): only where paths are shown absolute.
    pub absolute: bool,
    pub parts: Vec<String>,
}

impl Folder {
    /// The folder as text, without a trailing `/` (`2019/杭州`, `/srv/photos`).
    pub fn as_path(&self) -> String {
        let joined = self.parts.join("/");
        if self.absolute {
            format!("/{joined}")
        } else {
            joined
        }
    }
}

/// Filters that passed the checks, typed: what the server builds its expression from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckedFilters {
    pub folder: Option<Folder>,
    /// Taken at or after this many seconds since the epoch (UTC).
    pub taken_from: Option<i64>,
    /// Taken before this many seconds since the epoch (UTC): the end of `to=`, exclusive.
    pub taken_before: Option<i64>,
    pub orient: Option<Orient>,
}

impl CheckedFilters {
    pub fn is_empty(&self) -> bool {
        self == &CheckedFilters::default()
    }
}

/// Why a filter value is refused. The message is for the visitor, in both languages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "文件夹 {0:?} 无效：请写网站上显示的文件夹，例如 2019/杭州（不含 . 或 ..，最多 {MAX_FOLDER_CHARS} 字，不含控制字符） · \
         in= must be a folder as the site shows it, e.g. 2019/杭州 (no . or .. parts, at most {MAX_FOLDER_CHARS} characters, no control characters), not {0:?}"
    )]
    BadFolder(String),
    #[error(
        "日期 {key}={value:?} 无效：请写 YYYY、YYYY-MM 或 YYYY-MM-DD · \
         {key}= must be a date written YYYY, YYYY-MM or YYYY-MM-DD, not {value:?}"
    )]
    BadDate { key: &'static str, value: String },
    #[error("起始日期 {from} 晚于结束日期 {to} · from={from} is after to={to}")]
    Reversed { from: String, to: String },
    #[error(
        "方向 {0:?} 无效：请选 landscape（横）、portrait（竖）或 square（方） · \
         orient= must be landscape, portrait or square, not {0:?}"
    )]
    BadOrient(String),
}

/// The start of a value, for an error message.
fn echo(s: &str) -> String {
    let mut out: String = s.chars().take(ECHO_CHARS).collect();
    if s.chars().count() > ECHO_CHARS {
        out.push('…');
    }
    out
}

impl Filters {
    /// The filters URL parameters name; empty values count as absent.
    pub fn from_params(get: impl Fn(&str) -> Option<String>) -> Filters {
        let value = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Filters {
            folder: value("in"),
            from: value("from"),
            to: value("to"),
            orient: value("orient"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// The filters as URL parameters (`FILTER_KEYS` order), only those that are set.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("in", &self.folder),
            ("from", &self.from),
            ("to", &self.to),
            ("orient", &self.orient),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    /// Checks every value and types it; the first unusable one is the error.
    pub fn check(&self) -> Result<CheckedFilters, FilterError> {
        let folder = self.folder.as_deref().map(check_folder).transpose()?;
        let from = self
            .from
            .as_deref()
            .map(|v| parse_date("from", v))
            .transpose()?;
        let to = self
            .to
            .as_deref()
            .map(|v| parse_date("to", v))
            .transpose()?;
        if let (Some(f), Some(t)) = (&from, &to) {
            if f.start() >= t.end() {
                return Err(FilterError::Reversed {
                    from: echo(self.from.as_deref().unwrap_or_default()),
                    to: echo(self.to.as_deref().unwrap_or_default()),
                });
            }
        }
        let orient = self
            .orient
            .as_deref()
            .map(|v| Orient::parse(v.trim()).ok_or_else(|| FilterError::BadOrient(echo(v))))
            .transpose()?;
        Ok(CheckedFilters {
            folder,
            taken_from: from.map(|d| d.start()),
            taken_before: to.map(|d| d.end()),
            orient,
        })
    }
}

fn check_folder(v: &str) -> Result<Folder, FilterError> {
    let bad = || FilterError::BadFolder(echo(v));
    let v = v.trim();
    if v.chars().count() > MAX_FOLDER_CHARS || v.chars().any(char::is_control) {
        return Err(bad());
    }
    let absolute = v.starts_with('/');
    let parts: Vec<String> = v
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    if parts.is_empty() && !absolute {
        return Err(bad());
    }
    if parts.iter().any(|p| p == "." || p == "..") {
        return Err(bad());
    }
    Ok(Folder { absolute, parts })
}

/// A date as `from=`/`to=` write it: a year, a month or a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DateBound {
    year: i64,
    month: Option<u32>,
    day: Option<u32>,
}

impl DateBound {
    /// The first second it covers (UTC).
    fn start(&self) -> i64 {
        epoch_seconds(
            self.year,
            self.month.unwrap_or(1),
            self.day.unwrap_or(1),
            0,
            0,
            0,
        )
    }

    /// The first second after it (UTC).
    fn end(&self) -> i64 {
        match (self.month, self.day) {
            (Some(m), Some(d)) => epoch_seconds(self.year, m, d, 0, 0, 0) + 86_400,
            (Some(12), None) => epoch_seconds(self.year + 1, 1, 1, 0, 0, 0),
            (Some(m), None) => epoch_seconds(self.year, m + 1, 1, 0, 0, 0),
            (None, _) => epoch_seconds(self.year + 1, 1, 1, 0, 0, 0),
        }
    }
}

fn parse_date(key: &'static str, v: &str) -> Result<DateBound, FilterError> {
    let bad = || FilterError::BadDate {
        key,
        value: echo(v),
    };
    let digits = |s: &str, n: usize| -> Option<u32> {
        (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut parts = v.trim().split('-');
    let year = parts.next().and_then(|y| digits(y, 4)).ok_or_else(bad)?;
    let month = parts
        .next()
        .map(|m| digits(m, 2).ok_or_else(bad))
        .transpose()?;
    let day = parts
        .next()
        .map(|d| digits(d, 2).ok_or_else(bad))
        .transpose()?;
    if parts.next().is_some() || year == 0 {
        return Err(bad());
    }
    if let Some(m) = month {
        if !(1..=12).contains(&m) {
            return Err(bad());
        }
        if let Some(d) = day {
            if d == 0 || d > days_in_month(i64::from(year), m) {
                return Err(bad());
            }
        }
    }
    Ok(DateBound {
        year: i64::from(year),
        month,
        day,
    })
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Seconds since 1970-01-01 00:00:00 UTC of a calendar date and time read as UTC (proleptic
/// Gregorian; negative before 1970). The one conversion for both the filters and the dates
/// stored at index time.
pub fn epoch_seconds(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> i64 {
    // Days from civil (H. Hinnant): years start in March, so the leap day ends a year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(hour) * 3600 + i64::from(min) * 60 + i64::from(sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        Filters::from_params(|k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn epoch_seconds_match_known_dates() {
        assert_eq!(epoch_seconds(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(epoch_seconds(2000, 3, 1, 0, 0, 0), 951_868_800);
        assert_eq!(epoch_seconds(2019, 5, 3, 14, 30, 5), 1_556_893_805);
        assert_eq!(epoch_seconds(1969, 12, 31, 23, 59, 59), -1);
        assert_eq!(
            epoch_seconds(2024, 2, 29, 0, 0, 0) + 86_400,
            epoch_seconds(2024, 3, 1, 0, 0, 0)
        );
    }

    #[test]
    fn dates_cover_a_year_a_month_or_a_day() {
        let c = filters(&[("from", "2019"), ("to", "2019")])
            .check()
            .unwrap();
        assert_eq!(c.taken_from, Some(epoch_seconds(2019, 1, 1, 0, 0, 0)));
        assert_eq!(c.taken_before, Some(epoch_seconds(2020, 1, 1, 0, 0, 0)));
        let c = filters(&[("from", "2019-12"), ("to", "2019-12")])
            .check()
            .unwrap();
        assert_eq!(c.taken_from, Some(epoch_seconds(2019, 12, 1, 0, 0, 0)));
        assert_eq!(c.taken_before, Some(epoch_seconds(2020, 1, 1, 0, 0, 0)));
        let c = filters(&[("to", "2024-02-29")]).check().unwrap();
        assert_eq!(c.taken_from, None);
        assert_eq!(c.taken_before, Some(epoch_seconds(2024, 3, 1, 0, 0, 0)));
        let c = filters(&[("to", "2019-02")]).check().unwrap();
        assert_eq!(c.taken_before, Some(epoch_seconds(2019, 3, 1, 0, 0, 0)));
    }

    #[test]
    fn bad_dates_are_refused_with_the_key() {
        for bad in [
            "19",
            "2019-5",
            "2019-13",
            "2019-00",
            "2019-02-29",
            "2019-04-31",
            "0000",
            "２０１９",
            "2019-05-03-01",
            "2019/05",
            "x",
            "2019-05-03T00:00",
            "-2019",
        ] {
            let err = filters(&[("from", bad)]).check().unwrap_err();
            assert!(
                matches!(err, FilterError::BadDate { key: "from", .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains("YYYY-MM-DD"), "{err}");
        }
        let err = filters(&[("from", "2020"), ("to", "2019-12-31")])
            .check()
            .unwrap_err();
        assert!(matches!(err, FilterError::Reversed { .. }), "{err}");
        // The same day is a range of one day.
        assert!(filters(&[("from", "2019-05-03"), ("to", "2019-05-03")])
            .check()
            .is_ok());
    }

    #[test]
    fn folders_are_split_and_checked() {
        let c = filters(&[("in", " 2019/杭州/ ")]).check().unwrap();
        let f = c.folder.unwrap();
        assert_eq!((f.absolute, f.as_path()), (false, "2019/杭州".to_owned()));
        let f = filters(&[("in", "/srv//photos")])
            .check()
            .unwrap()
            .folder
            .unwrap();
        assert_eq!((f.absolute, f.as_path()), (true, "/srv/photos".to_owned()));
        // Quotes, backslashes and words of the expression language are just characters here:
        // the expression builder escapes them.
        for odd in [
            r#"a" or "1"="1"#,
            r"back\slash",
            "x or id > 0",
            "[1,2]",
            "100%_done",
        ] {
            let f = filters(&[("in", odd)]).check().unwrap().folder.unwrap();
            assert_eq!(f.parts.concat(), odd.replace('/', ""), "{odd}");
        }
        for bad in ["..", "a/../b", "./a", "a\nb", "a\u{0}b", "/"] {
            let got = filters(&[("in", bad)]).check();
            if bad == "/" {
                // The root is a folder too (where paths are shown absolute).
                assert!(got.unwrap().folder.unwrap().parts.is_empty());
                continue;
            }
            assert!(matches!(got, Err(FilterError::BadFolder(_))), "{bad:?}");
        }
        let long = "长".repeat(MAX_FOLDER_CHARS + 1);
        let err = filters(&[("in", &long)]).check().unwrap_err();
        assert!(
            err.to_string().chars().count() < 600,
            "the message stays short"
        );
    }

    #[test]
    fn orientations() {
        assert_eq!(Orient::of(4, 3), Orient::Landscape);
        assert_eq!(Orient::of(3, 4), Orient::Portrait);
        assert_eq!(Orient::of(5, 5), Orient::Square);
        let c = filters(&[("orient", "portrait")]).check().unwrap();
        assert_eq!(c.orient, Some(Orient::Portrait));
        assert!(matches!(
            filters(&[("orient", "Portrait\" or 1")]).check(),
            Err(FilterError::BadOrient(_))
        ));
    }

    #[test]
    fn empty_values_are_no_filter() {
        let f = filters(&[("in", " "), ("from", ""), ("orient", "square")]);
        assert_eq!(f.pairs(), vec![("orient", "square")]);
        assert!(filters(&[]).is_empty());
        assert!(filters(&[]).check().unwrap().is_empty());
    }
}
