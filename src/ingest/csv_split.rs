//! Zero-copy CSV tokenizing for the ingest hot path.
//!
//! Event tables are the largest inputs (MIMIC-III's CHARTEVENTS is 330 million rows) and the
//! engine needs only four of their 8-15 fields, so this tokenizer never splits a record into
//! fields or copies one: [`scan_records`] hands each record's field count and separator bits
//! to the caller, which locates the fields it uses ([`ScannedRecord::field`]). Most rows of an
//! events table are dropped on their item id alone (95% of CHARTEVENTS rows when the five
//! MedLens items are selected), so most records cost a field count and one field. Small tables
//! (ADMISSIONS) go through the `csv` crate instead.
//!
//! The scan classifies each 64-byte block of a piece once ([`super::structural`]) and walks the
//! records ending in it on the block's bits: a record's field count is a population count of
//! its separators, and a field is found by selecting the two separator bits around it. The
//! tokenizer before it classified per record, so the block holding the end of one record and
//! the start of the next was classified twice, and it stored every field's span: on the
//! five-item job the scan took 0.35 s where that took 0.45 s (docs/benchmarks.md).
//!
//! Quote rule: every `"` toggles the quoted state, wherever it stands. For RFC 4180 data (all
//! MIMIC exports) this is the standard reading, escaped `""` included. It also makes the state
//! at any byte a function of the parity of the quotes before it, which is what lets a file be
//! cut into pieces at record boundaries in parallel ([`record_start_at_or_after`]) with results
//! that never depend on where the cuts fell. A stray quote in an unquoted field therefore
//! swallows the following line breaks, and the row is reported as malformed. The same rule is
//! what lets the scan find a block's quoted bytes with one prefix XOR of its quote bits.

#[cfg(target_arch = "x86_64")]
use super::structural::Avx2Clmul;
use super::structural::{Baseline, Classifier, BLOCK};
use crate::error::RowError;
use std::ops::ControlFlow;

/// Counts occurrences of `byte`, with the widest vector compares the CPU has (`bytecount`
/// checks at run time). Cutting a file into pieces counts every byte of it twice (quotes and
/// line breaks), so this runs at memory speed or it shows: a plain sum widened each byte to a
/// 64-bit lane and counted at about 1.4 GB/s.
#[inline]
pub fn count_byte(bytes: &[u8], byte: u8) -> usize {
    bytecount::count(bytes, byte)
}

/// The first record start at or after `from`, given whether `from` lies inside quotes: the
/// byte after the first line break outside quotes, or `data.len()` if there is none.
pub fn record_start_at_or_after(data: &[u8], from: usize, mut in_quotes: bool) -> usize {
    for (offset, &b) in data[from..].iter().enumerate() {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => return from + offset + 1,
            _ => {}
        }
    }
    data.len()
}

/// The end of the last complete record in `data` (which starts at a record boundary): the byte
/// after the last line break outside quotes, or `None` if `data` holds no complete record.
pub fn last_record_end(data: &[u8]) -> Option<usize> {
    let mut quotes_after = 0usize;
    let total = count_byte(data, b'"');
    for i in (0..data.len()).rev() {
        match data[i] {
            b'"' => quotes_after += 1,
            b'\n' if (total - quotes_after) % 2 == 0 => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// Strips the enclosing quotes of a quoted field. Inner `""` escapes are left as they are: the
/// fields read through this path are numbers and timestamps, which never contain quotes.
#[inline]
pub fn unquote(field: &[u8]) -> &[u8] {
    match field {
        [b'"', inner @ .., b'"'] => inner,
        other => other,
    }
}

/// One non-blank record of a piece, as far as the scan read it.
#[derive(Clone, Copy, Debug)]
pub struct ScannedRecord<'s> {
    /// The 1-based line number of the record's first byte.
    pub line: u64,
    /// The record's bytes in the piece: from its first byte up to (not including) its line
    /// break; a trailing `\r` is included.
    pub start: usize,
    pub end: usize,
    /// How many fields the record has.
    pub fields: usize,
    /// The record's separators: for each block holding some, the block's offset in the piece,
    /// their bits, and how many separators the record has up to and including them.
    runs: &'s [SeparatorRun],
}

/// Separators of one record in one block: `(block offset, bits, separators through them)`.
type SeparatorRun = (usize, u64, usize);

impl ScannedRecord<'_> {
    /// The span of field `k` (0-based; a last field without its trailing `\r`), or an empty
    /// span at `end` when the record has no field `k`.
    #[inline(always)]
    pub fn field(&self, data: &[u8], k: usize) -> (usize, usize) {
        if k >= self.fields {
            return (self.end, self.end);
        }
        let start = if k == 0 { self.start } else { self.separator(k - 1) + 1 };
        let end = if k + 1 < self.fields {
            self.separator(k)
        } else if self.end > start && data[self.end - 1] == b'\r' {
            self.end - 1
        } else {
            self.end
        };
        (start, end)
    }

    /// The bytes of field `k`, as [`field`](Self::field) spans them.
    #[inline(always)]
    pub fn field_bytes<'d>(&self, data: &'d [u8], k: usize) -> &'d [u8] {
        let (start, end) = self.field(data, k);
        &data[start..end]
    }

    /// The position of separator `n` (0-based), which the record has.
    #[inline(always)]
    fn separator(&self, n: usize) -> usize {
        let mut before = 0;
        for &(base, bits, through) in self.runs {
            if n < through {
                return base + nth_set_bit(bits, n - before);
            }
            before = through;
        }
        unreachable!("separator {n} of a record with {} fields", self.fields)
    }
}

