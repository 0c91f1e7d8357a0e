//! Facts about the process and machine for manifests and summaries: peak memory, CPU features,
//! git revision.

use serde::Serialize;
use std::path::Path;

/// Peak resident set size (`VmHWM` of `/proc/self/status`) in bytes; `None` where unavailable.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The instruction-set facts recorded in manifests.
#[derive(Debug, Clone, Serialize)]
pub struct Isa {
    /// `std::env::consts::ARCH`.
    pub arch: &'static str,
    /// `std::env::consts::OS`.
    pub os: &'static str,
    /// Detected SIMD features relevant to the kernels.
    pub features: Vec<&'static str>,
}

/// Detects the CPU features at run time.
pub fn isa() -> Isa {
    #[allow(unused_mut)]
    let mut features = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detect {
            ($($f:tt),*) => {$(
                if std::arch::is_x86_feature_detected!($f) {
                    features.push($f);
                }
            )*};
        }
        detect!("sse4.2", "avx", "avx2", "fma", "avx512f");
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            features.push("neon");
        }
    }
    Isa {
        arch: std::env::consts::ARCH,
        os: std::env::consts::OS,
        features,
    }
}

/// `git rev-parse HEAD` of the source tree this binary was built from (else of the current
/// directory); `None` if git or the repository is unavailable.
pub fn git_revision() -> Option<String> {
    let try_in = |dir: &Path| {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(dir)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let rev = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && rev.len() >= 7 && rev.chars().all(|c| c.is_ascii_hexdigit()))
            .then_some(rev)
    };
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    src.is_dir()
        .then(|| try_in(src))
        .flatten()
        .or_else(|| try_in(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_is_positive_where_known() {
        assert!(peak_rss_bytes().unwrap_or(1) > 0);
    }
}
