//! What crosses the pipes between the coordinator and its worker processes: framed messages.
//!
//! A frame is a 24-byte header, a small JSON message, then raw bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `MDIF` |
//! | 4 | protocol version |
//! | 5..8 | reserved, zero |
//! | 8..12 | JSON length (little-endian `u32`) |
//! | 12..20 | raw length (little-endian `u64`) |
//! | 20..24 | FNV-1a of bytes 0..20 |
//!
//! The JSON says what the frame is (a task, a completion, a blob); the raw part carries bulk
//! bytes (a block of the grid, a tree, imputed values) without any encoding. Over the `shm`
//! transport the raw part is empty and the JSON names a shared [`Region`] instead.
//!
//! A peer that writes garbage is caught by the magic, the header check or the length limits; one
//! that stops mid-frame by the early end of file. Either way the reader gets a [`FrameError`]
//! rather than a hang or a wild allocation.

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

const MAGIC: [u8; 4] = *b"MDIF";
const VERSION: u8 = 1;
const HEADER: usize = 24;
/// Control messages are small; anything larger is a corrupt header.
const MAX_JSON: usize = 64 << 20;
/// Bulk parts beyond this (1 TiB) are a corrupt header, not a grid.
const MAX_RAW: u64 = 1 << 40;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the pipe between frames.
    #[error("the pipe was closed")]
    Closed,
    #[error("the pipe ended in the middle of a frame (truncated)")]
    Truncated,
    #[error("not a frame: bad magic {0:02x?}")]
    BadMagic([u8; 4]),
    #[error("the peer stopped for {0:?} in the middle of a frame")]
    Stalled(Duration),
    #[error("frame header checksum mismatch")]
    BadCheck,
    #[error("frame of protocol version {0}, expected {VERSION}")]
    Version(u8),
    #[error("frame lengths out of bounds (json {json}, raw {raw})")]
    TooLarge { json: usize, raw: u64 },
    #[error("bad message: {0}")]
    Message(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A shared byte range: a POSIX shared-memory segment (`/dev/shm/...`) or a file, mapped by
/// whoever needs it. Regions are how the `shm` transport moves bulk data: by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Region {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// A named input of a task. Blobs are cached by the worker under their id until the job ends,
/// so that each is sent at most once to each worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlobMessage {
    pub id: String,
    /// Where the bytes are; `None`: they follow as the frame's raw part.
    pub region: Option<Region>,
    /// An input of the next task alone, dropped after it.
    pub scratch: bool,
}

/// Coordinator to worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ToWorker {
    /// A new job: what kind, and its settings. Drops every cached blob.
    Setup { job: serde_json::Value },
    /// An input for later tasks.
    Blob(BlobMessage),
    /// Run a task. `output`: a region to write the result into in place (shm); `None`: the
    /// result comes back as a frame's raw part, or as a region the worker creates.
    Task { id: u64, spec: serde_json::Value, output: Option<Region> },
}

/// Worker to coordinator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FromWorker {
    /// Sent once, when the worker starts.
    Ready { pid: u32 },
    /// Task `id` is done. `meta`: its small results; bulk results follow as the raw part or sit
    /// in `region` (a segment the worker created and the coordinator now owns). `compute_ns`:
    /// the time the task itself took in the worker, so that the coordinator can tell compute
    /// from the cost of moving data.
    Done { id: u64, meta: serde_json::Value, region: Option<Region>, compute_ns: u64 },
    /// Task `id` could not run (a region that cannot be mapped, an unknown task): not retried.
    Failed { id: u64, error: String },
}

