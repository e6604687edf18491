//! Sizing the vector index to the collection: the IVF `nlist` chosen from the row count when
//! an index is built (unless `--nlist` is given), and the advice `shihua collection stats`
//! prints when a collection has outgrown the index it was built with.
//!
//! The rule is the usual `nlist ≈ 4·√rows` (rounded to a power of two), never below the
//! reference article's 512, so a small collection keeps the seed's index. The figures behind
//! it, and the search settings that go with it, are in docs/scale.md (measured with
//! `make bench` against Milvus standalone 2.3.5: bench/scale.py).

use super::milvus::IndexInfo;

/// The seed article's nlist, kept for collections up to 16,384 rows.
pub const MIN_NLIST: u32 = 512;
/// Milvus' upper limit for nlist.
pub const MAX_NLIST: u32 = 65_536;

/// The `nprobe` searches use when `--nprobe` is not given, for collections up to 2,048 lists.
pub const DEFAULT_NPROBE: u32 = 64;

/// `nprobe` for an IVF index of `nlist` lists when `--nprobe` is not given: 1/32 of the lists,
/// at least [`DEFAULT_NPROBE`] (64 up to nlist 2048, 128 at the 4096 lists of 1M rows, 512 at
/// 16,384). Measured at 1M rows with nlist 4096 (docs/scale.md): nprobe 128 found 0.983 of
/// the exact top 10 for photo-like queries (0.968 at 64) and 0.52 for the hardest text
/// queries (0.39 at 64), for 10 instead of 8 ms in Milvus; at 10k and 100k, 64 already found
/// 0.998 and 0.88 of the hardest.
pub fn recommended_nprobe(nlist: u32) -> u32 {
    (nlist / 32).max(DEFAULT_NPROBE)
}

/// `4·√rows` rounded to the nearest power of two, between [`MIN_NLIST`] and [`MAX_NLIST`]:
/// 512 up to ~23k rows, 1024 at 100k, 4096 at 1M, 16,384 at 10M.
pub fn recommended_nlist(rows: u64) -> u32 {
    let ideal = 4.0 * (rows as f64).sqrt();
    if ideal <= f64::from(MIN_NLIST) {
        return MIN_NLIST;
    }
    let pow2 = 2f64.powf(ideal.log2().round());
    (pow2 as u32).clamp(MIN_NLIST, MAX_NLIST)
}

/// What to do about an index that no longer fits `rows`, in words; `None` while it fits.
/// An IVF index has outgrown its collection when the recommended nlist is 2× or more its
/// own (the collection grew ~4× past what the index was sized for). Measured at 100k rows
/// (docs/scale.md): nlist 512 searched ~2× slower than the recommended 1024 at the same
/// nprobe, with no better recall. It is oversized when lists would hold fewer than 39 rows
/// each (the minimum Milvus' k-means wants per list).
pub fn advice(index: &IndexInfo, rows: u64) -> Option<String> {
    let nlist: u32 = index.params.get("nlist")?.trim_matches('"').parse().ok()?;
    let best = recommended_nlist(rows);
    let rebuild = format!(
        "rebuild it with `shihua collection index --rebuild` (nlist {best} for {rows} rows)"
    );
    if best >= nlist.saturating_mul(2) {
        return Some(format!(
            "the collection has outgrown its {} index: {rows} rows in {nlist} lists is {} rows \
             per list, so a search scans {}× more vectors than with nlist {best} at the same \
             nprobe; {rebuild}",
            index.index_type,
            rows / u64::from(nlist.max(1)),
            best / nlist.max(1)
        ));
    }
    if rows >= 10_000 && rows < 39 * u64::from(nlist) && nlist > MIN_NLIST {
        return Some(format!(
            "the {} index has more lists ({nlist}) than {rows} rows fill (Milvus wants ≥ 39 \
             rows per list); {rebuild}",
            index.index_type
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ivf(nlist: u32) -> IndexInfo {
        IndexInfo {
            index_name: "vectors".into(),
            index_type: "IVF_FLAT".into(),
            metric_type: "COSINE".into(),
            params: BTreeMap::from([("nlist".into(), nlist.to_string())]),
            state: "Finished".into(),
            indexed_rows: 0,
            total_rows: 0,
            pending_rows: 0,
        }
    }

    #[test]
    fn nprobe_is_a_32nd_of_the_lists_and_at_least_64() {
        assert_eq!(recommended_nprobe(512), 64);
        assert_eq!(recommended_nprobe(2048), 64);
        assert_eq!(recommended_nprobe(4096), 128);
        assert_eq!(recommended_nprobe(16_384), 512);
    }

    #[test]
    fn nlist_follows_four_root_n_from_the_seeds_512() {
        assert_eq!(recommended_nlist(0), 512);
        assert_eq!(recommended_nlist(401), 512);
        assert_eq!(recommended_nlist(10_000), 512);
        assert_eq!(recommended_nlist(100_000), 1024);
        assert_eq!(recommended_nlist(1_000_000), 4096);
        assert_eq!(recommended_nlist(10_000_000), 16_384);
        assert_eq!(recommended_nlist(100_000_000), 32_768);
        assert_eq!(recommended_nlist(u64::MAX), MAX_NLIST);
    }

    #[test]
    fn stats_advise_a_rebuild_only_when_the_collection_outgrew_the_index() {
        assert_eq!(advice(&ivf(512), 401), None);
        assert_eq!(advice(&ivf(512), 20_000), None);
        let grown = advice(&ivf(512), 100_000).expect("100k rows in 512 lists");
        assert!(grown.contains("nlist 1024"), "{grown}");
        assert_eq!(advice(&ivf(1024), 100_000), None);
        let grown = advice(&ivf(512), 1_000_000).expect("1M rows in 512 lists");
        assert!(
            grown.contains("outgrown") && grown.contains("nlist 4096"),
            "{grown}"
        );
        assert_eq!(advice(&ivf(4096), 1_000_000), None);
        let small = advice(&ivf(4096), 20_000).expect("20k rows in 4096 lists");
        assert!(small.contains("more lists"), "{small}");
        let mut hnsw = ivf(0);
        hnsw.params = BTreeMap::from([("M".into(), "16".into())]);
        assert_eq!(advice(&hnsw, 10_000_000), None);
    }
}
