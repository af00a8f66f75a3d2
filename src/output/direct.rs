//! Writing a large file front to back through aligned windows, with direct I/O where the file
//! system takes it.
//!
//! Why direct I/O: a grid file is written once and this process never reads it back, so the
//! page cache would only hold a second copy of it, and backing that copy's new pages is what
//! writing costs on this project's VM (every fresh page is a fault the host must serve).
//! `dd` of 906 MB to `/tmp` there: 1.1-2.3 s buffered, 0.35-0.6 s with `oflag=direct`
//! (docs/benchmarks.md). For grids larger than RAM, buffered writes would also evict the
//! pages of the export the next job reads. A small file is the other way round: a direct write
//! waits for the device, and the caller writes a file smaller than one window
//! [`buffered`](WindowWriter::buffered).
//!
//! Direct I/O wants the buffer, the file offset and the length aligned to the device's block:
//! windows are page-aligned anonymous maps of a multiple of [`ALIGN`] bytes, and the last one
//! is written padded and the file cut back to its length. A file system that refuses
//! `O_DIRECT` (when set, or at the first write) gets the same windows through the page cache.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The alignment direct I/O needs here: a page, which covers every common logical block size.
pub const ALIGN: usize = 4096;

/// Writes windows of a file at given offsets, directly when it can.
pub struct WindowWriter<'f> {
    file: &'f File,
    direct: bool,
    /// What direct writes are padded to: [`ALIGN`] (tests use less, to be refused).
    align: usize,
}

impl<'f> WindowWriter<'f> {
    /// Switches `file` to direct I/O if the platform and file system allow it.
    pub fn new(file: &'f File) -> Self {
        Self::with_align(file, ALIGN)
    }

    /// Writes through the page cache: for a file too small for direct I/O to pay (see
    /// [`write_staged_in_parts`](crate::output::write_staged_in_parts)).
    pub fn buffered(file: &'f File) -> Self {
        WindowWriter { file, direct: false, align: ALIGN }
    }

    fn with_align(file: &'f File, align: usize) -> Self {
        let direct = set_direct(file, true);
        WindowWriter { file, direct, align }
    }

    /// Writes `window` at `offset` (a multiple of [`ALIGN`]). `window` must start page-aligned
    /// and may be padded up to the next multiple of [`ALIGN`] with whatever bytes follow it
    /// in `buffer`; the caller cuts the file back to its length at the end.
    pub fn write(&mut self, buffer: &[u8], len: usize, offset: u64) -> io::Result<()> {
        debug_assert_eq!(offset % ALIGN as u64, 0);
        debug_assert_eq!(buffer.as_ptr() as usize % ALIGN, 0);
        if self.direct {
            let padded = &buffer[..len.next_multiple_of(self.align)];
            match self.file.write_all_at(padded, offset) {
                Ok(()) => return Ok(()),
                // Accepted by fcntl, refused at the write (an alignment this device finds too
                // small, or a file system that ignores the flag until then): go buffered.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    set_direct(self.file, false);
                    self.direct = false;
                }
                Err(e) => return Err(e),
            }
        }
        self.file.write_all_at(&buffer[..len], offset)
    }
}

/// Sets or clears `O_DIRECT` on `file`; returns whether it is now set.
#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> bool {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return false;
        }
        let wanted = if on { flags | libc::O_DIRECT } else { flags & !libc::O_DIRECT };
        libc::fcntl(fd, libc::F_SETFL, wanted) == 0 && on
    }
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_file: &File, _on: bool) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_direct_write_the_file_system_refuses_goes_through_the_page_cache() {
        // ext4 (this project's /tmp) refuses a direct write of 100 bytes with EINVAL; tmpfs
        // takes it. Either way the bytes must land, and the next window too.
        for dir in [std::env::temp_dir(), "/dev/shm".into()] {
            let file = tempfile::tempfile_in(&dir).unwrap();
            let buffer = memmap2::MmapMut::map_anon(2 * ALIGN).unwrap();
            let mut buffer = buffer;
            buffer[..100].fill(7);
            let mut writer = WindowWriter::with_align(&file, 1);
            writer.write(&buffer, 100, 0).unwrap();
            buffer[..ALIGN].fill(9);
            writer.write(&buffer, ALIGN, ALIGN as u64).unwrap();
            let mut back = vec![0u8; 2 * ALIGN];
            file.read_exact_at(&mut back, 0).unwrap();
            assert!(back[..100].iter().all(|&b| b == 7), "{dir:?}: first window");
            assert!(back[100..ALIGN].iter().all(|&b| b == 0), "{dir:?}: the gap");
            assert!(back[ALIGN..].iter().all(|&b| b == 9), "{dir:?}: second window");
        }
    }
}
