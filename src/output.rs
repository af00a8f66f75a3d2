//! Atomic output: everything is written under a temporary name beside its destination and
//! renamed into place only when complete.
//!
//! A rename within one directory is atomic on POSIX file systems, so a reader sees either the
//! old file, or none, or the whole new one; never a partial grid. A temporary file dropped
//! before [`persist`] (an error, Ctrl-C) is deleted by `tempfile`'s destructor.

mod direct;

use crate::cancel;
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;

/// The path of a file that lives beside `path`: its name with `suffix` appended
/// (`grid.npy` -> `grid.npy.axes.json`).
pub fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// The directory a file goes to (`.` for a bare name), created if missing.
pub fn directory_of(destination: &Path) -> Result<&Path> {
    let dir = match destination.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    Ok(dir)
}

/// Creates an empty temporary file in the destination's directory (created if missing).
///
/// With the mode any new file gets (`0666` less the umask, as numpy's `save` and `>` give),
/// not `tempfile`'s private `0600`: the file becomes the user's output once renamed, and a
/// grid that only its writer can read surprised the first user who shared one.
pub fn temp_beside(destination: &Path) -> Result<NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let dir = directory_of(destination)?;
    let name = destination.file_name().map(|n| n.to_string_lossy().into_owned());
    tempfile::Builder::new()
        .prefix(&format!(".{}.", name.as_deref().unwrap_or("out")))
        .suffix(".partial")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| Error::output(destination, e))
}

/// Gives a new file `len` bytes with their disk blocks reserved (`fallocate`), where the file
/// system can; elsewhere the file is only extended (sparse), as before.
///
/// Why: the grids are written through shared mappings, and a write into a hole of a sparse
/// file is a page fault in which the file system reserves a block (ext4's delayed
/// allocation), measured 5x slower than a write into an allocated block on this project's VM.
/// ext4 also flushes a file's delayed blocks when it is renamed over an existing one
/// (`auto_da_alloc`): overwriting the 42 MB output of a 150-subject job took 30 ms in the
/// rename against 2 ms for a new name. And a full disk is reported here, as an error with the
/// file's name, instead of as a SIGBUS in whichever thread first writes past the free space.
pub fn allocate(file: &std::fs::File, len: u64) -> std::io::Result<()> {
    file.set_len(len)?;
    if len == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on an open descriptor; it changes no contents (the
        // bytes of an allocated range read as zeros, as the holes did).
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            // A file system without allocation (some network ones) keeps the sparse file.
            if !matches!(error.raw_os_error(), Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)) {
                return Err(error);
            }
        }
    }
    Ok(())
}

/// Renames a finished temporary file to its destination.
pub fn persist(file: NamedTempFile, destination: &Path) -> Result<()> {
    file.persist(destination).map_err(|e| Error::output(destination, e.error))?;
    Ok(())
}

/// Writes `bytes` to `destination` atomically, returning the guard still unpersisted so that
/// several files can be committed together once all are written.
pub fn write_staged(destination: &Path, bytes: &[u8]) -> Result<NamedTempFile> {
    let mut file = temp_beside(destination)?;
    file.write_all(bytes).and_then(|_| file.flush()).map_err(|e| Error::output(destination, e))?;
    Ok(file)
}

/// The smallest part of a window worth a thread of its own in [`write_staged_in_parts`].
const PART_MIN: usize = 1 << 20;

/// Bytes per window of [`write_staged_in_parts`]: direct writes of 4 to 16 MiB ran alike on
/// this project's VM (`dd oflag=direct`), and two windows stay small beside any grid.
const WINDOW: usize = 8 << 20;

