//! Which weights run, and why: `--variant auto|fp32|int8` resolved against the CPU, the
//! installed graphs and the collection; and, for int8, signed (s8) or unsigned (u8) weights.
//!
//! * `auto` (the default): int8 where the CPU has VNNI/AMX and the int8 graphs are installed,
//!   fp32 elsewhere (on AVX2 without VNNI uint8 int8 is only ~1.5× faster and its embeddings
//!   differ more; on a GPU fp32 is the fast path). An existing collection wins: its rows'
//!   variant is used when its graphs are installed, because a query embedded by the other
//!   variant does not reliably find the same top 10 (docs/speed.md has the measurement).
//! * int8 weights: signed where the CPU has VNNI/AMX (exact re-encoding, `int8_signed`),
//!   the installed uint8 elsewhere (u8 × s8 products can saturate without VNNI).
//!
//! Pure functions: the caller detects the CPU (`cpu_features`), looks at the files and the
//! collection, and records the returned reasons (`models list`, `/healthz`, `/api/v1/stats`).

use super::cpu_features::CpuInt8;
use super::Variant;

/// `--variant`: the weights to load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum VariantChoice {
    /// int8 on a CPU with VNNI/AMX when the int8 graphs are installed, else fp32; an existing
    /// collection's variant first.
    #[default]
    Auto,
    Fp32,
    Int8,
}

impl std::fmt::Display for VariantChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VariantChoice::Auto => "auto",
            VariantChoice::Fp32 => "fp32",
            VariantChoice::Int8 => "int8",
        })
    }
}

/// What the decision can see.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub cpu: &'a CpuInt8,
    /// The model runs on a GPU (`--device cuda`, or `auto` with CUDA available).
    pub gpu: bool,
    /// image.int8.onnx and text.int8.onnx are both installed.
    pub int8_installed: bool,
    /// The variant of the rows already in the collection (`None`: empty, absent, unknown or
    /// mixed).
    pub collection: Option<Variant>,
}

/// A variant and the sentence that says why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub variant: Variant,
    pub why: String,
}

/// Resolve `--variant`.
pub fn decide(choice: VariantChoice, facts: &Facts) -> Decision {
    let d = |variant, why: String| Decision { variant, why };
    match choice {
        VariantChoice::Fp32 => d(Variant::Fp32, "--variant fp32".into()),
        VariantChoice::Int8 => d(Variant::Int8, "--variant int8".into()),
        VariantChoice::Auto => {
            if let Some(v) = facts.collection {
                if v == Variant::Fp32 || facts.int8_installed {
                    return d(
                        v,
                        format!("auto: follows the collection, whose rows are {v}"),
                    );
                }
            }
            let base = if facts.gpu {
                d(Variant::Fp32, "auto: fp32 on the GPU".into())
            } else if !facts.cpu.has_vnni() {
                d(
                    Variant::Fp32,
                    format!("auto: fp32, the CPU has {}", facts.cpu.describe()),
                )
            } else if !facts.int8_installed {
                d(
                    Variant::Fp32,
                    format!(
                        "auto: fp32, the int8 graphs are not installed (the CPU has {}, where \
                         int8 would be ~2.5× faster)",
                        facts.cpu.describe()
                    ),
                )
            } else {
                d(
                    Variant::Int8,
                    format!("auto: int8, the CPU has {}", facts.cpu.describe()),
                )
            };
            match facts.collection {
                Some(Variant::Int8) => Decision {
                    why: format!(
                        "{}; the collection's rows are int8 but the int8 graphs are not \
                         installed",
                        base.why
                    ),
                    ..base
                },
                _ => base,
            }
        }
    }
}

/// Which int8 weights run: signed (re-encoded) or the installed unsigned ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsDecision {
    pub signed: bool,
    pub why: String,
}