/// A frame as read: the message and the raw bytes after it.
pub struct Frame<M> {
    pub message: M,
    pub raw: Vec<u8>,
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// Writes one frame: `message`, then `raw` (possibly empty). Raw parts are written straight
/// from the caller's memory, without a copy into a frame buffer.
pub fn write_frame<M: Serialize>(w: &mut impl Write, message: &M, raw: &[u8]) -> io::Result<()> {
    let json = serde_json::to_vec(message).map_err(io::Error::other)?;
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(&MAGIC);
    header[4] = VERSION;
    header[8..12].copy_from_slice(&(json.len() as u32).to_le_bytes());
    header[12..20].copy_from_slice(&(raw.len() as u64).to_le_bytes());
    let check = fnv1a(&header[..20]);
    header[20..].copy_from_slice(&check.to_le_bytes());
    let mut small = Vec::with_capacity(HEADER + json.len());
    small.extend_from_slice(&header);
    small.extend_from_slice(&json);
    w.write_all(&small)?;
    if !raw.is_empty() {
        w.write_all(raw)?;
    }
    w.flush()
}

/// Reads one frame.
pub fn read_frame<M: for<'de> Deserialize<'de>>(r: &mut impl Read) -> Result<Frame<M>, FrameError> {
    read_frame_with(r, |_| Ok(()))
}

/// Reads one frame from a pipe, waiting as long as it takes for a frame to start but at most
/// `stall` for each further byte: a peer that stops in the middle of a frame without closing
/// its pipe (hung, or stopped after writing garbage) is an error, not a wait forever.
pub fn read_frame_from_pipe<M: for<'de> Deserialize<'de>>(
    r: &mut (impl Read + AsRawFd),
    stall: Duration,
) -> Result<Frame<M>, FrameError> {
    let fd = r.as_raw_fd();
    read_frame_with(r, |started| if started { wait_readable(fd, stall) } else { Ok(()) })
}

fn wait_readable(fd: i32, limit: Duration) -> Result<(), FrameError> {
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    let ms = limit.as_millis().min(i32::MAX as u128) as i32;
    loop {
        // SAFETY: one valid pollfd for the duration of the call.
        match unsafe { libc::poll(&mut poll, 1, ms) } {
            0 => return Err(FrameError::Stalled(limit)),
            n if n > 0 => return Ok(()),
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return Err(FrameError::Io(io::Error::last_os_error())),
        }
    }
}

/// Reads one frame; `wait(started)` runs before every read, `started` telling whether bytes of
/// this frame have already arrived.
fn read_frame_with<M: for<'de> Deserialize<'de>>(
    r: &mut impl Read,
    mut wait: impl FnMut(bool) -> Result<(), FrameError>,
) -> Result<Frame<M>, FrameError> {
    let mut header = [0u8; HEADER];
    match read_full(r, &mut header, false, &mut wait)? {
        0 => return Err(FrameError::Closed),
        n if n < HEADER => return Err(FrameError::Truncated),
        _ => {}
    }
    let magic: [u8; 4] = header[..4].try_into().expect("4 bytes");
    if magic != MAGIC {
        return Err(FrameError::BadMagic(magic));
    }
    let check = u32::from_le_bytes(header[20..].try_into().expect("4 bytes"));
    if fnv1a(&header[..20]) != check {
        return Err(FrameError::BadCheck);
    }
    if header[4] != VERSION {
        return Err(FrameError::Version(header[4]));
    }
    let json_len = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
    let raw_len = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    if json_len > MAX_JSON || raw_len > MAX_RAW {
        return Err(FrameError::TooLarge { json: json_len, raw: raw_len });
    }
    let mut json = vec![0u8; json_len];
    if read_full(r, &mut json, true, &mut wait)? < json_len {
        return Err(FrameError::Truncated);
    }
    let message = serde_json::from_slice(&json).map_err(|e| FrameError::Message(e.to_string()))?;
    // Grown as bytes arrive, never sized from the header alone: a corrupt length cannot make
    // the reader allocate what the peer never sends.
    let mut raw = Vec::new();
    const STEP: usize = 1 << 20;
    while (raw.len() as u64) < raw_len {
        let want = (raw_len - raw.len() as u64).min(STEP as u64) as usize;
        let at = raw.len();
        raw.resize(at + want, 0);
        let got = read_full(r, &mut raw[at..], true, &mut wait)?;
        if got < want {
            return Err(FrameError::Truncated);
        }
    }
    Ok(Frame { message, raw })
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(
    r: &mut impl Read,
    buf: &mut [u8],
    started: bool,
    wait: &mut impl FnMut(bool) -> Result<(), FrameError>,
) -> Result<usize, FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        wait(started || filled > 0)?;
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(id: u64) -> FromWorker {
        FromWorker::Done { id, meta: serde_json::json!({"rows": 3}), region: None, compute_ns: 5 }
    }

    #[test]
    fn frames_round_trip_with_raw_parts() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &done(7), b"bulk bytes").unwrap();
        write_frame(&mut buf, &done(8), b"").unwrap();
        let mut r = &buf[..];
        let a: Frame<FromWorker> = read_frame(&mut r).unwrap();
        assert!(matches!(a.message, FromWorker::Done { id: 7, .. }));
        assert_eq!(a.raw, b"bulk bytes");
        let b: Frame<FromWorker> = read_frame(&mut r).unwrap();
        assert!(matches!(b.message, FromWorker::Done { id: 8, .. }));
        assert!(b.raw.is_empty());
        assert!(matches!(read_frame::<FromWorker>(&mut r), Err(FrameError::Closed)));
    }

    #[test]
    fn garbage_truncation_and_corrupt_lengths_are_errors_not_hangs() {
        let mut good = Vec::new();
        write_frame(&mut good, &done(1), &[9u8; 1000]).unwrap();

        let garbage = b"this is not a frame at all, just text".to_vec();
        assert!(matches!(
            read_frame::<FromWorker>(&mut &garbage[..]),
            Err(FrameError::BadMagic(_))
        ));

        for cut in [5, HEADER, HEADER + 3, good.len() - 1] {
            let r = read_frame::<FromWorker>(&mut &good[..cut]);
            assert!(matches!(r, Err(FrameError::Truncated)), "cut at {cut}: {:?}", r.err());
        }

        let mut flipped = good.clone();
        flipped[13] ^= 0x40; // a bit of the raw length
        assert!(matches!(read_frame::<FromWorker>(&mut &flipped[..]), Err(FrameError::BadCheck)));

        // A consistent header announcing 2^50 bytes: refused before reading anything.
        let mut huge = good.clone();
        huge[12..20].copy_from_slice(&(1u64 << 50).to_le_bytes());
        let check = fnv1a(&huge[..20]);
        huge[20..24].copy_from_slice(&check.to_le_bytes());
        assert!(matches!(
            read_frame::<FromWorker>(&mut &huge[..]),
            Err(FrameError::TooLarge { .. })
        ));

        // A valid header over JSON that is not a message.
        let mut bad_json = good.clone();
        bad_json[HEADER] = b'#';
        assert!(matches!(
            read_frame::<FromWorker>(&mut &bad_json[..]),
            Err(FrameError::Message(_))
        ));
    }
}
