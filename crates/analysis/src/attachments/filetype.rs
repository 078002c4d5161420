//! File types by magic bytes, and what file names claim.

/// Extensions of files that run code when opened on Windows or macOS, or
/// that are containers used to deliver such files past filters.
const EXECUTABLE: &[&str] = &[
    "exe",
    "scr",
    "com",
    "pif",
    "bat",
    "cmd",
    "vbs",
    "vbe",
    "js",
    "jse",
    "wsf",
    "wsh",
    "ps1",
    "psm1",
    "psd1",
    "msi",
    "msp",
    "msix",
    "msixbundle",
    "appx",
    "appxbundle",
    "appinstaller",
    "jar",
    "hta",
    "lnk",
    "iso",
    "img",
    "vhd",
    "vhdx",
    "cpl",
    "dll",
    "reg",
    "scf",
    "url",
    "library-ms",
    "search-ms",
    "searchconnector-ms",
    "settingcontent-ms",
    "one",
    "chm",
    "inf",
    "msc",
    "gadget",
    "application",
    "xll",
    "wsc",
    "sct",
    "dmg",
    "pkg",
    "app",
    "command",
    "sh",
    "py",
    "pyw",
    "apk",
    "xlam",
    "ppam",
    "iqy",
    "slk",
    "rdp",
    "mht",
    "mhtml",
    "xbap",
];

/// Extensions that look like documents or media in a double extension.
const DOCUMENT_LIKE: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "txt", "rtf", "jpg", "jpeg", "png", "gif", "csv", "odt", "zip",
    "mp3", "mp4", "wav", "htm", "html", "eml", "msg", "jpeg", "bmp", "tif", "tiff",
];

/// Extensions of HTML-like files that can hold forms and script.
const HTML_LIKE: &[&str] = &["html", "htm", "shtml", "xhtml", "svg", "mht", "mhtml", "hta", "xht"];

/// Detects a file type by magic bytes. Returns a MIME type.
pub(crate) fn detect(bytes: &[u8]) -> Option<String> {
    if let Some(own) = detect_own(bytes) {
        return Some(own.to_string());
    }
    if let Some(kind) = infer::get(bytes) {
        return Some(kind.mime_type().to_string());
    }
    detect_text(bytes).map(str::to_string)
}

/// Types `infer` does not know.
fn detect_own(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0x4C, 0x00, 0x00, 0x00, 0x01, 0x14, 0x02, 0x00]) {
        return Some("application/x-ms-shortcut");
    }
    if bytes.starts_with(&[0xE4, 0x52, 0x5C, 0x7B, 0x8C, 0xD8, 0xA7, 0x4D]) {
        return Some("application/onenote");
    }
    if bytes.get(0x8001..0x8006) == Some(b"CD001") || bytes.get(0x9001..0x9006) == Some(b"CD001") {
        return Some("application/x-iso9660-image");
    }
    if bytes.starts_with(b"vhdxfile") {
        return Some("application/x-vhdx");
    }
    if bytes.len() >= 512 && bytes[bytes.len() - 512..].starts_with(b"conectix") {
        return Some("application/x-vhd");
    }
    if bytes.starts_with(b"{\\rtf") {
        return Some("application/rtf");
    }
    None
}

/// Text formats recognised by their opening, after `infer` found nothing.
fn detect_text(bytes: &[u8]) -> Option<&'static str> {
    let head = &bytes[..bytes.len().min(1024)];
    let text = String::from_utf8_lossy(head).trim_start_matches('\u{feff}').trim_start().to_ascii_lowercase();
    if text.starts_with("<svg") || (text.starts_with("<?xml") && text.contains("<svg")) {
        return Some("image/svg+xml");
    }
    if text.starts_with("<!doctype html")
        || text.starts_with("<html")
        || text.starts_with("<head")
        || text.starts_with("<body")
        || text.starts_with("<script")
        || text.starts_with("<meta")
        || text.starts_with("<form")
        || text.starts_with("<div")
        || text.starts_with("<iframe")
    {
        return Some("text/html");
    }
    if text.starts_with("begin:vcalendar") {
        return Some("text/calendar");
    }
    if text.starts_with("<?xml") {
        return Some("application/xml");
    }
    None
}

/// The last extension of a file name, lowercase, without the dot.
pub(crate) fn extension(name: &str) -> Option<String> {
    let (_, extension) = name.trim_end_matches(['.', ' ']).rsplit_once('.')?;
    let extension = extension.trim().to_lowercase();
    let valid = !extension.is_empty()
        && extension.len() <= 24
        && extension.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    valid.then_some(extension)
}

pub(crate) fn is_executable_extension(extension: &str) -> bool {
    EXECUTABLE.contains(&extension)
}