/// Writes a file of `header` followed by `body_len` bytes to `destination` atomically, the
/// body produced by `fill(offset, part)`, which writes the body's bytes `offset..offset +
/// part.len()`. Returns the guard still unpersisted, as [`write_staged`] does. With a header
/// of a multiple of 64 bytes (an `.npy` header), every `offset` and every part's length but the
/// body's last is a multiple of 64: parts can be viewed as `f32`.
///
/// The file is written front to back in windows of a few MiB, with direct I/O where the file
/// system takes it ([`direct`]): each window is filled in one part per thread while the
/// previous one is being written, so filling and writing overlap and the page cache never
/// holds the file. Memory is two windows, whatever the size of the file.
///
/// A file smaller than one window goes through the page cache instead: a direct write waits
/// for the device, which costs more than the page cache's few fresh pages. Measured with the
/// observed mask of `medimpute run --method locf --backend threads --workers 2` on generated
/// exports (15 alternating runs each, medians of the imputation stage, which writes it): a 33
/// KB mask took 0.944 ms direct and 0.751 ms buffered, a 2.2 MB one 9.05 and 8.78 ms, an 11.6
/// MB one 35.4 and 35.6 ms, and a 30 MB one 83.1 ms direct against 101 ms buffered.
///
/// Before, the whole file was mapped and each thread filled its part through the mapping: the
/// kernel then zeroed every new page before the copy (a `memset` inside the page faults: 28%
/// of a 77-item `medimpute sample` in `perf`), as a buffered `write` would have backed them.
pub fn write_staged_in_parts(
    destination: &Path,
    header: &[u8],
    body_len: usize,
    threads: usize,
    fill: impl Fn(usize, &mut [u8]) + Sync,
) -> Result<NamedTempFile> {
    write_in_windows(destination, header, body_len, threads, WINDOW, &fill)
}

/// [`write_staged_in_parts`] with windows of `window` bytes (at least a part per thread,
/// rounded up to [`direct::ALIGN`]).
fn write_in_windows(
    destination: &Path,
    header: &[u8],
    body_len: usize,
    threads: usize,
    window: usize,
    fill: &(dyn Fn(usize, &mut [u8]) + Sync),
) -> Result<NamedTempFile> {
    let out_err = |e| Error::output(destination, e);
    let file = temp_beside(destination)?;
    let len = header.len() + body_len;
    if len == 0 {
        return Ok(file);
    }
    let threads = threads.max(1);
    let mut writer = if len < window {
        direct::WindowWriter::buffered(file.as_file())
    } else {
        direct::WindowWriter::new(file.as_file())
    };
    let window = window.max(threads * PART_MIN).min(len).next_multiple_of(direct::ALIGN);
    let mut buffers = [
        memmap2::MmapMut::map_anon(window).map_err(out_err)?,
        memmap2::MmapMut::map_anon(if len > window { window } else { 1 }).map_err(out_err)?,
    ];
    // The window filled last and not yet written: (its buffer, its length, its file offset).
    let mut pending: Option<(usize, usize, u64)> = None;
    for (k, start) in (0..len).step_by(window).enumerate() {
        let end = (start + window).min(len);
        let [first, second] = &mut buffers;
        let (current, other) = if k % 2 == 0 { (first, &*second) } else { (second, &*first) };
        let bytes = &mut current[..end - start];
        let writer = &mut writer;
        let written = std::thread::scope(|scope| {
            let write = pending
                .map(|(_, n, offset)| scope.spawn(move || writer.write(&other[..], n, offset)));
            fill_window(bytes, start, header, threads, fill);
            write.map_or(Ok(()), |w| w.join().expect("the writing thread does not panic"))
        });
        written.map_err(out_err)?;
        cancel::check()?;
        pending = Some((k % 2, end - start, start as u64));
    }
    if let Some((buffer, n, offset)) = pending {
        writer.write(&buffers[buffer], n, offset).map_err(out_err)?;
    }
    // The last window went out padded to the alignment: cut the file back to its length.
    file.as_file().set_len(len as u64).map_err(out_err)?;
    Ok(file)
}

