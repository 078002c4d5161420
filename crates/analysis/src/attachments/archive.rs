//! Zip archives: listing and bounded inspection.
//!
//! The central directory gives names, sizes and encryption flags without
//! decompressing anything. Entries are then decompressed for type detection
//! and hashing only while a byte budget lasts, never past the declared size,
//! and never when the declared ratio of uncompressed to compressed size marks
//! a decompression bomb. Nested zips are listed to a bounded depth.

use std::io::{Cursor, Read};

use phishloop_model::{ArchiveEntry, ArchiveListing};
use sha2::{Digest, Sha256};

use super::filetype;
use crate::config::Limits;
use crate::hex;

/// Largest single entry decompressed for inspection.
const MAX_ENTRY_BYTES: u64 = 16 * 1024 * 1024;

/// What inspecting an archive found beyond its listing.
#[derive(Debug, Default)]
pub(crate) struct ArchiveFindings {
    pub encrypted: bool,
    pub macros: bool,
    pub executable: bool,
    /// URLs of external relationships in Office documents (remote templates,
    /// linked objects).
    pub external_urls: Vec<String>,
    /// Text of HTML, SVG and text entries, for link and smuggling scans,
    /// with the entry name.
    pub documents: Vec<(String, Vec<u8>)>,
    pub error: Option<String>,
}

/// Lists a zip archive. `budget` is the number of bytes still allowed to be
/// decompressed; it is shared by nested archives.
pub(crate) fn list_zip(
    bytes: &[u8],
    limits: &Limits,
    depth: usize,
    budget: &mut u64,
    findings: &mut ArchiveFindings,
) -> Option<ArchiveListing> {
    let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(archive) => archive,
        Err(error) => {
            findings.error = Some(format!("cannot read zip: {error}"));
            return None;
        }
    };

    let total_entries = archive.len();
    let mut listing = ArchiveListing {
        format: "zip".to_string(),
        entries: Vec::new(),
        total_entries,
        total_uncompressed_size: 0,
        truncated: total_entries > limits.max_archive_entries,
    };

    for index in 0..total_entries.min(limits.max_archive_entries) {
        let Ok(file) = archive.by_index_raw(index) else {
            listing.truncated = true;
            continue;
        };
        let name = file.name().to_string();
        let size = file.size();
        let compressed_size = file.compressed_size();
        let encrypted = file.encrypted();
        let is_directory = file.is_dir();
        drop(file);

        listing.total_uncompressed_size = listing.total_uncompressed_size.saturating_add(size);
        findings.encrypted |= encrypted;
        let executable =
            filetype::extension(&name).is_some_and(|extension| filetype::is_executable_extension(&extension));
        findings.executable |= executable;
        inspect_office_name(&name, findings);

        let mut entry = ArchiveEntry {
            name: name.clone(),
            size,
            compressed_size,
            encrypted,
            detected_type: None,
            sha256: None,
            executable,
            archive: None,
        };

        let bomb =
            compressed_size > 0 && size / compressed_size.max(1) > limits.max_compression_ratio && size > 1024 * 1024;
        let inspectable = !encrypted && !is_directory && size <= MAX_ENTRY_BYTES && size <= *budget && !bomb;
        if !inspectable {
            if bomb || size > *budget {
                listing.truncated = true;
            }
            listing.entries.push(entry);
            continue;
        }

        match read_entry(&mut archive, index, size) {
            Some(content) => {
                *budget = budget.saturating_sub(content.len() as u64);
                inspect_entry(&mut entry, &name, &content, limits, depth, budget, findings);
            }
            None => listing.truncated = true,
        }
        listing.entries.push(entry);
    }
    Some(listing)
}

fn read_entry(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, index: usize, size: u64) -> Option<Vec<u8>> {
    let file = archive.by_index(index).ok()?;
    let mut content = Vec::with_capacity(size.min(MAX_ENTRY_BYTES) as usize);
    // Read at most the declared size plus one byte, so a lying header cannot
    // make us inflate more than we budgeted.
    file.take(size.saturating_add(1)).read_to_end(&mut content).ok()?;
    (content.len() as u64 <= size).then_some(content)
}

