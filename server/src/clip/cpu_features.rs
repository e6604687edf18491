//! The CPU's int8 dot-product instructions, detected once at start: AVX-512 VNNI, AVX-VNNI
//! (`vpdpbusd`: u8 × s8 products summed into 32 bits, no saturation) and AMX-INT8 (tile
//! matrix multiply). They decide which int8 weights run fastest (see `variant_choice`).
//!
//! `SHIHUA_CPU_FEATURES` overrides the detection (tests, or a user who wants the other
//! kernel): a comma-separated list of the flag names below, or `none`.

/// Names as /proc/cpuinfo spells them.
pub const AVX512_VNNI: &str = "avx512_vnni";
pub const AVX_VNNI: &str = "avx_vnni";
pub const AMX_INT8: &str = "amx_int8";
/// Every flag this module knows.
pub const KNOWN: [&str; 3] = [AVX512_VNNI, AVX_VNNI, AMX_INT8];
/// The environment variable that overrides detection.
pub const OVERRIDE_ENV: &str = "SHIHUA_CPU_FEATURES";

/// What the CPU offers for int8 inference, and where that was learnt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuInt8 {
    /// The int8 dot-product flags present (a subset of [`KNOWN`], in that order).
    pub flags: Vec<&'static str>,
    /// `cpuid` (detected) or `SHIHUA_CPU_FEATURES` (forced).
    pub source: &'static str,
}

impl CpuInt8 {
    /// True where u8 × s8 products accumulate without saturation (VNNI or AMX), so signed
    /// int8 weights are both exact and fastest.
    pub fn has_vnni(&self) -> bool {
        !self.flags.is_empty()
    }

    /// `avx512_vnni, amx_int8 (cpuid)` or `no VNNI/AMX (cpuid)`.
    pub fn describe(&self) -> String {
        if self.flags.is_empty() {
            format!("no VNNI/AMX ({})", self.source)
        } else {
            format!("{} ({})", self.flags.join(", "), self.source)
        }
    }

    /// Parse a `SHIHUA_CPU_FEATURES` value: flag names separated by commas or spaces, or
    /// `none`. Unknown names are an error (a typo must not silently pick a kernel).
    pub fn forced(value: &str) -> Result<Self, String> {
        let mut flags = Vec::new();
        for word in value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            let w = word.to_ascii_lowercase();
            if w == "none" {
                continue;
            }
            match KNOWN.iter().find(|k| **k == w) {
                Some(k) if !flags.contains(k) => flags.push(*k),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "{OVERRIDE_ENV}={value:?}: unknown flag {word:?} (known: {}, or none)",
                        KNOWN.join(", ")
                    ))
                }
            }
        }
        flags.sort_by_key(|f| KNOWN.iter().position(|k| k == f));
        Ok(Self {
            flags,
            source: OVERRIDE_ENV,
        })
    }
}

/// The running CPU's flags (no override).
pub fn probe() -> CpuInt8 {
    let mut flags = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512vnni") {
            flags.push(AVX512_VNNI);
        }
        if std::arch::is_x86_feature_detected!("avxvnni") {
            flags.push(AVX_VNNI);
        }
        // AMX detection is not stable in std yet (Rust 1.95): the kernel's flag list says
        // whether the CPU has it and the OS enabled it.
        if std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|l| l.split_whitespace().any(|f| f == AMX_INT8))
        }) {
            flags.push(AMX_INT8);
        }
    }
    CpuInt8 {
        flags,
        source: "cpuid",
    }
}

/// `SHIHUA_CPU_FEATURES` if set (an unusable value is an error), else [`probe`].
pub fn detect() -> Result<CpuInt8, String> {
    match std::env::var(OVERRIDE_ENV) {
        Ok(v) if !v.trim().is_empty() => CpuInt8::forced(&v),
        _ => Ok(probe()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_override_is_parsed_strictly() {
        let none = CpuInt8::forced("none").unwrap();
        assert!(!none.has_vnni());
        assert_eq!(none.describe(), "no VNNI/AMX (SHIHUA_CPU_FEATURES)");
        let two = CpuInt8::forced("amx_int8, AVX512_VNNI").unwrap();
        assert_eq!(two.flags, [AVX512_VNNI, AMX_INT8]);
        assert!(two.has_vnni());
        let err = CpuInt8::forced("avx512vnni").unwrap_err();
        assert!(
            err.contains("unknown flag") && err.contains(AVX512_VNNI),
            "{err}"
        );
    }

    #[test]
    fn probing_agrees_with_proc_cpuinfo() {
        let cpu = probe();
        let info = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo (Linux)");
        let flags: Vec<&str> = info
            .lines()
            .find(|l| l.starts_with("flags"))
            .expect("a flags line")
            .split_whitespace()
            .collect();
        for f in KNOWN {
            assert_eq!(
                cpu.flags.contains(&f),
                flags.contains(&f),
                "{f}: cpuid and /proc/cpuinfo disagree"
            );
        }
    }
}
