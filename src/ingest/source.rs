//! Opening an input table: plain files are memory-mapped, everything else is streamed.
//!
//! Streams cover gzip files and inputs that cannot be mapped: pipes, FIFOs, process
//! substitution (`--events <(zcat CHARTEVENTS.csv.gz)`). Compression is detected from the gzip
//! magic bytes, not the file name, so a misnamed file is still read correctly.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use memmap2::Mmap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// An opened table.
pub enum TableSource {
    /// A plain regular file, mapped read-only: pieces are cut and parsed in parallel.
    Mapped(Mmap),
    /// A gzip file or a pipe: read front to back, so pieces come one after another.
    Stream(Box<ByteStream>),
    /// A regular file of zero bytes (which cannot be mapped).
    Empty,
}

/// Decompressed bytes of a table, with a counter of the bytes consumed from disk (for progress
/// bars: the on-disk size is what the bar's total is).
pub struct ByteStream {
    pub reader: Box<dyn Read + Send>,
    pub consumed: Arc<AtomicU64>,
}

/// Counts the bytes passing through a reader.
struct CountingReader<R> {
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

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens a table file.
pub fn open_table(path: &Path) -> Result<TableSource> {
    let err = |e| Error::input(path, e);
    let mut file = File::open(path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    if meta.is_file() {
        if meta.len() == 0 {
            return Ok(TableSource::Empty);
        }
        if !starts_as_gzip(&mut file).map_err(err)? {
            // SAFETY: read-only map; a concurrent writer truncating the export could fault the
            // process, the accepted risk of every mmap-based reader (ripgrep makes it too).
            let map = unsafe { Mmap::map(&file) }.map_err(err)?;
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            return Ok(TableSource::Mapped(map));
        }
    }
    Ok(TableSource::Stream(Box::new(open_stream(file, path)?)))
}

/// Whether the file at `path` is gzip, told as [`open_table`] tells it: by its first bytes.
/// Reads two bytes; a pipe must not be sniffed (they would be lost to its reader).
pub fn is_gzip_file(path: &Path) -> Result<bool> {
    let mut file = File::open(path).map_err(|e| Error::input(path, e))?;
    starts_as_gzip(&mut file).map_err(|e| Error::input(path, e))
}

/// Whether a regular file starts with the gzip magic; leaves it at its start again.
pub fn starts_as_gzip(file: &mut File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(n == 2 && magic == GZIP_MAGIC)
}

/// Wraps a file (regular or not) as a stream, inflating it if it starts with the gzip magic.
fn open_stream(file: File, path: &Path) -> Result<ByteStream> {
    let consumed = Arc::new(AtomicU64::new(0));
    let counting = CountingReader { inner: file, count: Arc::clone(&consumed) };
    let mut buffered = BufReader::with_capacity(1 << 20, counting);
    let head = buffered.fill_buf().map_err(|e| Error::input(path, e))?;
    let reader: Box<dyn Read + Send> = if head.starts_with(&GZIP_MAGIC) {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    Ok(ByteStream { reader, consumed })
}

/// Opens a table as a plain byte stream (inflated if gzip), for the small tables read by the
/// `csv` crate.
pub fn open_reader(path: &Path) -> Result<Box<dyn Read + Send>> {
    let file = File::open(path).map_err(|e| Error::input(path, e))?;
    Ok(open_stream(file, path)?.reader)
}
