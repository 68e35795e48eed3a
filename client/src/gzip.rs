//! Transparent gzip for customer files: an input ending `.gz`, or starting with the gzip
//! magic bytes, is decompressed as it is read (concatenated members too, as `bgzip` and
//! `cat a.gz b.gz` write them); an output ending `.gz` is compressed as it is written.
//! Both stream: memory is the codec's window and a few buffers, whatever the file size.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression;
use flate2::bufread::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::error::ClientError;

const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether the file name ends `.gz`.
pub fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The extension that says what the file holds, lowercased: `csv` for `a.csv` and
/// `a.csv.gz`.
pub fn inner_extension(path: &Path) -> String {
    let path = if is_gz(path) {
        Path::new(path.file_stem().unwrap_or_default())
    } else {
        path
    };
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Opens `path` for reading, decompressing gzip.
pub fn open(path: &Path) -> Result<Box<dyn Read + Send>, ClientError> {
    open_counted(path, Arc::default())
}

/// [`open`], adding the bytes read from the file (compressed, for gzip) to `consumed`:
/// how far through the file a reader is.
pub fn open_counted(
    path: &Path,
    consumed: Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>, ClientError> {
    let file = Counted(
        File::open(path).map_err(|e| ClientError::file(path, e))?,
        consumed,
    );
    let mut input = BufReader::with_capacity(1 << 16, file);
    let head = input.fill_buf().map_err(|e| ClientError::file(path, e))?;
    if head.starts_with(&MAGIC) {
        Ok(Box::new(Gunzip(MultiGzDecoder::new(input))))
    } else if is_gz(path) {
        Err(ClientError::Input {
            path: path.to_owned(),
            line: 0,
            column: None,
            message: "not gzip data (the name ends .gz, the first bytes are not gzip's)".into(),
        })
    } else {
        Ok(Box::new(input))
    }
}

/// A reader that counts what passes through it.
struct Counted<R>(R, Arc<AtomicU64>);

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        self.1.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A decoder whose errors say that the gzip data is bad (the reader of the records adds
/// the file name).
struct Gunzip<R>(MultiGzDecoder<R>);

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("corrupt gzip data: {e}")))
    }
}

/// An output file (or standard output for `-`), gzip-compressed if its name ends `.gz`.
/// Call [`finish`](Self::finish): it writes the gzip trailer and reports the last errors.
pub struct Sink {
    out: SinkOut,
    /// A file is written under a temporary name beside its final one and renamed by
    /// [`finish`](Sink::finish): a run that fails half-way (or is killed) never leaves a
    /// truncated file under the name a later step would read.
    staged: Option<Staged>,
}

enum SinkOut {
    Plain(BufWriter<Box<dyn Write + Send>>),
    Gzip(BufWriter<GzEncoder<File>>),
}

/// A temporary file removed on drop unless it was renamed into place.
struct Staged {
    temporary: PathBuf,
    destination: PathBuf,
    renamed: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.out {
            SinkOut::Plain(_) => "Sink::Plain",
            SinkOut::Gzip(_) => "Sink::Gzip",
        })
    }
}

impl Sink {
    /// `-` is standard output; any other path is written under a temporary name in the
    /// same directory until [`finish`](Sink::finish).
    pub fn create(path: &Path) -> Result<Sink, ClientError> {
        let capacity = 1 << 20;
        if path.as_os_str() == "-" {
            return Ok(Sink {
                out: SinkOut::Plain(BufWriter::with_capacity(capacity, Box::new(io::stdout()))),
                staged: None,
            });
        }
        let name = path
            .file_name()
            .ok_or_else(|| ClientError::Invalid(format!("{}: not a file name", path.display())))?;
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".custval-{}.tmp", std::process::id()));
        let temporary = path.with_file_name(temporary_name);
        let file = File::create(&temporary).map_err(|e| ClientError::file(path, e))?;
        let staged = Staged {
            temporary,
            destination: path.to_owned(),
            renamed: false,
        };
        let out = if is_gz(path) {
            SinkOut::Gzip(BufWriter::with_capacity(
                capacity,
                GzEncoder::new(file, Compression::default()),
            ))
        } else {
            SinkOut::Plain(BufWriter::with_capacity(capacity, Box::new(file)))
        };
        Ok(Sink {
            out,
            staged: Some(staged),
        })
    }

    /// Flushes everything, ends the gzip stream, and moves the file to its name.
    pub fn finish(self) -> io::Result<()> {
        let Sink { out, staged } = self;
        match out {
            SinkOut::Plain(mut w) => w.flush()?,
            SinkOut::Gzip(w) => w
                .into_inner()
                .map_err(|e| e.into_error())?
                .finish()?
                .flush()?,
        }
        if let Some(mut s) = staged {
            std::fs::rename(&s.temporary, &s.destination)?;
            s.renamed = true;
        }
        Ok(())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            SinkOut::Plain(w) => w.write(buf),
            SinkOut::Gzip(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.out {
            SinkOut::Plain(w) => w.write_all(buf),
            SinkOut::Gzip(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            SinkOut::Plain(w) => w.flush(),
            SinkOut::Gzip(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_round_trip() {
        assert!(is_gz(Path::new("a.csv.GZ")));
        assert_eq!(inner_extension(Path::new("dir.x/a.CSV.gz")), "csv");
        assert_eq!(inner_extension(Path::new("a.jsonl")), "jsonl");
        assert_eq!(inner_extension(Path::new("a.gz")), "");
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("t.csv.gz");
        let mut sink = Sink::create(&gz).unwrap();
        for i in 0..10_000 {
            writeln!(sink, "c{i},{i}").unwrap();
        }
        sink.finish().unwrap();
        let raw = std::fs::read(&gz).unwrap();
        assert!(raw.starts_with(&MAGIC) && raw.len() < 100_000);
        // Two members, and a name without .gz: read by the magic bytes.
        let twice = dir.path().join("twice.csv");
        std::fs::write(&twice, [raw.clone(), raw.clone()].concat()).unwrap();
        let mut text = String::new();
        open(&twice).unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text.lines().count(), 20_000);
        assert_eq!(text.lines().nth(10_001), Some("c1,1"));
        // Cut short: an error that says so.
        std::fs::write(&twice, &raw[..raw.len() / 2]).unwrap();
        let e = open(&twice).unwrap().read_to_string(&mut text).unwrap_err();
        assert!(e.to_string().contains("corrupt gzip data"), "{e}");
        std::fs::write(&gz, "a,b\n").unwrap();
        let e = open(&gz).err().unwrap().to_string();
        assert!(e.contains("t.csv.gz") && e.contains("not gzip data"), "{e}");
    }
}
