//! Cutting a table into pieces of whole records, to be parsed in parallel.
//!
//! Plain files: the mapped body is cut every [`PIECE_BYTES`]; one parallel pass counts quotes
//! and line breaks per block, a prefix sum gives the quote state and line number at each cut,
//! and each cut moves forward to the next record boundary. No byte is parsed twice and the
//! pieces are exact even when quoted fields hold line breaks.
//!
//! Streams (gzip files, pipes): one thread reads (and inflates) into buffers of
//! [`PIECE_BYTES`], ends each at its last complete record and carries the rest over, while the
//! caller parses earlier pieces.
//!
//! Either way the caller receives pieces in file order, in batches, so that it can parse a
//! batch in parallel and then apply its results in file order: the output never depends on
//! the number of threads.

use super::csv_split::{count_byte, last_record_end, record_start_at_or_after};
use super::source::{open_table, ByteStream, TableSource};
use super::structural::count_quotes_and_breaks;
use crate::error::{Error, Result, RowError};
use rayon::prelude::*;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

/// Target size of a piece. Large enough that per-piece overhead vanishes, small enough that a
/// batch's parsed events stay a few megabytes and that small exports still split across cores.
pub const PIECE_BYTES: usize = 1 << 20;

/// How many pieces are parsed between two applications of results: bounds memory by
/// `PIECE_BATCH` pieces' worth of parsed events, whatever the size of the file.
pub const PIECE_BATCH: usize = 64;

/// How often a wait for a stream's next piece checks for Ctrl-C.
const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// A run of whole records and the line number of its first byte.
#[derive(Clone, Copy, Debug)]
pub struct Piece<'a> {
    pub bytes: &'a [u8],
    pub first_line: u64,
    /// Where the piece starts in the file, for a plain (mapped) file: another process can then
    /// map the same bytes from the page cache instead of receiving a copy. `None` for streams.
    pub file_offset: Option<u64>,
}

/// Receives a table's header, then its pieces in file order.
pub trait PieceSink {
    /// The header record's bytes (line 1).
    fn header(&mut self, header: &[u8]) -> Result<()>;
    /// A batch of consecutive pieces; `consumed` is how many bytes of the file on disk have
    /// been read once this batch is done (for progress bars).
    fn batch(&mut self, pieces: &[Piece<'_>], consumed: u64) -> Result<()>;
}

/// Reads the table at `path` and feeds it to `sink`. Returns the decompressed size in bytes.
pub fn read_pieces(path: &Path, sink: &mut impl PieceSink) -> Result<u64> {
    read_table(path, sink, None)
}

/// Where to go on reading a table whose first records were parsed already (by the sampling
/// profile, which keeps them for the run): a record boundary of the body and its line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    pub offset: u64,
    pub line: u64,
}

/// [`read_pieces`] from `resume` on: the header still goes to `sink`, the records before
/// `resume` do not. A plain table only (a stream cannot be entered in the middle): the caller
/// parsed its first records from the same mapped bytes.
pub fn read_pieces_from(path: &Path, sink: &mut impl PieceSink, resume: Resume) -> Result<u64> {
    read_table(path, sink, Some(resume))
}

fn read_table(path: &Path, sink: &mut impl PieceSink, resume: Option<Resume>) -> Result<u64> {
    match open_table(path)? {
        TableSource::Empty => Err(Error::EmptyTable { path: path.to_path_buf() }),
        TableSource::Mapped(map) => {
            let data: &[u8] = &map;
            let body = header_end(data, path)?;
            sink.header(&data[..body])?;
            let (start, line) = match resume {
                None => (body, 2),
                Some(resume) => match usize::try_from(resume.offset) {
                    Ok(offset) if (body..=data.len()).contains(&offset) => (offset, resume.line),
                    _ => return Err(changed(path)),
                },
            };
            let mut cutter = Cutter::new(data, start, line);
            while let Some(batch) = cutter.next_batch() {
                let window = batch.first().map_or(0..0, |first| {
                    let last = batch.last().expect("non-empty");
                    offset(data, first.bytes)..offset(data, last.bytes) + last.bytes.len()
                });
                sink.batch(&batch, window.end as u64)?;
                release(&map, window);
            }
            Ok(data.len() as u64)
        }
        TableSource::Stream(_) if resume.is_some() => Err(changed(path)),
        TableSource::Stream(stream) => read_stream(*stream, path, sink),
    }
}

/// The error for a table that is no longer what its first read found.
fn changed(path: &Path) -> Error {
    Error::input(path, std::io::Error::other("the table changed while it was read"))
}

/// Where the header record ends (the body's first byte).
fn header_end(data: &[u8], path: &Path) -> Result<usize> {
    let end = record_start_at_or_after(data, 0, false);
    if data[..end].iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::EmptyTable { path: path.to_path_buf() });
    }
    if end == data.len() && count_byte(data, b'"') % 2 == 1 {
        return Err(crate::error::BadRow {
            path: path.to_path_buf(),
            line: 1,
            error: RowError::UnterminatedQuote,
        }
        .into());
    }
    Ok(end)
}