/// Signed int8 weights only on a CPU with VNNI/AMX (where u8 × s8 cannot saturate); never
/// for a GPU.
pub fn int8_weights(cpu: &CpuInt8, gpu: bool) -> WeightsDecision {
    if gpu {
        WeightsDecision {
            signed: false,
            why: "uint8 weights as installed (GPU)".into(),
        }
    } else if cpu.has_vnni() {
        WeightsDecision {
            signed: true,
            why: format!(
                "int8 (s8) weights: the CPU has {}, u8×s8 dot products do not saturate",
                cpu.describe()
            ),
        }
    } else {
        WeightsDecision {
            signed: false,
            why: format!(
                "uint8 weights: the CPU has {}, where u8×s8 products can saturate",
                cpu.describe()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(flags: &str) -> CpuInt8 {
        CpuInt8::forced(flags).unwrap()
    }

    fn facts<'a>(cpu: &'a CpuInt8, int8: bool, coll: Option<Variant>) -> Facts<'a> {
        Facts {
            cpu,
            gpu: false,
            int8_installed: int8,
            collection: coll,
        }
    }

    #[test]
    fn auto_is_int8_only_with_vnni_and_int8_graphs() {
        let vnni = cpu("avx512_vnni");
        let avx2 = cpu("none");
        let amx = cpu("amx_int8");
        let auto = |f: &Facts| decide(VariantChoice::Auto, f).variant;
        assert_eq!(auto(&facts(&vnni, true, None)), Variant::Int8);
        assert_eq!(auto(&facts(&amx, true, None)), Variant::Int8);
        assert_eq!(auto(&facts(&cpu("avx_vnni"), true, None)), Variant::Int8);
        assert_eq!(auto(&facts(&avx2, true, None)), Variant::Fp32);
        assert_eq!(auto(&facts(&vnni, false, None)), Variant::Fp32);
        let gpu = Facts {
            gpu: true,
            ..facts(&vnni, true, None)
        };
        assert_eq!(auto(&gpu), Variant::Fp32);
        let why = decide(VariantChoice::Auto, &facts(&avx2, true, None)).why;
        assert!(why.contains("no VNNI/AMX"), "{why}");
    }

    #[test]
    fn auto_follows_the_collection() {
        let vnni = cpu("avx512_vnni");
        let avx2 = cpu("none");
        let auto = |f: &Facts| decide(VariantChoice::Auto, f);
        let d = auto(&facts(&vnni, true, Some(Variant::Fp32)));
        assert_eq!(d.variant, Variant::Fp32);
        assert!(d.why.contains("follows the collection"), "{}", d.why);
        assert_eq!(
            auto(&facts(&avx2, true, Some(Variant::Int8))).variant,
            Variant::Int8
        );
        // int8 rows but no int8 graphs: fp32, and it says so.
        let d = auto(&facts(&vnni, false, Some(Variant::Int8)));
        assert_eq!(d.variant, Variant::Fp32);
        assert!(d.why.contains("not installed"), "{}", d.why);
        // Explicit choices are obeyed.
        assert_eq!(
            decide(
                VariantChoice::Int8,
                &facts(&avx2, true, Some(Variant::Fp32))
            )
            .variant,
            Variant::Int8
        );
        assert_eq!(
            decide(
                VariantChoice::Fp32,
                &facts(&vnni, true, Some(Variant::Int8))
            )
            .variant,
            Variant::Fp32
        );
    }

    #[test]
    fn signed_weights_never_without_vnni() {
        assert!(int8_weights(&cpu("avx512_vnni"), false).signed);
        assert!(int8_weights(&cpu("avx_vnni"), false).signed);
        assert!(int8_weights(&cpu("amx_int8"), false).signed);
        let plain = int8_weights(&cpu("none"), false);
        assert!(!plain.signed);
        assert!(plain.why.contains("saturate"), "{}", plain.why);
        assert!(!int8_weights(&cpu("avx512_vnni"), true).signed);
    }
}
