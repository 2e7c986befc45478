//! [`check_cpu`]: refuse to start on a CPU the build cannot run on.
//!
//! With the default `simd-accel` feature, `reed-solomon-erasure` compiles its C kernels
//! with `-march=haswell` on x86-64 and calls them without any runtime check. On a CPU
//! without AVX2 (and the other Haswell extensions the compiler may then use) the first
//! encode dies of `SIGILL`. Daemons call [`check_cpu`] at start-up to fail with a clear
//! message instead; [`crate::codec_for`] calls it too, so no codec is ever built on such
//! a CPU. Without the feature (`--no-default-features`), the portable Rust kernels run
//! everywhere and the check always passes.

use crate::error::EcError;

/// Checks that this CPU has every instruction-set extension the build was compiled to
/// require. Call it once at daemon start-up, before any coding.
///
/// # Errors
/// [`EcError::CpuLacksFeature`] naming the first missing extension (`"avx2"`...).
pub fn check_cpu() -> Result<(), EcError> {
    #[cfg(all(feature = "simd-accel", target_arch = "x86_64"))]
    {
        // What `-march=haswell` lets the C compiler emit.
        let required = [
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("avx", std::arch::is_x86_feature_detected!("avx")),
            ("fma", std::arch::is_x86_feature_detected!("fma")),
            ("bmi1", std::arch::is_x86_feature_detected!("bmi1")),
            ("bmi2", std::arch::is_x86_feature_detected!("bmi2")),
            ("lzcnt", std::arch::is_x86_feature_detected!("lzcnt")),
            ("movbe", std::arch::is_x86_feature_detected!("movbe")),
            ("popcnt", std::arch::is_x86_feature_detected!("popcnt")),
            ("f16c", std::arch::is_x86_feature_detected!("f16c")),
            ("sse4.2", std::arch::is_x86_feature_detected!("sse4.2")),
        ];
        if let Some((feature, _)) = required.iter().find(|(_, present)| !present) {
            return Err(EcError::CpuLacksFeature { feature });
        }
    }
    Ok(())
}

/// True when the build uses the SIMD kernels (feature `simd-accel`), for start-up logs.
pub fn simd_enabled() -> bool {
    cfg!(feature = "simd-accel")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_passes() {
        // The test suite itself runs the kernels, so the machine must support them.
        check_cpu().expect("CPU supports the build");
        assert_eq!(simd_enabled(), cfg!(feature = "simd-accel"));
    }
}
