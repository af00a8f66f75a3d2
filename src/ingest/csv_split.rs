//! Zero-copy CSV tokenizing for the ingest hot path.
//!
//! Event tables are the largest inputs (MIMIC-III's CHARTEVENTS is 330 million rows) and the
//! engine needs only four of their fields, so this tokenizer returns field spans into the
//! mapped bytes instead of copying every field into an output buffer as general CSV readers do.
//! Small tables (ADMISSIONS) go through the `csv` crate instead.
//!
//! Quote rule: every `"` toggles the quoted state, wherever it stands. For RFC 4180 data (all
//! MIMIC exports) this is the standard reading, escaped `""` included. It also makes the state
//! at any byte a function of the parity of the quotes before it, which is what lets a file be
//! cut into pieces at record boundaries in parallel ([`record_start_at_or_after`]) with results
//! that never depend on where the cuts fell. A stray quote in an unquoted field therefore
//! swallows the following line breaks, and the row is reported as malformed. The same rule is
//! what lets [`Records`] find a block's quoted bytes with one prefix XOR of its quote bits
//! ([`structural`]).

use super::structural::{self, BLOCK};
use crate::error::RowError;

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

/// Iterates over the records of a byte slice that starts at a record boundary.
pub struct Records<'a> {
    data: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Records<'a> {
    /// `first_line` is the 1-based line number of the first byte of `data`.
    pub fn new(data: &'a [u8], first_line: u64) -> Self {
        Records { data, pos: 0, line: first_line }
    }

    /// Reads the next non-blank record, filling `fields` with its field spans (start, end) in
    /// `data`, and returns its line number; `None` at the end. A record with an unclosed quote
    /// returns the error and ends the iteration.
    ///
    /// The record is scanned a block of 64 bytes at a time ([`structural`]): a block's
    /// separators outside quotes are bits of one word, and each field costs one step.
    pub fn next_into(
        &mut self,
        fields: &mut Vec<(usize, usize)>,
    ) -> Option<Result<u64, (u64, RowError)>> {
        let data = self.data;
        loop {
            if self.pos >= data.len() {
                return None;
            }
            fields.clear();
            let line = self.line;
            let mut field_start = self.pos;
            // A record's blocks start where it starts: classifying the bytes after a record's
            // end again with the next record measured cheaper than keeping its block's bits.
            let mut base = self.pos;
            let mut in_quotes = false;
            let end_of_record = loop {
                if base >= data.len() {
                    if in_quotes {
                        self.pos = data.len();
                        return Some(Err((line, RowError::UnterminatedQuote)));
                    }
                    break data.len();
                }
                let bits = match data.get(base..base + BLOCK) {
                    Some(block) => structural::classify(block.try_into().expect("64 bytes")),
                    None => structural::classify_tail(&data[base..]),
                };
                let carry = if in_quotes { !0 } else { 0 };
                let quoted = structural::prefix_xor(bits.quote) ^ carry;
                let breaks = bits.newline & !quoted;
                // Bits up to and including the record's line break, or the whole block.
                let within = match breaks & breaks.wrapping_neg() {
                    0 => !0,
                    first => first | (first - 1),
                };
                self.line += u64::from((bits.newline & quoted & within).count_ones());
                let mut commas = bits.comma & !quoted & within;
                while commas != 0 {
                    let at = base + commas.trailing_zeros() as usize;
                    fields.push((field_start, at));
                    field_start = at + 1;
                    commas &= commas - 1;
                }
                if breaks != 0 {
                    break base + breaks.trailing_zeros() as usize;
                }
                in_quotes = quoted >> 63 == 1;
                base += BLOCK;
            };
            let mut last_end = end_of_record;
            if last_end > field_start && data[last_end - 1] == b'\r' {
                last_end -= 1;
            }
            fields.push((field_start, last_end));
            self.pos = end_of_record + 1;
            if end_of_record < data.len() {
                self.line += 1;
            }
            let blank = fields.len() == 1 && last_end == field_start;
            if !blank {
                return Some(Ok(line));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(u64, Vec<String>)> {
        let mut records = Records::new(text.as_bytes(), 1);
        let mut fields = Vec::new();
        let mut out = Vec::new();
        while let Some(r) = records.next_into(&mut fields) {
            let line = r.unwrap();
            let values = fields.iter().map(|&(s, e)| text[s..e].to_string()).collect::<Vec<_>>();
            out.push((line, values));
        }
        out
    }

    /// Each record's line and field spans, or the line of an unterminated quote.
    type Split = Vec<Result<(u64, Vec<(usize, usize)>), u64>>;

    /// The byte-at-a-time tokenizer the block scanner replaced: the reference it must agree with.
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

    fn scanned(data: &[u8], first_line: u64) -> Split {
        let mut records = Records::new(data, first_line);
        let (mut fields, mut out) = (Vec::new(), Vec::new());
        while let Some(r) = records.next_into(&mut fields) {
            out.push(r.map(|line| (line, fields.clone())).map_err(|(line, _)| line));
        }
        out
    }

    #[test]
    fn block_scanner_agrees_with_the_byte_loop_across_block_edges() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // Long quoted and unquoted runs put separators, quotes and line breaks on every
        // position of a 64-byte block, at its edges included.
        let pieces: [&[u8]; 9] = [
            b",",
            b"\"",
            b"\n",
            b"\r\n",
            b"a",
            b"12.5",
            b"\"x,\ny\"",
            b"\"\"",
            b"abcdefghijklmnopqrstu",
        ];
        for case in 0..3_000 {
            let len = rng.gen_range(0..60);
            let data: Vec<u8> =
                (0..len).flat_map(|_| pieces[rng.gen_range(0..pieces.len())].to_vec()).collect();
            let first_line = rng.gen_range(1..5);
            assert_eq!(
                scanned(&data, first_line),
                reference(&data, first_line),
                "case {case}: {:?}",
                String::from_utf8_lossy(&data)
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
        let mut records = Records::new(b"a,b\nc,\"d\n", 1);
        let mut fields = Vec::new();
        assert_eq!(records.next_into(&mut fields).unwrap().unwrap(), 1);
        assert_eq!(records.next_into(&mut fields).unwrap().unwrap_err().0, 2);
        assert!(records.next_into(&mut fields).is_none());
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
            let mut records = Records::new(&bytes, 1);
            let mut fields = Vec::new();
            while let Some(r) = records.next_into(&mut fields) {
                r.unwrap();
                got.push(
                    fields
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
