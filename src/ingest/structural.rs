//! Finding a CSV block's structural bytes 64 at a time.
//!
//! The tokenizer's cost used to be one branch per byte. Here a block of 64 bytes is classified
//! with a few vector compares into one bit per byte for each structural byte (`,`, `"`, `\n`);
//! which bytes lie inside quotes follows from the quote bits by a prefix XOR; and a record's
//! fields are then read off the separator bits, one step per field instead of one per byte
//! (the approach of simdjson and simdcsv). Only x86-64's baseline SSE2 is used, so no runtime
//! detection is needed; other targets classify bytes in a plain loop with the same results.

/// The bytes one block is classified by.
pub const BLOCK: usize = 64;

/// One bit per byte of a block (bit `i` is byte `i`) for each structural byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockBits {
    pub comma: u64,
    pub quote: u64,
    pub newline: u64,
}

/// Classifies the 64 bytes of `block`.
#[inline]
pub fn classify(block: &[u8; BLOCK]) -> BlockBits {
    #[cfg(target_arch = "x86_64")]
    {
        classify_sse2(block)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        classify_scalar(block)
    }
}

/// Classifies `bytes` (at most 64), as if padded with zero bytes, which are never structural.
#[inline]
pub fn classify_tail(bytes: &[u8]) -> BlockBits {
    let mut block = [0u8; BLOCK];
    block[..bytes.len()].copy_from_slice(bytes);
    classify(&block)
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn classify_sse2(block: &[u8; BLOCK]) -> BlockBits {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of the x86-64 baseline, so these intrinsics are always available;
    // each load reads 16 bytes at offsets 0, 16, 32 and 48 of a 64-byte array.
    unsafe {
        let (comma, quote, newline) =
            (_mm_set1_epi8(b',' as i8), _mm_set1_epi8(b'"' as i8), _mm_set1_epi8(b'\n' as i8));
        let mut bits = BlockBits { comma: 0, quote: 0, newline: 0 };
        for lane in 0..BLOCK / 16 {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * lane).cast::<__m128i>());
            let mask = |c| u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, c)) as u16) << (16 * lane);
            bits.comma |= mask(comma);
            bits.quote |= mask(quote);
            bits.newline |= mask(newline);
        }
        bits
    }
}

/// The portable classification, and the reference the vector one is tested against.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn classify_scalar(block: &[u8; BLOCK]) -> BlockBits {
    let mask =
        |c: u8| block.iter().enumerate().fold(0u64, |m, (i, &b)| m | (u64::from(b == c) << i));
    BlockBits { comma: mask(b','), quote: mask(b'"'), newline: mask(b'\n') }
}

/// Bit `i` of the result is the parity of the set bits of `x` at positions `0..=i`: given the
/// quote bits, the bytes from an opening quote up to (not including) its closing quote.
#[inline]
pub fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn vector_and_scalar_classification_agree() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let alphabet = [b',', b'"', b'\n', b'a', b'\r', 0, 0xff, b'1'];
        for _ in 0..2_000 {
            let mut block = [0u8; BLOCK];
            block.iter_mut().for_each(|b| *b = alphabet[rng.gen_range(0..alphabet.len())]);
            assert_eq!(classify(&block), classify_scalar(&block), "{block:?}");
        }
    }

    #[test]
    fn classifies_each_byte_at_its_own_bit() {
        let mut block = [b'x'; BLOCK];
        block[0] = b',';
        block[17] = b'"';
        block[63] = b'\n';
        let bits = classify(&block);
        assert_eq!(bits, BlockBits { comma: 1, quote: 1 << 17, newline: 1 << 63 });
        assert_eq!(classify_tail(b"a,\""), BlockBits { comma: 2, quote: 4, newline: 0 });
    }

    #[test]
    fn prefix_xor_marks_quoted_spans() {
        // quotes at 2 and 5: bytes 2, 3 and 4 lie inside
        assert_eq!(prefix_xor(0b100100), 0b011100);
        // an unclosed quote at bit 62 runs to the block's end
        assert_eq!(prefix_xor(1 << 62), 0b11 << 62);
        assert_eq!(prefix_xor(0), 0);
    }
}
