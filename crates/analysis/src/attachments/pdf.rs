//! PDF: link targets, without rendering.
//!
//! Link annotations carry `/URI (target)`. They sit in plain objects or in
//! compressed object streams, so FlateDecode object streams are inflated,
//! within a byte budget, and searched too. Encryption (`/Encrypt`) and JavaScript or
//! launch actions are reported for triage.

use std::io::Read;
use std::sync::LazyLock;

use flate2::read::ZlibDecoder;
use memchr::memmem;
use regex::bytes::Regex;

/// Bytes inflated per PDF in total.
const MAX_INFLATED_BYTES: u64 = 16 * 1024 * 1024;
/// Bytes inflated per stream.
const MAX_STREAM_BYTES: u64 = 4 * 1024 * 1024;

/// A URI action with a literal string target. The length is checked after
/// matching: a bounded repetition would make the compiled automaton large.
static URI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"/URI\s*\(((?:[^()\\]|\\.)+)\)").expect("valid regex"));

/// What a PDF yields.
#[derive(Debug, Default)]
pub(crate) struct PdfFindings {
    pub urls: Vec<String>,
    pub encrypted: bool,
    pub javascript: bool,
    pub launch: bool,
}

pub(crate) fn inspect(bytes: &[u8]) -> PdfFindings {
    let mut findings = PdfFindings {
        encrypted: memmem::find(bytes, b"/Encrypt").is_some(),
        javascript: memmem::find(bytes, b"/JavaScript").is_some() || memmem::find(bytes, b"/JS").is_some(),
        launch: memmem::find(bytes, b"/Launch").is_some(),
        ..PdfFindings::default()
    };
    collect_uris(bytes, &mut findings.urls);

    let mut budget = MAX_INFLATED_BYTES;
    let mut position = 0;
    while let Some(offset) = memmem::find(&bytes[position..], b"stream") {
        let start = position + offset + b"stream".len();
        position = start;
        if budget == 0 || bytes[..start].ends_with(b"endstream") {
            continue;
        }
        let data_start = skip_line_end(bytes, start);
        let Some(length) = memmem::find(&bytes[data_start..], b"endstream") else {
            break;
        };
        // Link annotations are dictionaries, which compressed PDFs keep in
        // object streams; page content, images and fonts never hold them.
        let dictionary_start = start.saturating_sub(512);
        let dictionary = &bytes[dictionary_start..start];
        let dictionary = match memmem::rfind(dictionary, b"obj") {
            Some(object_start) => &dictionary[object_start..],
            None => dictionary,
        };
        if memmem::find(dictionary, b"FlateDecode").is_none() || memmem::find(dictionary, b"/ObjStm").is_none() {
            continue;
        }
        let mut inflated = Vec::new();
        let limit = budget.min(MAX_STREAM_BYTES);
        let _ = ZlibDecoder::new(&bytes[data_start..data_start + length]).take(limit).read_to_end(&mut inflated);
        budget = budget.saturating_sub(inflated.len() as u64);
        collect_uris(&inflated, &mut findings.urls);
        position = data_start + length;
    }
    findings.urls.dedup();
    findings
}

fn skip_line_end(bytes: &[u8], position: usize) -> usize {
    match bytes.get(position..position + 2) {
        Some(b"\r\n") => position + 2,
        Some([b'\n', _]) | Some([b'\r', _]) => position + 1,
        _ => position,
    }
}

fn collect_uris(bytes: &[u8], urls: &mut Vec<String>) {
    for captures in URI.captures_iter(bytes) {
        let raw = &captures[1];
        if raw.len() > 4096 {
            continue;
        }
        let unescaped: Vec<u8> = unescape_pdf_string(raw);
        let text = String::from_utf8_lossy(&unescaped).trim().to_string();
        if !text.is_empty() && urls.len() < 500 && !urls.contains(&text) {
            urls.push(text);
        }
    }
}

/// Undoes the escapes of a PDF literal string that occur in URIs.
fn unescape_pdf_string(raw: &[u8]) -> Vec<u8> {
    let mut output = Vec::with_capacity(raw.len());
    let mut iterator = raw.iter().copied();
    while let Some(byte) = iterator.next() {
        if byte != b'\\' {
            output.push(byte);
            continue;
        }
        match iterator.next() {
            Some(b'n') => output.push(b'\n'),
            Some(b'r') => output.push(b'\r'),
            Some(b't') => output.push(b'\t'),
            Some(other) => output.push(other),
            None => {}
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    #[test]
    fn plain_and_compressed_links() {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(b"<< /A << /S /URI /URI (https://hidden.example-phish.net/a\\(1\\)) >> >>").expect("write");
        let compressed = encoder.finish().expect("finish");
        let mut pdf = b"%PDF-1.7\n1 0 obj << /Type /Annot /A << /URI (https://plain.example-phish.net/x) >> >>\nendobj\n2 0 obj << /Type /ObjStm /Filter /FlateDecode /Length 99 >>\nstream\n".to_vec();
        pdf.extend_from_slice(&compressed);
        pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF");
        let findings = inspect(&pdf);
        assert_eq!(findings.urls, vec!["https://plain.example-phish.net/x", "https://hidden.example-phish.net/a(1)"]);
        assert!(!findings.encrypted);
    }

    #[test]
    fn truncated_pdf_does_not_panic() {
        let findings = inspect(b"%PDF-1.4\n1 0 obj << /Filter /FlateDecode >>\nstream\n\x78\x9c\x01");
        assert!(findings.urls.is_empty());
    }
}
