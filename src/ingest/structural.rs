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

/// A way to classify blocks and find their quoted bytes. [`Baseline`] runs on every x86-64 CPU
/// (and everywhere else); [`Avx2Clmul`] needs AVX2 and carry-less multiplication, which
/// nearly every x86-64 CPU since 2013 has, and is chosen at run time where they are found.
pub trait Classifier {
    /// Classifies the 64 bytes of `block`.
    ///
    /// # Safety
    /// The CPU has the features the implementation names.
    unsafe fn classify(block: &[u8; BLOCK]) -> BlockBits;

    /// [`prefix_xor`], computed the implementation's way.
    ///
    /// # Safety
    /// The CPU has the features the implementation names.
    unsafe fn prefix_xor(x: u64) -> u64;

    /// Classifies `bytes` (at most 64), as if padded with zero bytes.
    ///
    /// # Safety
    /// The CPU has the features the implementation names.
    #[inline(always)]
    unsafe fn classify_tail(bytes: &[u8]) -> BlockBits {
        let mut block = [0u8; BLOCK];
        block[..bytes.len()].copy_from_slice(bytes);
        Self::classify(&block)
    }
}

/// The x86-64 baseline (SSE2) or the portable loop: needs no feature.
pub struct Baseline;

impl Classifier for Baseline {
    #[inline(always)]
    unsafe fn classify(block: &[u8; BLOCK]) -> BlockBits {
        classify(block)
    }

    #[inline(always)]
    unsafe fn prefix_xor(x: u64) -> u64 {
        prefix_xor(x)
    }
}

/// 32 bytes per compare, and the prefix XOR as one carry-less multiplication by all ones (as
/// simdjson does): needs `avx2` and `pclmulqdq`.
#[cfg(target_arch = "x86_64")]
pub struct Avx2Clmul;

#[cfg(target_arch = "x86_64")]
impl Avx2Clmul {
    /// Whether this CPU has what [`Avx2Clmul`] needs.
    pub fn detected() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
}

#[cfg(target_arch = "x86_64")]
impl Classifier for Avx2Clmul {
    #[inline(always)]
    unsafe fn classify(block: &[u8; BLOCK]) -> BlockBits {
        classify_avx2(block)
    }

    #[inline(always)]
    unsafe fn prefix_xor(x: u64) -> u64 {
        prefix_xor_clmul(x)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn classify_avx2(block: &[u8; BLOCK]) -> BlockBits {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let (comma, quote, newline) =
        (_mm256_set1_epi8(b',' as i8), _mm256_set1_epi8(b'"' as i8), _mm256_set1_epi8(b'\n' as i8));
    let lo = _mm256_loadu_si256(block.as_ptr().cast::<__m256i>());
    let hi = _mm256_loadu_si256(block.as_ptr().add(32).cast::<__m256i>());
    let mask = |c| {
        let low = u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, c)) as u32);
        let high = u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, c)) as u32);
        low | high << 32
    };
    BlockBits { comma: mask(comma), quote: mask(quote), newline: mask(newline) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "pclmulqdq")]
#[inline]
unsafe fn prefix_xor_clmul(x: u64) -> u64 {
    use std::arch::x86_64::{
        _mm_clmulepi64_si128, _mm_cvtsi128_si64, _mm_set1_epi8, _mm_set_epi64x,
    };
    let product = _mm_clmulepi64_si128(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1), 0);
    _mm_cvtsi128_si64(product) as u64
}

/// Counts the quotes and the line breaks of `bytes` in one pass: what cutting a table into
/// pieces needs of every byte. Two passes of a one-byte counter (`bytecount`) read each block
/// twice, and were a tenth of the five-item job's time.
pub fn count_quotes_and_breaks(bytes: &[u8]) -> (usize, usize) {
    #[cfg(target_arch = "x86_64")]
    if Avx2Clmul::detected() && std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has the features the function is compiled with.
        return unsafe { count_avx2_popcnt(bytes) };
    }
    // SAFETY: the baseline needs no feature.
    unsafe { count::<Baseline>(bytes) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq,popcnt")]
unsafe fn count_avx2_popcnt(bytes: &[u8]) -> (usize, usize) {
    count::<Avx2Clmul>(bytes)
}

/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
unsafe fn count<C: Classifier>(bytes: &[u8]) -> (usize, usize) {
    let (mut quotes, mut breaks) = (0, 0);
    let mut blocks = bytes.chunks_exact(BLOCK);
    for block in &mut blocks {
        let bits = C::classify(block.try_into().expect("64 bytes"));
        quotes += bits.quote.count_ones() as usize;
        breaks += bits.newline.count_ones() as usize;
    }
    let tail = C::classify_tail(blocks.remainder());
    (quotes + tail.quote.count_ones() as usize, breaks + tail.newline.count_ones() as usize)
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_clmul_agree_with_the_baseline() {
        if !Avx2Clmul::detected() {
            // Nothing to compare on such a CPU: the scan never takes this path there.
            return;
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let alphabet = [b',', b'"', b'\n', b'a', 0x80, 0xff, b'1'];
        for _ in 0..2_000 {
            let mut block = [0u8; BLOCK];
            block.iter_mut().for_each(|b| *b = alphabet[rng.gen_range(0..alphabet.len())]);
            let word: u64 = rng.gen();
            // SAFETY: the features were detected above.
            unsafe {
                assert_eq!(Avx2Clmul::classify(&block), classify_scalar(&block), "{block:?}");
                assert_eq!(Avx2Clmul::prefix_xor(word), prefix_xor(word), "{word:#x}");
            }
        }
    }

    #[test]
    fn counts_quotes_and_breaks_like_a_byte_counter() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let alphabet = [b',', b'"', b'\n', b'a', 0x80];
        for len in (0..300).chain([4_096, 100_003]) {
            let bytes: Vec<u8> =
                (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            let expected = (bytecount::count(&bytes, b'"'), bytecount::count(&bytes, b'\n'));
            assert_eq!(count_quotes_and_breaks(&bytes), expected, "length {len}");
            // SAFETY: the baseline needs no feature.
            assert_eq!(unsafe { count::<Baseline>(&bytes) }, expected, "length {len}");
        }
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