/// Fills `bytes`, the file's bytes from `start`: the header's part, then the body's in one
/// part per thread.
fn fill_window(
    bytes: &mut [u8],
    start: usize,
    header: &[u8],
    threads: usize,
    fill: &(dyn Fn(usize, &mut [u8]) + Sync),
) {
    let in_header = header.len().saturating_sub(start).min(bytes.len());
    let (head, body) = bytes.split_at_mut(in_header);
    head.copy_from_slice(&header[start.min(header.len())..][..in_header]);
    if body.is_empty() {
        return;
    }
    let offset = start + in_header - header.len();
    let parts = threads.clamp(1, body.len().div_ceil(PART_MIN));
    // Parts start on multiples of 64 bytes of the body: a body of 4- or 8-byte values is never
    // cut inside one (windows start on multiples of 4 KiB of the file).
    let part = body.len().div_ceil(parts).next_multiple_of(64);
    std::thread::scope(|scope| {
        let mut chunks = body.chunks_mut(part).enumerate();
        let (_, mine) = chunks.next().expect("a non-empty body has a part");
        for (k, chunk) in chunks {
            scope.spawn(move || fill(offset + k * part, chunk));
        }
        fill(offset, mine);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_get_the_mode_of_any_new_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"x").unwrap();
        let ours = dir.path().join("ours.npy");
        let file = write_staged(&ours, b"x").unwrap();
        persist(file, &ours).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        // The same umask applies to both: a file `std::fs::write` creates has 0666 less it
        // (under the usual umask 022, 0644, where tempfile's own mode is 0600).
        assert_eq!(mode(&ours), mode(&plain));
    }

    #[test]
    fn an_allocated_file_has_its_blocks_and_reads_as_zeros() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.npy");
        let file = std::fs::File::create(&path).unwrap();
        let len = (3 << 20) + 100;
        allocate(&file, len).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), len);
        // The test directory's file system (ext4 or tmpfs here and in CI) allocates: a sparse
        // file would hold no block at all.
        assert!(meta.blocks() * 512 >= len, "{} blocks for {len} bytes", meta.blocks());
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.iter().all(|&b| b == 0));
        allocate(&std::fs::File::create(dir.path().join("empty")).unwrap(), 0).unwrap();
    }

    #[test]
    fn nothing_reaches_the_destination_until_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/grid.npy");
        let staged = write_staged(&dest, b"data").unwrap();
        assert!(!dest.exists());
        drop(staged);
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
        persist(write_staged(&dest, b"data").unwrap(), &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
    }

    #[test]
    fn a_file_written_in_parts_holds_the_header_and_every_part_in_place() {
        let dir = tempfile::tempdir().unwrap();
        // Three minimal parts and a bit, so that parts end inside the body for 2, 3 and 8.
        let body: Vec<u8> = (0..3 * PART_MIN + 4099).map(|i| (i * 7 % 251) as u8).collect();
        // One window; windows ending inside the header's page; windows of a part per thread.
        for window in [WINDOW, direct::ALIGN, PART_MIN] {
            for threads in [1, 2, 3, 8] {
                let dest = dir.path().join(format!("parts{threads}-{window}.bin"));
                let fill =
                    |at: usize, part: &mut [u8]| part.copy_from_slice(&body[at..at + part.len()]);
                let staged =
                    write_in_windows(&dest, b"HEAD", body.len(), threads, window, &fill).unwrap();
                assert!(!dest.exists(), "nothing at the destination before it is persisted");
                persist(staged, &dest).unwrap();
                let back = std::fs::read(&dest).unwrap();
                assert_eq!(back.len(), 4 + body.len(), "padding of the last window cut off");
                assert_eq!(&back[..4], b"HEAD");
                assert!(back[4..] == body[..], "{threads} threads, window {window}: body differs");
            }
        }
        let empty = dir.path().join("empty.bin");
        persist(write_staged_in_parts(&empty, b"", 0, 4, |_, _| unreachable!()).unwrap(), &empty)
            .unwrap();
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
        let header_only = dir.path().join("header.bin");
        let staged = write_staged_in_parts(&header_only, b"HEAD", 0, 2, |_, _| unreachable!());
        persist(staged.unwrap(), &header_only).unwrap();
        assert_eq!(std::fs::read(&header_only).unwrap(), b"HEAD");
    }

    #[test]
    fn parts_of_a_body_of_floats_are_cut_between_values() {
        let dir = tempfile::tempdir().unwrap();
        // Two parts of a body of 2 MiB + 4 bytes would be 1 MiB + 2 bytes each if cut evenly.
        let values: Vec<f32> = (0..(2 * PART_MIN + 4) / 4).map(|i| i as f32).collect();
        let header = [b'H'; 128];
        for threads in [2, 3, 5] {
            let dest = dir.path().join(format!("floats{threads}.bin"));
            let staged =
                write_staged_in_parts(&dest, &header, values.len() * 4, threads, |at, part| {
                    assert!(
                        at % 4 == 0 && part.len() % 4 == 0,
                        "part {at}+{} cuts a value",
                        part.len()
                    );
                    let floats: &mut [f32] = bytemuck::cast_slice_mut(part);
                    floats.copy_from_slice(&values[at / 4..at / 4 + floats.len()]);
                });
            persist(staged.unwrap(), &dest).unwrap();
            let back = std::fs::read(&dest).unwrap();
            assert!(back[128..] == *bytemuck::cast_slice::<f32, u8>(&values), "{threads} threads");
        }
    }

    /// Whether `file` is open for direct I/O.
    #[cfg(target_os = "linux")]
    fn is_direct(file: &std::fs::File) -> bool {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl on a descriptor the caller owns, with integer arguments only.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        flags >= 0 && flags & libc::O_DIRECT != 0
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_smaller_than_a_window_goes_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let body = vec![5u8; 3 * direct::ALIGN];
        let fill = |at: usize, part: &mut [u8]| part.copy_from_slice(&body[at..at + part.len()]);
        let dest = dir.path().join("small.bin");
        let staged = write_in_windows(&dest, b"HEAD", body.len(), 2, WINDOW, &fill).unwrap();
        assert!(!is_direct(staged.as_file()), "a 12 KiB file was written with direct I/O");
        persist(staged, &dest).unwrap();
        let back = std::fs::read(&dest).unwrap();
        assert!(back[..4] == *b"HEAD" && back[4..] == body[..]);
    }

    #[test]
    fn a_header_longer_than_a_window_spans_windows() {
        let dir = tempfile::tempdir().unwrap();
        let header: Vec<u8> = (0..3 * direct::ALIGN + 5).map(|i| (i % 13) as u8).collect();
        let dest = dir.path().join("long-header.bin");
        let staged = write_in_windows(&dest, &header, 7, 1, direct::ALIGN, &|at, part| {
            part.iter_mut().enumerate().for_each(|(i, b)| *b = 100 + (at + i) as u8)
        });
        persist(staged.unwrap(), &dest).unwrap();
        let back = std::fs::read(&dest).unwrap();
        assert_eq!(&back[..header.len()], &header[..]);
        assert_eq!(&back[header.len()..], &[100, 101, 102, 103, 104, 105, 106]);
    }

    #[test]
    fn a_file_system_without_direct_io_gets_the_same_bytes() {
        // Older kernels' tmpfs refuses O_DIRECT when it is set; newer ones take it.
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let body: Vec<u8> = (0..2 * PART_MIN + 17).map(|i| (i % 241) as u8).collect();
        let dest = dir.path().join("grid.bin");
        let fill = |at: usize, part: &mut [u8]| part.copy_from_slice(&body[at..at + part.len()]);
        let staged = write_in_windows(&dest, b"H", body.len(), 2, PART_MIN, &fill).unwrap();
        persist(staged, &dest).unwrap();
        let back = std::fs::read(&dest).unwrap();
        assert!(back[0] == b'H' && back[1..] == body[..]);
    }
}