fn inspect_entry(
    entry: &mut ArchiveEntry,
    name: &str,
    content: &[u8],
    limits: &Limits,
    depth: usize,
    budget: &mut u64,
    findings: &mut ArchiveFindings,
) {
    let detected = filetype::detect(content);
    entry.sha256 = Some(hex(&Sha256::digest(content)));
    if let Some(detected) = &detected {
        entry.executable |= filetype::is_executable_type(detected);
        findings.executable |= entry.executable;
    }

    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".rels") {
        findings.external_urls.extend(external_targets(content));
    }
    let extension = filetype::extension(name);
    let text_like = filetype::is_html_like(extension.as_deref(), detected.as_deref())
        || matches!(extension.as_deref(), Some("txt" | "url" | "ics"));
    if text_like && findings.documents.len() < 20 {
        findings.documents.push((name.to_string(), content.to_vec()));
    }

    let nested_zip = detected.as_deref() == Some("application/zip")
        || detected.as_deref().is_some_and(|value| value.starts_with("application/vnd.openxmlformats"));
    if nested_zip && depth + 1 < limits.max_archive_depth {
        entry.archive = list_zip(content, limits, depth + 1, budget, findings).map(Box::new);
    }
    entry.detected_type = detected;
}

/// Macro parts of Office Open XML documents.
fn inspect_office_name(name: &str, findings: &mut ArchiveFindings) {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with("vbaproject.bin") || lower.starts_with("xl/macrosheets/") || lower.ends_with("vbadata.xml") {
        findings.macros = true;
    }
}

/// `Target` values of relationships with `TargetMode="External"`.
fn external_targets(rels: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(rels);
    let mut targets = Vec::new();
    for relationship in text.split("<Relationship ").skip(1) {
        let element = relationship.split('>').next().unwrap_or_default();
        if !element.contains("TargetMode=\"External\"") {
            continue;
        }
        if let Some(target) = attribute(element, "Target") {
            let target = target.replace("&amp;", "&");
            if !target.to_ascii_lowercase().starts_with("mailto:") {
                targets.push(target);
            }
        }
    }
    targets
}

fn attribute<'e>(element: &'e str, name: &str) -> Option<&'e str> {
    let start = element.find(&format!("{name}=\""))? + name.len() + 2;
    let end = element[start..].find('"')?;
    Some(&element[start..start + end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buffer = Cursor::new(Vec::new());
        {
            let mut writer = zip::ZipWriter::new(&mut buffer);
            let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            for (name, content) in files {
                writer.start_file(*name, options).expect("start file");
                writer.write_all(content).expect("write");
            }
            writer.finish().expect("finish");
        }
        buffer.into_inner()
    }

    #[test]
    fn lists_and_flags_executables() {
        let bytes = zip_of(&[("readme.txt", b"hello"), ("invoice.pdf.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00")]);
        let mut findings = ArchiveFindings::default();
        let mut budget = 1 << 20;
        let listing = list_zip(&bytes, &Limits::default(), 0, &mut budget, &mut findings).expect("zip");
        assert_eq!(listing.total_entries, 2);
        assert_eq!(listing.entries[1].name, "invoice.pdf.exe");
        assert!(listing.entries[1].executable);
        assert!(findings.executable);
        assert!(listing.entries[0].sha256.is_some());
    }

    #[test]
    fn budget_stops_inspection() {
        let big = vec![b'a'; 4096];
        let bytes = zip_of(&[("a.txt", &big), ("b.txt", &big)]);
        let mut findings = ArchiveFindings::default();
        let mut budget = 5000;
        let listing = list_zip(&bytes, &Limits::default(), 0, &mut budget, &mut findings).expect("zip");
        assert!(listing.entries[0].sha256.is_some());
        assert!(listing.entries[1].sha256.is_none());
        assert!(listing.truncated);
    }

    #[test]
    fn office_macros_and_remote_template() {
        let rels = br#"<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="https://templates.example-phish.net/t.dotm" TargetMode="External"/></Relationships>"#;
        let bytes = zip_of(&[("word/_rels/settings.xml.rels", rels), ("word/vbaProject.bin", b"x")]);
        let mut findings = ArchiveFindings::default();
        let mut budget = 1 << 20;
        list_zip(&bytes, &Limits::default(), 0, &mut budget, &mut findings).expect("zip");
        assert!(findings.macros);
        assert_eq!(findings.external_urls, vec!["https://templates.example-phish.net/t.dotm"]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut findings = ArchiveFindings::default();
        let mut budget = 1 << 20;
        assert!(list_zip(b"PK\x03\x04garbage", &Limits::default(), 0, &mut budget, &mut findings).is_none());
        assert!(findings.error.is_some());
    }
}