/// Hands each non-blank record of `data` (which starts at a record boundary, line
/// `first_line`) to `visit`, which reads the fields it needs from it. A record whose quote is
/// never closed is handed as an error and ends the scan; so does `visit` returning
/// `ControlFlow::Break`.
pub fn scan_records(
    data: &[u8],
    first_line: u64,
    visit: impl FnMut(Result<&ScannedRecord<'_>, (u64, RowError)>) -> ControlFlow<()>,
) {
    #[cfg(target_arch = "x86_64")]
    if Avx2Clmul::detected() && std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has the features the function is compiled with.
        return unsafe { scan_avx2_clmul_popcnt(data, first_line, visit) };
    }
    // SAFETY: the baseline needs no feature.
    unsafe { scan::<Baseline>(data, first_line, visit) }
}

/// [`scan`] compiled with AVX2, carry-less multiplication and `popcnt`. The x86-64 baseline
/// lacks `popcnt`, and the scan counts bits several times per record: each count was a dozen
/// instructions, and with the classification and prefix XOR of the baseline they were
/// most of the scan's time on the five-item job.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,pclmulqdq,popcnt")]
unsafe fn scan_avx2_clmul_popcnt(
    data: &[u8],
    first_line: u64,
    visit: impl FnMut(Result<&ScannedRecord<'_>, (u64, RowError)>) -> ControlFlow<()>,
) {
    scan::<Avx2Clmul>(data, first_line, visit);
}

/// The scan itself, inlined into each entry point so that it is compiled with its features.
///
/// # Safety
/// The CPU has the features `C` names.
#[inline(always)]
unsafe fn scan<C: Classifier>(
    data: &[u8],
    first_line: u64,
    mut visit: impl FnMut(Result<&ScannedRecord<'_>, (u64, RowError)>) -> ControlFlow<()>,
) {
    // The open record: where it starts, its line, its separators so far.
    let (mut start, mut line, mut separators) = (0, first_line, 0);
    let mut runs: Vec<SeparatorRun> = Vec::with_capacity(8);
    // Line number of the block's first byte, and whether that byte lies inside quotes.
    let mut block_line = first_line;
    let mut carry = 0u64;
    let mut base = 0;
    // Hands the record ending at `end` to `visit`, unless it is blank.
    let mut close = |start: usize, line: u64, separators: usize, runs: &[SeparatorRun], end| {
        let trimmed = if end > start && data[end - 1] == b'\r' { end - 1 } else { end };
        if separators == 0 && trimmed == start {
            return ControlFlow::Continue(());
        }
        visit(Ok(&ScannedRecord { line, start, end, fields: separators + 1, runs }))
    };
    while base < data.len() {
        let bits = match data.get(base..base + BLOCK) {
            Some(block) => C::classify(block.try_into().expect("64 bytes")),
            None => C::classify_tail(&data[base..]),
        };
        let quoted = C::prefix_xor(bits.quote) ^ carry;
        let mut commas = bits.comma & !quoted;
        let mut breaks = bits.newline & !quoted;
        loop {
            let first_break = breaks & breaks.wrapping_neg();
            let before = if first_break == 0 { commas } else { commas & (first_break - 1) };
            if before != 0 {
                separators += before.count_ones() as usize;
                runs.push((base, before, separators));
            }
            if first_break == 0 {
                break;
            }
            let end = base + first_break.trailing_zeros() as usize;
            if close(start, line, separators, &runs, end).is_break() {
                return;
            }
            // Bits up to and including this break belong to records already closed.
            let through = first_break ^ (first_break - 1);
            commas &= !through;
            breaks &= breaks - 1;
            (start, separators) = (end + 1, 0);
            line = block_line + u64::from((bits.newline & through).count_ones());
            runs.clear();
        }
        block_line += u64::from(bits.newline.count_ones());
        carry = if quoted >> 63 == 1 { !0 } else { 0 };
        base += BLOCK;
    }
    if start < data.len() {
        if carry != 0 {
            let _ = visit(Err((line, RowError::UnterminatedQuote)));
        } else {
            let _ = close(start, line, separators, &runs, data.len());
        }
    }
}

/// The position of the `n`-th (0-based) set bit of `bits`, which has more than `n`.
#[inline(always)]
fn nth_set_bit(mut bits: u64, n: usize) -> usize {
    for _ in 0..n {
        bits &= bits - 1;
    }
    bits.trailing_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's line and field spans, or the line of an unterminated quote.
    type Split = Vec<Result<(u64, Vec<(usize, usize)>), u64>>;

    fn all_fields(
        data: &[u8],
        r: Result<&ScannedRecord, (u64, RowError)>,
    ) -> Result<(u64, Vec<(usize, usize)>), u64> {
        r.map(|r| (r.line, (0..r.fields).map(|k| r.field(data, k)).collect()))
            .map_err(|(line, _)| line)
    }

    fn scanned(data: &[u8], first_line: u64) -> Split {
        let mut out = Vec::new();
        scan_records(data, first_line, |r| {
            out.push(all_fields(data, r));
            ControlFlow::Continue(())
        });
        out
    }

    /// The same scan compiled for the x86-64 baseline, which `scan_records` does not take on
    /// CPUs with AVX2.
    fn scanned_on_baseline(data: &[u8], first_line: u64) -> Split {
        let mut out = Vec::new();
        // SAFETY: the baseline needs no feature.
        unsafe {
            scan::<Baseline>(data, first_line, |r| {
                out.push(all_fields(data, r));
                ControlFlow::Continue(())
            });
        }
        out
    }

    fn split(text: &str) -> Vec<(u64, Vec<String>)> {
        let spans = scanned(text.as_bytes(), 1);
        let fields =
            |f: Vec<(usize, usize)>| f.iter().map(|&(s, e)| text[s..e].to_string()).collect();
        spans.into_iter().map(|r| r.map(|(line, f)| (line, fields(f))).unwrap()).collect()
    }

    /// A byte-at-a-time tokenizer: the reference the block scan must agree with.
    fn reference(data: &[u8], first_line: u64) -> Split {
        let (mut out, mut pos, mut line) = (Vec::new(), 0, first_line);
        while pos < data.len() {
            let (start_line, mut fields, mut field_start) = (line, Vec::new(), pos);
            let (mut i, mut in_quotes) = (pos, false);
            let end = loop {
                let Some(&b) = data.get(i) else {
                    if in_quotes {
                        out.push(Err(start_line));
                        return out;
                    }
                    break i;
                };
                match (in_quotes, b) {
                    (_, b'"') => in_quotes = !in_quotes,
                    (true, b'\n') => line += 1,
                    (false, b',') => {
                        fields.push((field_start, i));
                        field_start = i + 1;
                    }
                    (false, b'\n') => break i,
                    _ => {}
                }
                i += 1;
            };
            let last_end = if end > field_start && data[end - 1] == b'\r' { end - 1 } else { end };
            fields.push((field_start, last_end));
            pos = end + 1;
            if end < data.len() {
                line += 1;
            }
            if !(fields.len() == 1 && last_end == field_start) {
                out.push(Ok((start_line, fields)));
            }
        }
        out
    }

    #[test]
    fn block_scan_agrees_with_the_byte_loop_across_block_edges() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // Long quoted and unquoted runs put separators, quotes and line breaks on every
        // position of a 64-byte block, at its edges included.
        let pieces: [&[u8]; 11] = [
            b",",
            b"\"",
            b"\n",
            b"\r\n",
            b"\r",
            b"a",
            b"12.5",
            b"\"x,\ny\"",
            b"\"\"",
            b"abcdefghijklmnopqrstu",
            b"abcdefghijklmnopqrstuvwxyz0123456789,abcdefghijklmnopqrstuvwxyz0123456789",
        ];
        for case in 0..5_000 {
            let len = rng.gen_range(0..80);
            let data: Vec<u8> =
                (0..len).flat_map(|_| pieces[rng.gen_range(0..pieces.len())].to_vec()).collect();
            let first_line = rng.gen_range(1..5);
            let expected = reference(&data, first_line);
            let text = String::from_utf8_lossy(&data);
            assert_eq!(scanned(&data, first_line), expected, "case {case}: {text:?}");
            assert_eq!(
                scanned_on_baseline(&data, first_line),
                expected,
                "baseline {case}: {text:?}"
            );
        }
    }

    #[test]
    fn splits_quoted_commas_crlf_and_blank_lines() {
        let got = split("a,\"b,c\",d\r\n\n1,,\"x\"\"y\"\n");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], (1, vec!["a".into(), "\"b,c\"".into(), "d".into()]));
        assert_eq!(got[1], (3, vec!["1".into(), "".into(), "\"x\"\"y\"".into()]));
    }

    #[test]
    fn counts_physical_lines_inside_quoted_fields() {
        let got = split("a,\"multi\nline\",b\nc,d,e");
        assert_eq!(got[0].0, 1);
        assert_eq!(got[1], (3, vec!["c".into(), "d".into(), "e".into()]));
    }

    #[test]
    fn unclosed_quote_is_an_error_with_its_line() {
        assert_eq!(scanned(b"a,b\nc,\"d\ne\n", 1), vec![Ok((1, vec![(0, 1), (2, 3)])), Err(2)]);
    }

    #[test]
    fn a_field_past_the_last_is_empty_at_the_end() {
        let data = b"1,36,211\r\n";
        let mut got = Vec::new();
        scan_records(data, 1, |r| {
            let r = r.unwrap();
            got.extend([r.field(data, 2), r.field(data, 3), (r.start, r.end)]);
            ControlFlow::Continue(())
        });
        assert_eq!(got, vec![(5, 8), (9, 9), (0, 9)]);
    }

    #[test]
    fn stops_when_asked() {
        let mut seen = 0;
        scan_records(b"a\nb\nc\n", 1, |_| {
            seen += 1;
            ControlFlow::Break(())
        });
        assert_eq!(seen, 1);
    }

    #[test]
    fn agrees_with_the_csv_crate_on_random_rfc4180_data() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let alphabet = [b'a', b'1', b',', b'"', b'\n', b' ', b'.'];
        for _ in 0..200 {
            let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
            for _ in 0..rng.gen_range(1..20) {
                let n = rng.gen_range(1..6);
                let row: Vec<Vec<u8>> = (0..n)
                    .map(|_| {
                        let len = rng.gen_range(1..6);
                        (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect()
                    })
                    .collect();
                writer.write_record(&row).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let mut expected = Vec::new();
            let mut reader =
                csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&bytes[..]);
            for rec in reader.byte_records() {
                expected.push(rec.unwrap().iter().map(<[u8]>::to_vec).collect::<Vec<_>>());
            }
            let mut got = Vec::new();
            for record in scanned(&bytes, 1) {
                got.push(
                    record
                        .unwrap()
                        .1
                        .iter()
                        .map(|&(s, e)| {
                            let f = &bytes[s..e];
                            let inner = unquote(f);
                            if inner.len() == f.len() {
                                f.to_vec()
                            } else {
                                String::from_utf8_lossy(inner).replace("\"\"", "\"").into_bytes()
                            }
                        })
                        .collect::<Vec<_>>(),
                );
            }
            assert_eq!(got, expected, "{}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn record_boundaries_follow_quote_parity() {
        let data = b"a,\"x\ny\"\nb,c\n";
        assert_eq!(record_start_at_or_after(data, 0, false), 8);
        assert_eq!(record_start_at_or_after(data, 4, true), 8);
        assert_eq!(last_record_end(data), Some(data.len()));
        assert_eq!(last_record_end(b"a,\"x\ny"), None);
        assert_eq!(last_record_end(b"a\nb,\"x\ny"), Some(2));
    }
}
