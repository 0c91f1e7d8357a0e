//! Test helpers: tiny archives built in memory, a bounded loopback HTTP server, spec overrides.

#![allow(dead_code)] // each test crate uses a different subset

use std::io::{Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tar::{EntryType, Header};
use xtask::datasets::{self, DatasetSpec, OutputCheck};
use xtask::fetch::{ArchiveSource, FetchOptions, FetchReport, fetch_dataset};
use xtask::verify::sha256_hex;

/// One entry of a test tarball.
pub enum TarEntry<'a> {
    /// A regular file.
    File(&'a str, &'a [u8]),
    /// A directory.
    Dir(&'a str),
    /// Anything, with the name copied raw into the header (no validation by the tar crate).
    Raw {
        name: &'a [u8],
        kind: EntryType,
        link: Option<&'a str>,
        data: &'a [u8],
    },
}

/// Builds the uncompressed tar stream.
pub fn tar(entries: &[TarEntry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        match entry {
            TarEntry::File(path, data) => {
                let mut h = Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(EntryType::Regular);
                builder.append_data(&mut h, path, *data).unwrap();
            }
            TarEntry::Dir(path) => {
                let mut h = Header::new_gnu();
                h.set_size(0);
                h.set_mode(0o755);
                h.set_entry_type(EntryType::Directory);
                builder.append_data(&mut h, path, &[][..]).unwrap();
            }
            TarEntry::Raw {
                name,
                kind,
                link,
                data,
            } => {
                let mut h = Header::new_gnu();
                h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_entry_type(*kind);
                if let Some(link) = link {
                    h.set_link_name(link).unwrap();
                }
                h.set_cksum();
                builder.append(&h, *data).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A `.tar.gz` of the given entries.
pub fn tar_gz(entries: &[TarEntry<'_>]) -> Vec<u8> {
    gzip(&tar(entries))
}

/// One entry of a test zip.
pub enum ZipEntry<'a> {
    /// A deflated regular file.
    File(&'a str, &'a [u8]),
    /// A directory.
    Dir(&'a str),
    /// A symbolic link.
    Symlink(&'a str, &'a str),
}

/// Builds a zip archive.
pub fn zip(entries: &[ZipEntry<'_>]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for entry in entries {
        match entry {
            ZipEntry::File(name, data) => {
                w.start_file(*name, opts).unwrap();
                w.write_all(data).unwrap();
            }
            ZipEntry::Dir(name) => w.add_directory(*name, opts).unwrap(),
            ZipEntry::Symlink(name, target) => w.add_symlink(*name, *target, opts).unwrap(),
        }
    }
    w.finish().unwrap().into_inner()
}

/// Decompresses a gzip file to a string.
pub fn gunzip(path: &Path) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// A scratch area: `root/data` is the data directory (not created), `root/in` holds archives.
pub struct Scratch {
    pub root: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("in")).unwrap();
        Scratch { root }
    }

    pub fn data(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Writes an archive into `root/in` and returns its path.
    pub fn archive(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.root.path().join("in").join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Fetch options importing `archive` into the data directory.
    pub fn import(&self, archive: &Path) -> FetchOptions {
        FetchOptions {
            data_dir: self.data(),
            source: ArchiveSource::File(archive.to_owned()),
            force: false,
            progress: false,
        }
    }

    /// Fetch options downloading from `url` into the data directory.
    pub fn download(&self, url: &str) -> FetchOptions {
        FetchOptions {
            data_dir: self.data(),
            source: ArchiveSource::Url(url.to_owned()),
            force: false,
            progress: false,
        }
    }

    /// Entries left in the data directory (none if it does not exist).
    pub fn data_entries(&self) -> Vec<String> {
        match std::fs::read_dir(self.data()) {
            Err(_) => Vec::new(),
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
        }
    }

    /// Asserts that a failed fetch left nothing behind: no data dir content, no temp dir, no
    /// escaped file next to the data dir.
    pub fn assert_clean(&self) {
        assert_eq!(
            self.data_entries(),
            Vec::<String>::new(),
            "data dir not empty"
        );
        let mut top: Vec<String> = std::fs::read_dir(self.root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert!(
            top == ["in"] || top == ["data", "in"],
            "unexpected files next to the data dir: {top:?}"
        );
    }
}

/// Leaks a string (test specs hold `&'static str`).
pub fn leak(s: String) -> &'static str {
    s.leak()
}

/// A built-in spec with the archive checksum replaced by that of `bytes` and no output checks.
pub fn spec_for(name: &str, bytes: &[u8]) -> DatasetSpec {
    DatasetSpec {
        archive_size: Some(bytes.len() as u64),
        archive_sha256: Some(leak(sha256_hex(bytes))),
        outputs: &[],
        ..datasets::find(name).unwrap().clone()
    }
}

/// Same as `spec_for`, with output checks.
pub fn spec_with_outputs(name: &str, bytes: &[u8], outputs: Vec<OutputCheck>) -> DatasetSpec {
    DatasetSpec {
        outputs: outputs.leak(),
        ..spec_for(name, bytes)
    }
}

/// Runs a fetch expected to fail and returns the full error chain as one string.
pub fn fetch_err(spec: &DatasetSpec, opts: &FetchOptions) -> String {
    match fetch_dataset(spec, opts) {
        Ok(report) => panic!("fetch unexpectedly succeeded: {report:?}"),
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("expected error: {msg}");
            msg
        }
    }
}

/// Runs a fetch expected to succeed.
pub fn fetch_ok(spec: &DatasetSpec, opts: &FetchOptions) -> FetchReport {
    match fetch_dataset(spec, opts) {
        Ok(report) => report,
        Err(e) => panic!("fetch failed: {e:#}"),
    }
}

/// A canned HTTP response.
#[derive(Clone)]
pub struct Reply {
    pub status: &'static str,
    pub body: Vec<u8>,
    /// Content-Length to announce; `None` means the real body length.
    pub content_length: Option<usize>,
}

impl Reply {
    pub fn ok(body: &[u8]) -> Self {
        Reply {
            status: "200 OK",
            body: body.to_vec(),
            content_length: None,
        }
    }
}

/// A loopback HTTP/1.1 server answering at most `replies.len()` connections, one canned reply
/// each, then exiting (also after 20 s without a connection).
pub struct Server {
    pub base: String,
    handle: Option<JoinHandle<Vec<String>>>,
}

impl Server {
    pub fn start(replies: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            let mut deadline = Instant::now() + Duration::from_secs(20);
            let mut replies = replies.into_iter();
            let mut next = replies.next();
            while let Some(reply) = next.take() {
                match listener.accept() {
                    Ok((stream, _)) => {
                        requests.push(serve_one(stream, &reply));
                        next = replies.next();
                        deadline = Instant::now() + Duration::from_secs(20);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if Instant::now() > deadline {
                            break;
                        }
                        next = Some(reply);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("accept failed: {e}"),
                }
            }
            requests
        });
        Server {
            base,
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits for the server thread and returns the request heads it received.
    pub fn finish(mut self) -> Vec<String> {
        self.handle.take().unwrap().join().unwrap()
    }
}

fn serve_one(mut stream: TcpStream, reply: &Reply) -> String {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let length = reply.content_length.unwrap_or(reply.body.len());
    let response = format!(
        "HTTP/1.1 {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\n\
         Connection: close\r\n\r\n",
        reply.status
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.write_all(&reply.body);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    String::from_utf8_lossy(&head).into_owned()
}
