//! Runtime CPU dispatch: each kernel body is compiled three times (AVX-512, AVX2+FMA, baseline)
//! and the widest one the running CPU supports is called.
//!
//! The bodies are plain Rust loops over fixed-width lane arrays, which LLVM vectorises to the
//! enabled vector width. On the FMA paths products are fused (`mul_add`), so results can differ in
//! the last bit between CPUs, but never between runs or thread counts on one machine.

/// Which instruction set the kernels use on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F with FMA.
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// The compilation target's baseline (SSE2 on x86-64), no FMA.
    Baseline,
}

/// Detects the widest supported instruction set once.
pub fn detect_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::env::var_os("SET_LSTM_FORCE_BASELINE").is_some() {
            return Isa::Baseline;
        }
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            return Isa::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// The ISA in use, detected on first call.
pub fn isa() -> Isa {
    static ISA: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *ISA.get_or_init(detect_isa)
}

/// `acc + a * b`, fused when `FMA` (only instantiate `FMA = true` inside FMA-enabled functions).
#[inline(always)]
pub fn madd<T: crate::Scalar, const FMA: bool>(acc: T, a: T, b: T) -> T {
    if FMA { a.mul_add(b, acc) } else { acc + a * b }
}

/// Defines `$name(args)` that dispatches to `$body::<T, FMA>(args)` compiled for each ISA.
///
/// `$body` must be `#[inline(always)]` and free of closures in its hot loop (closures are
/// compiled without the dispatched target features).
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident<$t:ident>($($arg:ident : $ty:ty),* $(,)?) => $body:ident) => {
        $(#[$m])*
        $vis fn $name<$t: $crate::Scalar>($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512<$t: $crate::Scalar>($($arg: $ty),*) {
                    $body::<$t, true>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2<$t: $crate::Scalar>($($arg: $ty),*) {
                    $body::<$t, true>($($arg),*)
                }
                match $crate::simd::isa() {
                    // SAFETY: `isa()` confirmed the CPU supports these features.
                    $crate::simd::Isa::Avx512 => return unsafe { avx512::<$t>($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::Isa::Avx2 => return unsafe { avx2::<$t>($($arg),*) },
                    $crate::simd::Isa::Baseline => {}
                }
            }
            $body::<$t, false>($($arg),*)
        }
    };
}
pub(crate) use crate::multiversion as dispatch;
