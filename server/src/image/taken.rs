//! When a photo was taken, from its EXIF chunk: `DateTimeOriginal` (else `DateTimeDigitized`),
//! as seconds since the epoch. EXIF times have no zone; like the date filters
//! (`app::filters`), the camera's clock is read as UTC, so a date shown by the camera is the
//! date the filters see. A blank, zero or impossible date is no date (the indexer then falls
//! back to the file's mtime and says so in the row).

use exif::{In, Reader, Tag, Value};

/// The time a photo was taken according to its raw EXIF chunk (TIFF-structured, as
/// `image::ImageDecoder::exif_metadata` returns it), or `None`.
pub fn taken_at(exif_chunk: &[u8]) -> Option<i64> {
    let exif = Reader::new().read_raw(exif_chunk.to_vec()).ok()?;
    [Tag::DateTimeOriginal, Tag::DateTimeDigitized]
        .into_iter()
        .find_map(|tag| {
            let field = exif.get_field(tag, In::PRIMARY)?;
            let Value::Ascii(ref parts) = field.value else {
                return None;
            };
            let dt = exif::DateTime::from_ascii(parts.first()?).ok()?;
            let valid = (1..=9999).contains(&dt.year)
                && (1..=12).contains(&dt.month)
                && (1..=31).contains(&dt.day)
                && dt.hour < 24
                && dt.minute < 60
                && dt.second < 61;
            valid.then(|| {
                app::filters::epoch_seconds(
                    i64::from(dt.year),
                    u32::from(dt.month),
                    u32::from(dt.day),
                    u32::from(dt.hour),
                    u32::from(dt.minute),
                    u32::from(dt.second),
                )
            })
        })
}

/// A raw EXIF chunk (little-endian TIFF) holding `DateTimeOriginal = when` (`YYYY:MM:DD
/// HH:MM:SS`), for tests that make photos with a known date.
#[doc(hidden)]
pub fn exif_chunk_with_date(when: &str) -> Vec<u8> {
    use exif::experimental::Writer;
    let field = exif::Field {
        tag: Tag::DateTimeOriginal,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![when.as_bytes().to_vec()]),
    };
    let mut writer = Writer::new();
    writer.push_field(&field);
    let mut out = std::io::Cursor::new(Vec::new());
    writer
        .write(&mut out, true)
        .expect("an EXIF chunk with one date");
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_taken_is_read_as_utc() {
        let chunk = exif_chunk_with_date("2019:05:03 14:30:05");
        assert_eq!(taken_at(&chunk), Some(1_556_893_805));
    }

    #[test]
    fn blank_zero_and_garbage_dates_are_no_date() {
        for bad in [
            "0000:00:00 00:00:00",
            "    :  :     :  :  ",
            "2019:13:03 14:30:05",
            "soon",
        ] {
            assert_eq!(taken_at(&exif_chunk_with_date(bad)), None, "{bad:?}");
        }
        assert_eq!(taken_at(b"not exif"), None);
        assert_eq!(taken_at(&[]), None);
    }
}
