//! Streaming HTTP(S) download to a file, with size caps, Content-Length checks and SHA-256.
//!
//! The body is hashed while it is written, so the caller can verify the archive before it is
//! opened. `Accept-Encoding: identity` is requested so that the bytes on disk are the bytes the
//! server stores (a transparently decoded body would not match the published checksum).
//! Proxies come from the usual environment variables, except for loopback URLs (tests).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::datasets::group_digits;
use crate::verify::{ContentStats, HashingWriter};

/// Downloads `url` into the new file `dest` and returns its size and sha256.
///
/// Fails on a non-2xx status, on a `Content-Length` that differs from `expected_size` or
/// exceeds `max_bytes`, on a body that is shorter than its `Content-Length` (truncated
/// transfer) or longer than `max_bytes`. On error, `dest` may exist with partial content: the
/// caller creates it in a temporary directory that it removes.
pub fn download(
    url: &str,
    dest: &Path,
    expected_size: Option<u64>,
    max_bytes: u64,
    progress: bool,
) -> Result<ContentStats> {
    let limit = expected_size.unwrap_or(max_bytes);
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .accept_encoding("identity")
        .user_agent(concat!("set-lstm-xtask/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .max_redirects(10);
    if is_loopback(url) {
        config = config.proxy(None);
    }
    let agent = ureq::Agent::new_with_config(config.build());
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("request to {url} failed"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("download of {url} failed: HTTP status {status}");
    }
    if let Some(encoding) = response.headers().get("content-encoding")
        && !encoding.as_bytes().eq_ignore_ascii_case(b"identity")
    {
        bail!(
            "{url} was served with Content-Encoding {encoding:?}; the archive must be downloaded \
             as stored to match its checksum"
        );
    }
    let content_length = match response.headers().get("content-length") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .with_context(|| format!("{url} sent an invalid Content-Length {v:?}"))?,
        ),
    };
    if let Some(len) = content_length {
        if let Some(expected) = expected_size {
            ensure!(
                len == expected,
                "size mismatch for {url}: expected {} bytes, the server announces {} bytes \
                 (Content-Length); refusing to download it",
                group_digits(expected),
                group_digits(len)
            );
        }
        ensure!(
            len <= max_bytes,
            "{url} is {} bytes, more than the limit of {} bytes for this dataset",
            group_digits(len),
            group_digits(max_bytes)
        );
    }

    let file =
        File::create_new(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    let mut out = HashingWriter::new(BufWriter::new(file));
    let mut body = response
        .body_mut()
        .with_config()
        .limit(limit.saturating_add(1))
        .reader();
    let mut buf = vec![0u8; 256 * 1024];
    let mut received: u64 = 0;
    let mut next_report: u64 = 16 << 20;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let expected = content_length
                    .map(|l| format!(" of {}", group_digits(l)))
                    .unwrap_or_default();
                return Err(e).with_context(|| {
                    format!(
                        "download of {url} interrupted after {} bytes{expected} (truncated \
                         transfer or connection error)",
                        group_digits(received)
                    )
                });
            }
        };
        received += n as u64;
        if received > limit {
            bail!(
                "{url} sent more than {} bytes, more than expected; aborting",
                group_digits(limit)
            );
        }
        out.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", dest.display()))?;
        if progress && received >= next_report {
            eprintln!("  ... {} MiB", received >> 20);
            next_report += 16 << 20;
        }
    }
    if let Some(len) = content_length {
        ensure!(
            received == len,
            "download of {url} is truncated: received {} of {} bytes (Content-Length)",
            group_digits(received),
            group_digits(len)
        );
    }
    let (writer, stats) = out.finish();
    let file = writer
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", dest.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", dest.display()))?;
    Ok(stats)
}

/// Whether the URL's host is a loopback address (`127.x.x.x`, `localhost`, `[::1]`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080/x.zip"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:80/x"));
        assert!(!is_loopback("https://nlp.stanford.edu/sentiment/x.zip"));
        assert!(!is_loopback("https://127.0.0.1.example.com/x"));
    }
}