fn offset(data: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - data.as_ptr() as usize
}

/// Drops the parsed pages of a window from the process: they are not needed again, and keeping
/// them would make the resident memory the grid plus the whole export instead of the grid plus
/// one window.
fn release(map: &memmap2::Mmap, window: std::ops::Range<usize>) {
    const PAGE: usize = 4096;
    let start = window.start / PAGE * PAGE;
    if window.end > start {
        // SAFETY: a read-only file mapping: dropped pages are read again from the file if
        // touched, and no reference into this range outlives the batch just processed.
        let _ = unsafe {
            map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                start,
                window.end - start,
            )
        };
    }
}

/// Cuts a mapped body into pieces of whole records, one window of [`PIECE_BATCH`] pieces at a
/// time, carrying the quote state and line number from window to window.
struct Cutter<'a> {
    data: &'a [u8],
    /// The next nominal cut (every [`PIECE_BYTES`] from the body's start).
    cut: usize,
    /// Line number of the byte at `cut`, and whether it lies inside quotes.
    cut_line: u64,
    in_quotes: bool,
    /// Where the next piece starts, and its line number.
    start: usize,
    line: u64,
}

impl<'a> Cutter<'a> {
    /// A cutter from `start`, a record boundary on line `line` (the body's first byte is on
    /// line 2).
    fn new(data: &'a [u8], start: usize, line: u64) -> Self {
        Cutter { data, cut: start, cut_line: line, in_quotes: false, start, line }
    }

    fn next_batch(&mut self) -> Option<Vec<Piece<'a>>> {
        let data = self.data;
        if self.start >= data.len() {
            return None;
        }
        let window_end = (self.cut + PIECE_BYTES * PIECE_BATCH).min(data.len());
        let cuts: Vec<usize> = (self.cut..window_end).step_by(PIECE_BYTES).collect();
        // One parallel pass over the window: quotes and line breaks per nominal block.
        let counts: Vec<(usize, u64)> = cuts
            .par_iter()
            .map(|&cut| {
                let block = &data[cut..(cut + PIECE_BYTES).min(window_end)];
                let (quotes, breaks) = count_quotes_and_breaks(block);
                (quotes, breaks as u64)
            })
            .collect();
        // Quote state and line number at each following cut (the window's end included).
        let mut next_cuts = Vec::with_capacity(cuts.len());
        for (k, &(quotes, breaks)) in counts.iter().enumerate() {
            self.in_quotes ^= quotes % 2 == 1;
            self.cut_line += breaks;
            let cut = cuts.get(k + 1).copied().unwrap_or(window_end);
            next_cuts.push((cut, self.in_quotes, self.cut_line));
        }
        // Each cut moves forward to the next record boundary.
        let ends: Vec<(usize, u64)> = next_cuts
            .par_iter()
            .map(|&(cut, in_quotes, line)| {
                let end = record_start_at_or_after(data, cut, in_quotes);
                (end, line + count_byte(&data[cut..end], b'\n') as u64)
            })
            .collect();
        let mut pieces = Vec::with_capacity(ends.len());
        for (end, end_line) in ends {
            // A record longer than a piece spans several cuts: those cuts make no piece.
            if end > self.start {
                pieces.push(Piece {
                    bytes: &data[self.start..end],
                    first_line: self.line,
                    file_offset: Some(self.start as u64),
                });
                self.start = end;
                self.line = end_line;
            }
        }
        self.cut = window_end;
        Some(pieces)
    }
}

struct OwnedPiece {
    bytes: Vec<u8>,
    first_line: u64,
    consumed: u64,
}