pub(crate) fn is_html_like(extension: Option<&str>, detected: Option<&str>) -> bool {
    extension.is_some_and(|extension| HTML_LIKE.contains(&extension))
        || detected.is_some_and(|detected| detected == "text/html" || detected == "image/svg+xml")
}

/// True for detected types that run code or carry files that do.
pub(crate) fn is_executable_type(detected: &str) -> bool {
    matches!(
        detected,
        "application/vnd.microsoft.portable-executable"
            | "application/x-msdownload"
            | "application/x-executable"
            | "application/x-elf"
            | "application/x-mach-binary"
            | "application/x-ms-shortcut"
            | "application/onenote"
            | "application/x-iso9660-image"
            | "application/x-vhd"
            | "application/x-vhdx"
            | "application/x-apple-diskimage"
            | "application/java-archive"
            | "application/x-msi"
            | "application/vnd.android.package-archive"
            | "application/x-shellscript"
    )
}

/// `invoice.pdf.exe`, or padding before the real extension
/// (`invoice.pdf        .exe`).
pub(crate) fn has_double_extension(name: &str) -> bool {
    let trimmed = name.trim();
    let parts: Vec<&str> = trimmed.split('.').collect();
    if parts.len() < 3 {
        return false;
    }
    let last = parts[parts.len() - 1].trim().to_lowercase();
    let before = parts[parts.len() - 2].trim().to_lowercase();
    let risky_last = is_executable_extension(&last) || HTML_LIKE.contains(&last.as_str());
    let padded = parts[parts.len() - 2].ends_with("   ") || parts[parts.len() - 2].ends_with("___");
    risky_last && (DOCUMENT_LIKE.contains(&before.as_str()) || padded)
}

/// Bidirectional control characters that reorder how a name is shown
/// (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
pub(crate) fn has_bidi_control(name: &str) -> bool {
    name.chars()
        .any(|c| matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'))
}

/// True when the extension promises a type the content is not.
pub(crate) fn extension_mismatch(extension: &str, detected: &str) -> bool {
    let expected: &[&str] = match extension {
        "pdf" => &["application/pdf"],
        "doc" | "xls" | "ppt" | "msg" => &[
            "application/x-ole-storage",
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/x-cfb",
        ],
        "docx" | "docm" | "xlsx" | "xlsm" | "pptx" | "pptm" => &[
            "application/zip",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/x-ole-storage",
        ],
        "zip" => &["application/zip"],
        "jpg" | "jpeg" => &["image/jpeg"],
        "png" => &["image/png"],
        "gif" => &["image/gif"],
        "txt" | "csv" => return is_executable_type(detected) || detected == "application/zip",
        _ => return false,
    };
    // An encrypted OOXML file is an OLE container; that is not a mismatch.
    let ole_variants = detected.starts_with("application/x-ole")
        || detected == "application/x-cfb"
        || detected == "application/msword"
        || detected == "application/vnd.ms-excel"
        || detected == "application/vnd.ms-powerpoint";
    if ole_variants
        && expected.iter().any(|value| value.starts_with("application/x-ole") || *value == "application/msword")
    {
        return false;
    }
    !expected.contains(&detected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_extensions() {
        assert!(has_double_extension("invoice.pdf.exe"));
        assert!(has_double_extension("scan.jpg.html"));
        assert!(has_double_extension("report.txt      .js"));
        assert!(!has_double_extension("archive.tar.gz"));
        assert!(!has_double_extension("v1.2.pdf"));
        assert!(!has_double_extension("invoice.pdf"));
    }

    #[test]
    fn bidi_names() {
        assert!(has_bidi_control("invoice\u{202E}fdp.exe"));
        assert!(!has_bidi_control("invoice.pdf"));
    }

    #[test]
    fn magic_types() {
        assert_eq!(detect(b"%PDF-1.4\n").as_deref(), Some("application/pdf"));
        assert_eq!(
            detect(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff").as_deref(),
            Some("application/vnd.microsoft.portable-executable")
        );
        assert_eq!(detect(b"  <!DOCTYPE html><html>").as_deref(), Some("text/html"));
        assert_eq!(detect(b"<svg xmlns='http://www.w3.org/2000/svg'>").as_deref(), Some("image/svg+xml"));
        assert_eq!(detect(&[0x4C, 0, 0, 0, 1, 0x14, 2, 0, 0]).as_deref(), Some("application/x-ms-shortcut"));
        assert_eq!(detect(b"plain words"), None);
    }

    #[test]
    fn mismatches() {
        assert!(extension_mismatch("pdf", "application/zip"));
        assert!(!extension_mismatch("pdf", "application/pdf"));
        assert!(extension_mismatch("txt", "application/vnd.microsoft.portable-executable"));
        assert!(!extension_mismatch("unknownext", "application/zip"));
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("Invoice.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("noext"), None);
        assert_eq!(extension("trailing.exe. "), Some("exe".to_string()));
    }
}
