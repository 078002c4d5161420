//! Attachments and inline files: what they are, what they hide, and the
//! links inside them.

mod archive;
mod filetype;
mod ole;
mod pdf;
mod qr;

use mail_parser::{MessagePart, MimeHeaders, PartType};
use md5::Md5;
use phishloop_model::{Attachment, AttachmentFlags, DefectCode, UrlSourceKind};
use sha2::{Digest, Sha256};

use crate::calendar;
use crate::hex;
use crate::message::{Collector, is_calendar};
use crate::text;

/// Analyses one attachment part. `bytes` are its decoded content.
pub(crate) fn analyze(collector: &mut Collector<'_>, part: &MessagePart<'_>, path: &str, bytes: &[u8]) -> Attachment {
    let filename = part
        .attachment_name()
        .map(|name| name.replace(['\r', '\n', '\0'], " ").trim().to_string())
        .filter(|name| !name.is_empty());
    let declared_type = part
        .content_type()
        .map(|content_type| match content_type.subtype() {
            Some(subtype) => format!("{}/{}", content_type.ctype(), subtype),
            None => content_type.ctype().to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".to_string())
        .to_ascii_lowercase();
    let detected_type = filetype::detect(bytes);
    let extension = filename.as_deref().and_then(filetype::extension);
    let location = filename.clone().unwrap_or_else(|| format!("part {path}"));

    let mut attachment = Attachment {
        part: path.to_string(),
        filename: filename.clone(),
        declared_type: declared_type.clone(),
        detected_type: detected_type.clone(),
        extension: extension.clone(),
        disposition: disposition(part),
        content_id: part.content_id().map(|id| id.trim().trim_matches(['<', '>']).to_string()),
        size: bytes.len() as u64,
        sha256: hex(&Sha256::digest(bytes)),
        md5: hex(&Md5::digest(bytes)),
        flags: name_flags(filename.as_deref(), extension.as_deref(), detected_type.as_deref()),
        archive: None,
        ole: None,
        qr_codes: Vec::new(),
        message: None,
    };

    if collector.deadline.expired() {
        return attachment;
    }
    inspect_content(collector, part, &mut attachment, bytes, &location);
    attachment
}

/// Flags that follow from the name and the detected type alone.
fn name_flags(filename: Option<&str>, extension: Option<&str>, detected: Option<&str>) -> AttachmentFlags {
    let executable_name = extension.is_some_and(filetype::is_executable_extension);
    let executable_content = detected.is_some_and(filetype::is_executable_type);
    AttachmentFlags {
        executable: executable_name || executable_content,
        double_extension: filename.is_some_and(filetype::has_double_extension),
        bidi_control: filename.is_some_and(filetype::has_bidi_control),
        extension_mismatch: match (extension, detected) {
            (Some(extension), Some(detected)) => filetype::extension_mismatch(extension, detected),
            _ => false,
        },
        ..AttachmentFlags::default()
    }
}

fn disposition(part: &MessagePart<'_>) -> Option<String> {
    let value = part.content_disposition()?.ctype().trim().to_ascii_lowercase();
    matches!(value.as_str(), "inline" | "attachment").then_some(value)
}

/// Looks inside the content according to its type.
fn inspect_content(
    collector: &mut Collector<'_>,
    part: &MessagePart<'_>,
    attachment: &mut Attachment,
    bytes: &[u8],
    location: &str,
) {
    let detected = attachment.detected_type.clone().unwrap_or_default();
    let extension = attachment.extension.clone();

    if let PartType::Message(_) = &part.body {
        attachment.message = nested_message(collector, bytes, location);
        return;
    }
    if bytes.starts_with(&phishloop_intake::CFB_MAGIC) {
        let info = ole::inspect(bytes);
        attachment.flags.macros |= info.vba;
        attachment.flags.encrypted |= ole::is_encrypted(&info);
        if let Some(error) = &info.error {
            collector.defect(DefectCode::InvalidMsg, format!("{location}: {error}"), Some(&attachment.part));
        }
        if info.application == "outlook_msg" {
            match phishloop_intake::msg_to_rfc822(bytes) {
                Ok(converted) => attachment.message = nested_message(collector, &converted, location),
                Err(error) => {
                    collector.defect(DefectCode::InvalidMsg, format!("{location}: {error}"), Some(&attachment.part))
                }
            }
        }
        attachment.ole = Some(info);
        return;
    }
    if is_calendar(part) || extension.as_deref() == Some("ics") || detected == "text/calendar" {
        let text = String::from_utf8_lossy(bytes);
        scan_calendar(collector, &text, location, Some(location));
        return;
    }
    if detected == "application/zip"
        || detected.starts_with("application/vnd.openxmlformats")
        || detected.starts_with("application/vnd.ms-") && bytes.starts_with(b"PK")
    {
        inspect_zip(collector, attachment, bytes, location);
        return;
    }
    if detected == "application/pdf" {
        let findings = pdf::inspect(bytes);
        attachment.flags.encrypted |= findings.encrypted;
        attachment.flags.active_content = findings.javascript || findings.launch;
        for url in findings.urls {
            collector.urls.add(&url, UrlSourceKind::Attachment, Some(location), None);
        }
        return;
    }
    if detected.starts_with("image/") && detected != "image/svg+xml" {
        scan_image(collector, attachment, bytes, location);
        return;
    }
    if filetype::is_html_like(extension.as_deref(), Some(&detected)) || attachment.declared_type == "text/html" {
        inspect_html(collector, attachment, bytes, location);
        return;
    }
    if sniff_rfc822(bytes, extension.as_deref()) {
        attachment.message = nested_message(collector, bytes, location);
        return;
    }
    let text_like = attachment.declared_type.starts_with("text/")
        || matches!(extension.as_deref(), Some("txt" | "csv" | "url" | "json" | "xml" | "log"));
    if text_like && detected.is_empty() {
        let text = String::from_utf8_lossy(bytes);
        collector.scan_text(&text, UrlSourceKind::Attachment, location, Some(location), true);
    }
}

fn sniff_rfc822(bytes: &[u8], extension: Option<&str>) -> bool {
    matches!(extension, Some("eml") | None)
        && phishloop_intake::sniff_message(bytes) == Some(phishloop_intake::MessageKind::Rfc822)
}

/// Analyses an attached message, to the configured depth.
fn nested_message(
    collector: &mut Collector<'_>,
    bytes: &[u8],
    location: &str,
) -> Option<Box<phishloop_model::MessageAnalysis>> {
    let max = collector.analyzer.config().limits.max_nested_messages;
    if collector.depth + 1 > max {
        collector.defect(
            DefectCode::NestedMessageDepthExceeded,
            format!("{location}: attached messages nested deeper than {max}"),
            None,
        );
        return None;
    }
    let nested = collector.analyzer.analyze_original(bytes, collector.depth + 1, &[]);
    Some(Box::new(nested))
}

/// URLs and addresses of an iCalendar object.
pub(crate) fn scan_calendar(collector: &mut Collector<'_>, text: &str, location: &str, url_location: Option<&str>) {
    let extract = calendar::extract(text);
    for url in &extract.urls {
        collector.urls.add(url, UrlSourceKind::Calendar, url_location, None);
    }
    collector.add_emails(extract.emails.clone());
    for html in &extract.html {
        let html_extract = crate::html::extract(html);
        for link in html_extract.links {
            collector.urls.add(&link.url, UrlSourceKind::Calendar, url_location, None);
        }
    }
    collector.scan_words(&extract.text, location);
}

fn inspect_zip(collector: &mut Collector<'_>, attachment: &mut Attachment, bytes: &[u8], location: &str) {
    let limits = collector.analyzer.config().limits.clone();
    let mut findings = archive::ArchiveFindings::default();
    let listing = archive::list_zip(bytes, &limits, 0, &mut collector.archive_budget, &mut findings);
    if let Some(error) = &findings.error {
        collector.defect(DefectCode::InvalidArchive, format!("{location}: {error}"), Some(&attachment.part));
    }
    if listing.as_ref().is_some_and(|listing| listing.truncated) {
        collector.defect(
            DefectCode::ArchiveLimitExceeded,
            format!("{location}: archive listed or inspected only in part"),
            Some(&attachment.part),
        );
    }
    attachment.flags.encrypted |= findings.encrypted;
    attachment.flags.macros |= findings.macros;
    attachment.flags.executable |= findings.executable;
    for url in &findings.external_urls {
        collector.urls.add(url, UrlSourceKind::Attachment, Some(location), None);
    }
    for (name, content) in &findings.documents {
        let entry_location = format!("{location}/{name}");
        let text = String::from_utf8_lossy(content);
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".txt") || lower.ends_with(".url") {
            collector.scan_text(&text, UrlSourceKind::Attachment, &entry_location, Some(&entry_location), true);
        } else {
            let extract = collector.scan_html(&text, &entry_location, true);
            attachment.flags.html_smuggling.extend(extract.summary.smuggling_markers);
            attachment.flags.credential_form |= extract.summary.password_inputs > 0;
        }
    }
    attachment.archive = listing;
}

fn inspect_html(collector: &mut Collector<'_>, attachment: &mut Attachment, bytes: &[u8], location: &str) {
    let text = String::from_utf8_lossy(bytes);
    let extract = collector.scan_html(&text, location, true);
    attachment.flags.html_smuggling = extract.summary.smuggling_markers.clone();
    attachment.flags.credential_form = extract.summary.password_inputs > 0
        || (extract.summary.forms > 0 && extract.links.iter().any(|link| link.kind == UrlSourceKind::HtmlFormAction));
}

fn scan_image(collector: &mut Collector<'_>, attachment: &mut Attachment, bytes: &[u8], location: &str) {
    let limits = &collector.analyzer.config().limits;
    if collector.qr_images >= limits.max_qr_images {
        collector.defect(
            DefectCode::ImageLimitExceeded,
            format!("{location}: more than {} images; not searched for QR codes", limits.max_qr_images),
            Some(&attachment.part),
        );
        return;
    }
    match qr::scan(bytes, limits) {
        qr::QrScan::Found(texts) => {
            collector.qr_images += 1;
            for text in &texts {
                add_qr_text(collector, text, location);
            }
            attachment.qr_codes = texts;
        }
        qr::QrScan::Skipped => {}
        qr::QrScan::OverLimit(reason) => {
            collector.defect(
                DefectCode::ImageLimitExceeded,
                format!("{location}: {reason}; not searched for QR codes"),
                Some(&attachment.part),
            );
        }
    }
}

/// Adds what a QR code holds: a `mailto:` or MeCard address to the email
/// addresses, a `tel:` or `sms:` number to the phone numbers, anything else
/// as a URL, and the links and addresses inside longer text.
fn add_qr_text(collector: &mut Collector<'_>, text: &str, location: &str) {
    let trimmed = text.trim();
    let prefix: String = trimmed.chars().take(8).collect::<String>().to_ascii_lowercase();
    if let Some(rest) =
        ["mailto:", "matmsg:"].iter().find_map(|scheme| prefix.starts_with(scheme).then(|| &trimmed[scheme.len()..]))
    {
        let address = rest.trim_start_matches("TO:").trim_start_matches("to:");
        let address = address.split(['?', ';']).next().unwrap_or_default().trim().to_lowercase();
        if address.contains('@') {
            collector.add_emails(vec![address]);
        }
        return;
    }
    if ["tel:", "sms:", "smsto:"].iter().any(|scheme| prefix.starts_with(scheme)) {
        collector.add_phones(trimmed, location);
        return;
    }
    if collector.urls.add(trimmed, UrlSourceKind::QrCode, Some(location), None).is_none() {
        let finds = text::find_links(trimmed);
        for url in finds.urls {
            collector.urls.add(&url, UrlSourceKind::QrCode, Some(location), None);
        }
        collector.add_emails(finds.emails);
    }
}
