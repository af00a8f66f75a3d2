//! Gzip compressed on all cores, the way pigz does it.
//!
//! One deflate stream is inherently sequential, and at about 70 MB/s it would cap the generator
//! well below its rendering speed. So each chunk of a table is deflated on its own, in parallel,
//! ending with a sync flush (which closes the chunk on a byte boundary without ending the
//! stream); the writer then concatenates the chunks behind one gzip header, adds an empty final
//! block, and a trailer whose CRC-32 it combines from the chunks' CRCs. The result is a single
//! ordinary gzip member that any decoder reads; each chunk only loses the 32 KiB of history it
//! could have borrowed from the previous one, which costs nothing measurable on megabyte chunks.

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress};

/// A gzip header: deflate, no name, no time stamp (so output is reproducible), unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A final deflate block holding nothing: BFINAL set, fixed codes, end-of-block.
const EMPTY_FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Part of a deflate stream that ends on a byte boundary, with the CRC of the bytes it encodes.
#[derive(Debug)]
pub(super) struct Piece {
    deflated: Vec<u8>,
    crc: Crc,
}

/// Deflates `plain` at the default level into a piece that can be followed by any other piece.
pub(super) fn deflate(plain: &[u8]) -> Piece {
    let mut compress = Compress::new(Compression::default(), false);
    let mut deflated = Vec::with_capacity(plain.len() / 4 + 64);
    loop {
        let consumed = compress.total_in() as usize;
        compress
            .compress_vec(&plain[consumed..], &mut deflated, FlushCompress::Sync)
            .expect("deflating in memory cannot fail");
        // zlib's contract: the flush is complete once output space is left over.
        if compress.total_in() as usize == plain.len() && deflated.len() < deflated.capacity() {
            break;
        }
        deflated.reserve(deflated.capacity());
    }
    let mut crc = Crc::new();
    crc.update(plain);
    Piece { deflated, crc }
}

/// One gzip member written piece by piece.
#[derive(Debug)]
pub(super) struct GzipMember<W: Write> {
    out: W,
    crc: Crc,
}

impl<W: Write> GzipMember<W> {
    pub fn start(mut out: W) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        Ok(GzipMember { out, crc: Crc::new() })
    }

    pub fn append(&mut self, piece: &Piece) -> io::Result<()> {
        self.out.write_all(&piece.deflated)?;
        self.crc.combine(&piece.crc);
        Ok(())
    }

    /// Ends the stream and writes the trailer: CRC-32 and length modulo 2^32, little-endian.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&EMPTY_FINAL_BLOCK)?;
        self.out.write_all(&self.crc.sum().to_le_bytes())?;
        self.out.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    #[test]
    fn pieces_concatenate_into_one_readable_member() {
        let parts: Vec<Vec<u8>> = (0..5)
            .map(|part| {
                (0..50_000u32)
                    .flat_map(|i| format!("{part},{},{}\n", i * 7, i % 13).into_bytes())
                    .collect()
            })
            .chain([Vec::new()])
            .collect();
        let mut member = GzipMember::start(Vec::new()).unwrap();
        for part in &parts {
            member.append(&deflate(part)).unwrap();
        }
        let gz = member.finish().unwrap();
        let mut text = Vec::new();
        GzDecoder::new(&gz[..]).read_to_end(&mut text).unwrap();
        assert_eq!(text, parts.concat());
    }
}