/// Reads on a helper thread; parses batches on the caller's thread pool meanwhile.
fn read_stream(stream: ByteStream, path: &Path, sink: &mut impl PieceSink) -> Result<u64> {
    let (tx, rx) = mpsc::sync_channel::<Result<OwnedPiece>>(2 * PIECE_BATCH);
    let owned_path = path.to_path_buf();
    let producer = std::thread::Builder::new()
        .name("medimpute-read".into())
        .spawn(move || stream_pieces(stream, &owned_path, &tx))
        .map_err(|e| Error::input(path, e))?;

    let mut header_seen = false;
    let mut batch: Vec<OwnedPiece> = Vec::with_capacity(PIECE_BATCH);
    let mut total = 0u64;
    // Enough pieces to keep every thread busy, but no more than a batch's memory bound.
    let ready = (2 * rayon::current_num_threads()).clamp(1, PIECE_BATCH);
    let mut result = Ok(());
    loop {
        // Wake up now and then, so that Ctrl-C is honoured even while a pipe is silent.
        let message = match rx.recv_timeout(CHECK_INTERVAL) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => match crate::cancel::check() {
                Ok(()) => continue,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let step = message.and_then(|piece| {
            total += piece.bytes.len() as u64;
            if !header_seen {
                header_seen = true;
                return sink.header(&piece.bytes);
            }
            batch.push(piece);
            if batch.len() >= ready {
                flush_stream_batch(&mut batch, sink)?;
            }
            Ok(())
        });
        if let Err(e) = step {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() && !batch.is_empty() {
        result = flush_stream_batch(&mut batch, sink);
    }
    drop(rx); // The reader's next send fails and it ends.
    if result.is_ok() {
        let _ = producer.join();
    }
    // On an error the reader may sit in a blocking read of a silent pipe: it is not joined, and
    // ends with the process.
    result?;
    if !header_seen {
        return Err(Error::EmptyTable { path: path.to_path_buf() });
    }
    Ok(total)
}

fn flush_stream_batch(batch: &mut Vec<OwnedPiece>, sink: &mut impl PieceSink) -> Result<()> {
    let consumed = batch.last().map_or(0, |p| p.consumed);
    let pieces: Vec<Piece<'_>> = batch
        .iter()
        .map(|p| Piece { bytes: &p.bytes, first_line: p.first_line, file_offset: None })
        .collect();
    let result = sink.batch(&pieces, consumed);
    batch.clear();
    result
}

/// The reader thread: sends the header record, then pieces of whole records.
fn stream_pieces(mut stream: ByteStream, path: &Path, tx: &mpsc::SyncSender<Result<OwnedPiece>>) {
    let mut buf: Vec<u8> = Vec::with_capacity(2 * PIECE_BYTES);
    let mut line = 1u64;
    let mut header_sent = false;
    let mut eof = false;
    while !eof {
        // Fill the buffer up to a piece's size (or more, if it holds no complete record).
        let target = buf.len() + PIECE_BYTES;
        let start_len = buf.len();
        buf.resize(target, 0);
        let mut filled = start_len;
        while filled < target {
            match stream.reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) => {
                    let _ = tx.send(Err(Error::input(path, e)));
                    return;
                }
            }
        }
        buf.truncate(filled);
        loop {
            let is_header = !header_sent;
            let cut = if is_header {
                let end = record_start_at_or_after(&buf, 0, false);
                (end < buf.len() || eof).then_some(end)
            } else if eof {
                (!buf.is_empty()).then_some(buf.len())
            } else {
                last_record_end(&buf)
            };
            let Some(cut) = cut else { break };
            let rest = buf.split_off(cut);
            let bytes = std::mem::replace(&mut buf, rest);
            let first_line = line;
            line += count_byte(&bytes, b'\n') as u64;
            header_sent = true;
            let consumed = stream.consumed.load(Ordering::Relaxed);
            if tx.send(Ok(OwnedPiece { bytes, first_line, consumed })).is_err() {
                return;
            }
            // After the header the buffer may still hold body records; after a body piece it
            // holds only the start of an incomplete record (or nothing).
            if buf.is_empty() || !is_header {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct Collect {
        header: Vec<u8>,
        body: Vec<u8>,
        lines: Vec<u64>,
    }

    impl PieceSink for Collect {
        fn header(&mut self, header: &[u8]) -> Result<()> {
            self.header = header.to_vec();
            Ok(())
        }
        fn batch(&mut self, pieces: &[Piece<'_>], _: u64) -> Result<()> {
            for p in pieces {
                // Every piece starts at a record boundary: its line is the count so far + 2.
                assert_eq!(p.first_line, 2 + count_byte(&self.body, b'\n') as u64);
                self.body.extend_from_slice(p.bytes);
                self.lines.push(p.first_line);
            }
            Ok(())
        }
    }

    fn table(rows: usize) -> Vec<u8> {
        let mut text = b"\"A\",\"B\"\n".to_vec();
        for i in 0..rows {
            // Quoted fields with commas and line breaks straddle the piece cuts.
            writeln!(text, "{i},\"x, {}\ny\"", "z".repeat(i % 97)).unwrap();
        }
        text
    }

    fn collect(path: &Path) -> Collect {
        let mut sink = Collect { header: vec![], body: vec![], lines: vec![] };
        read_pieces(path, &mut sink).unwrap();
        sink
    }

    #[test]
    fn plain_and_gzip_pieces_reassemble_the_body_at_record_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let text = table(60_000);
        assert!(text.len() > 3 * PIECE_BYTES);
        let plain = dir.path().join("t.csv");
        std::fs::write(&plain, &text).unwrap();
        let gz = dir.path().join("t.csv.gz");
        let mut enc =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        enc.write_all(&text).unwrap();
        enc.finish().unwrap();
        for path in [plain, gz] {
            let got = collect(&path);
            assert_eq!(got.header, b"\"A\",\"B\"\n");
            assert_eq!([got.header, got.body].concat(), text);
            assert!(got.lines.len() > 2, "expected several pieces");
        }
    }

    #[test]
    fn header_only_and_empty_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.csv");
        std::fs::write(&path, "A,B").unwrap();
        let got = collect(&path);
        assert_eq!(got.header, b"A,B");
        assert!(got.body.is_empty());
        std::fs::write(&path, "").unwrap();
        let mut sink = Collect { header: vec![], body: vec![], lines: vec![] };
        assert!(matches!(read_pieces(&path, &mut sink), Err(Error::EmptyTable { .. })));
    }
}
