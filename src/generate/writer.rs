//! Getting the tables onto disk: one writer thread per table, fed through a bounded channel so
//! that disk writes overlap simulation, into files staged under hidden temporary names.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use tempfile::NamedTempFile;

use super::gzip::{self, GzipMember, Piece};

/// Part of a table, encoded the way its file is: plain text, or a deflated [`Piece`].
#[derive(Debug)]
pub(super) enum Chunk {
    Plain(Vec<u8>),
    Deflated(Piece),
}

impl Chunk {
    /// Encodes `text` for a plain or a gzipped file; deflating is the costly part and runs on
    /// whichever thread calls this.
    pub fn encode(text: Vec<u8>, gzip: bool) -> Chunk {
        if gzip {
            Chunk::Deflated(gzip::deflate(&text))
        } else {
            Chunk::Plain(text)
        }
    }
}

/// A table's writer thread and the channel feeding it.
pub(super) struct Sink<'scope> {
    chunks: SyncSender<Vec<Chunk>>,
    writer: ScopedJoinHandle<'scope, io::Result<()>>,
}

impl<'scope> Sink<'scope> {
    /// Batches in flight per table: enough to keep the writer busy, few enough to bound memory.
    const QUEUE: usize = 4;

    pub fn spawn<'env>(scope: &'scope Scope<'scope, 'env>, file: File, gzip: bool) -> Self {
        let (chunks, received) = sync_channel(Self::QUEUE);
        let writer = scope.spawn(move || drain(&received, file, gzip));
        Sink { chunks, writer }
    }

    /// Queues chunks for writing; fails if the writer has stopped (`finish` then tells why).
    pub fn send(&self, chunks: Vec<Chunk>) -> io::Result<()> {
        self.chunks
            .send(chunks)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "table writer stopped"))
    }

    /// Closes the channel and waits for the writer to flush and sync the file.
    pub fn finish(self) -> io::Result<()> {
        drop(self.chunks);
        self.writer.join().expect("table writer panicked")
    }
}

/// Where a table's chunks go: the file itself, or a gzip member in it.
enum TableWriter {
    Plain(BufWriter<File>),
    Gzip(GzipMember<BufWriter<File>>),
}

impl TableWriter {
    fn write(&mut self, chunk: &Chunk) -> io::Result<()> {
        match (self, chunk) {
            (TableWriter::Plain(out), Chunk::Plain(text)) => out.write_all(text),
            (TableWriter::Gzip(member), Chunk::Deflated(piece)) => member.append(piece),
            _ => unreachable!("chunks are encoded for their table's file"),
        }
    }

    fn finish(self) -> io::Result<BufWriter<File>> {
        match self {
            TableWriter::Plain(out) => Ok(out),
            TableWriter::Gzip(member) => member.finish(),
        }
    }
}

/// Writes everything received into `file`, then syncs it to disk, so that the rename that
/// follows never exposes a name whose data is not there.
fn drain(received: &Receiver<Vec<Chunk>>, file: File, gzip: bool) -> io::Result<()> {
    let out = BufWriter::with_capacity(1 << 20, file);
    let mut writer =
        if gzip { TableWriter::Gzip(GzipMember::start(out)?) } else { TableWriter::Plain(out) };
    for chunks in received {
        for chunk in &chunks {
            writer.write(chunk)?;
        }
    }
    writer.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
}

/// An empty file in `out_dir` that will become the table `name`: hidden and suffixed `.partial`
/// like the crate's other outputs, and deleted if dropped before it is persisted. Unlike a
/// temporary file it is not private to its owner: an export is data to share, so it gets the
/// permissions of any new file (0666 less the umask).
pub(super) fn stage(out_dir: &Path, name: &str) -> io::Result<NamedTempFile> {
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    builder.tempfile_in(out_dir)
}
