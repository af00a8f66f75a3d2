//! Opening an input table: plain CSV is memory-mapped, gzip is streamed.
//!
//! Compression is detected from the gzip magic bytes, not the file name, so a misnamed file is
//! still read correctly.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use memmap2::Mmap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An opened table.
pub enum TableSource {
    /// A plain file, mapped read-only: pieces are cut and parsed in parallel.
    Mapped(Mmap),
    /// A gzip file: decompressed as a stream, so its pieces come one after another.
    Gzip(Box<GzipStream>),
    /// A file of zero bytes (which cannot be mapped).
    Empty,
}

/// A gzip stream with a counter of the compressed bytes consumed, for progress bars.
pub struct GzipStream {
    pub reader: MultiGzDecoder<BufReader<CountingReader<File>>>,
    pub compressed_read: Arc<AtomicU64>,
}

/// Counts the bytes passing through a reader.
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

fn is_gzip(file: &mut File) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// Opens a table file, returning its source and its size on disk in bytes.
pub fn open_table(path: &Path) -> Result<(TableSource, u64)> {
    let err = |e| Error::input(path, e);
    let mut file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    if len == 0 {
        return Ok((TableSource::Empty, 0));
    }
    if is_gzip(&mut file).map_err(err)? {
        let count = Arc::new(AtomicU64::new(0));
        let counting = CountingReader { inner: file, count: Arc::clone(&count) };
        let reader = MultiGzDecoder::new(BufReader::with_capacity(1 << 20, counting));
        let stream = GzipStream { reader, compressed_read: count };
        return Ok((TableSource::Gzip(Box::new(stream)), len));
    }
    // SAFETY: the map is read-only; a concurrent writer truncating the export could fault the
    // process, the accepted risk of every mmap-based reader (ripgrep makes the same trade).
    let map = unsafe { Mmap::map(&file) }.map_err(err)?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok((TableSource::Mapped(map), len))
}

/// Opens a table as a plain byte stream (decompressed if gzip), for small tables read by the
/// `csv` crate.
pub fn open_reader(path: &Path) -> Result<Box<dyn Read + Send>> {
    let err = |e| Error::input(path, e);
    let mut file = File::open(path).map_err(err)?;
    if is_gzip(&mut file).map_err(err)? {
        Ok(Box::new(MultiGzDecoder::new(BufReader::new(file))))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}
