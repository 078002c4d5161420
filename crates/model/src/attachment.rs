use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::record::MessageAnalysis;

/// One attachment or inline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// MIME part path (`2` is the second child of the root, `2.1` its first
    /// child).
    pub part: String,
    /// File name decoded from RFC 2231 or RFC 2047, Content-Disposition
    /// first, then the Content-Type `name` parameter.
    pub filename: Option<String>,
    /// Content-Type as declared, lowercase, without parameters.
    pub declared_type: String,
    /// Type found by the content's magic bytes, as a MIME type.
    pub detected_type: Option<String>,
    /// Last extension of `filename`, lowercase, without the dot.
    pub extension: Option<String>,
    /// `inline` or `attachment`, when a Content-Disposition is present.
    pub disposition: Option<String>,
    pub content_id: Option<String>,
    /// Decoded size in bytes.
    pub size: u64,
    /// SHA-256 of the decoded content, lowercase hex.
    pub sha256: String,
    /// MD5 of the decoded content, lowercase hex.
    pub md5: String,
    pub flags: AttachmentFlags,
    /// Listing of a zip archive.
    pub archive: Option<ArchiveListing>,
    /// Structure of an OLE compound file (legacy Office, .msg).
    pub ole: Option<OleInfo>,
    /// Texts decoded from QR codes in this image.
    pub qr_codes: Vec<String>,
    /// Analysis of an attached message (message/rfc822, .eml or .msg), to
    /// a bounded depth.
    pub message: Option<Box<MessageAnalysis>>,
}

/// Risk markers of an attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentFlags {
    /// The file type can run code when opened on Windows or macOS
    /// (executables, scripts, shortcuts, disk images, HTML applications).
    pub executable: bool,
    /// Two extensions where the first looks like a document
    /// (`invoice.pdf.exe`), or a run of spaces before the last one.
    pub double_extension: bool,
    /// The name contains a right-to-left override or other bidirectional
    /// control character that reorders how the extension is shown.
    pub bidi_control: bool,
    /// The extension does not match the content type found by magic bytes
    /// (`invoice.pdf` that is really a zip or an executable).
    pub extension_mismatch: bool,
    /// An Office document with VBA macros or an Excel 4.0 macro sheet.
    pub macros: bool,
    /// An encrypted archive or a password-protected Office document.
    pub encrypted: bool,
    /// HTML smuggling markers found in an HTML or SVG file: script that
    /// builds a file from data and hands it to the browser as a download.
    pub html_smuggling: Vec<String>,
    /// An HTML or SVG file with a password field or a form that posts
    /// elsewhere.
    pub credential_form: bool,
    /// A PDF with JavaScript or a launch action (which starts a program).
    pub active_content: bool,
}

/// Listing of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveListing {
    /// Archive format (`zip`).
    pub format: String,
    /// Entries in central-directory order, at most the configured limit.
    pub entries: Vec<ArchiveEntry>,
    /// Total number of entries the archive declares.
    pub total_entries: usize,
    /// Sum of the declared uncompressed sizes in bytes.
    pub total_uncompressed_size: u64,
    /// True when the listing or inspection stopped at a limit.
    pub truncated: bool,
}

/// One archive entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveEntry {
    pub name: String,
    /// Declared uncompressed size in bytes.
    pub size: u64,
    pub compressed_size: u64,
    pub encrypted: bool,
    /// Type found by magic bytes, when the entry was inspected.
    pub detected_type: Option<String>,
    /// SHA-256 of the entry content, when it was inspected.
    pub sha256: Option<String>,
    /// The entry's name has an executable extension.
    pub executable: bool,
    /// Listing of an archive inside the archive, to a bounded depth.
    pub archive: Option<Box<ArchiveListing>>,
}

/// Structure of an OLE compound file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OleInfo {
    /// What the storage layout says the file is (`outlook_msg`, `word`,
    /// `excel`, `powerpoint`, `encrypted_ooxml`, `unknown`).
    pub application: String,
    /// Number of streams.
    pub streams: usize,
    /// A VBA project storage is present.
    pub vba: bool,
    /// An `Ole10Native` stream (an embedded file packaged in OLE) is present.
    pub embedded_package: bool,
    /// Why the file could not be read as a compound file, if it could not.
    pub error: Option<String>,
}
