//! Outlook .msg to RFC 5322.
//!
//! A .msg file is an OLE compound file of MAPI properties. We read the
//! properties with `msg_parser` and write an equivalent MIME message with
//! `mail-builder`, so that analysis has one input form. When the .msg keeps
//! the transport headers of a received message (PR_TRANSPORT_MESSAGE_HEADERS),
//! those headers are kept as they were, Received and Authentication-Results
//! included, and only the MIME structure is rebuilt. Otherwise the identity
//! headers are rebuilt from the sender, recipient and subject properties.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;
use msg_parser::{Attachment, Outlook};

use crate::boundary;

/// Largest uncompressed RTF body decompressed to find an HTML body.
const MAX_RTF_BYTES: usize = 32 * 1024 * 1024;

/// Embedded .msg messages deeper than this are kept as opaque attachments.
const MAX_EMBEDDED_DEPTH: usize = 4;

/// Why a .msg file could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MsgError {
    /// The OLE compound file structure is invalid or truncated.
    #[error("invalid or truncated OLE compound file: {0}")]
    InvalidCompoundFile(String),
    /// The compound file is valid but holds no Outlook message properties.
    #[error("the compound file holds no Outlook message properties (it may be another Office document)")]
    NotAMessage,
    /// The property parser failed.
    #[error("the Outlook message properties could not be read: {0}")]
    InvalidProperties(String),
    /// Writing the RFC 5322 form failed.
    #[error("could not write the converted message: {0}")]
    Write(String),
}

/// Converts an Outlook .msg file to an RFC 5322 message.
///
/// # Errors
///
/// Returns [`MsgError`] when the bytes are not a readable compound file or
/// hold no message. The compound-file structure is checked with `cfb` first,
/// so that a truncated file gets a precise reason.
pub fn msg_to_rfc822(bytes: &[u8]) -> Result<Vec<u8>, MsgError> {
    convert(bytes, 0)
}

fn convert(bytes: &[u8], depth: usize) -> Result<Vec<u8>, MsgError> {
    check_compound_file(bytes)?;
    let outlook = parse_properties(bytes)?;
    render(&outlook, depth, &boundary::seed_of(bytes))
}

/// Validates the compound-file structure and the presence of message
/// property streams.
fn check_compound_file(bytes: &[u8]) -> Result<(), MsgError> {
    let file = cfb::CompoundFile::open(Cursor::new(bytes))
        .map_err(|error| MsgError::InvalidCompoundFile(error.to_string()))?;
    // A stream cannot hold more than the file. msg_parser allocates and
    // walks the declared size, so a forged directory entry of 4 GiB would
    // cost seconds of CPU time and gigabytes of address space.
    if let Some(entry) = file.walk().find(|entry| entry.is_stream() && entry.len() > bytes.len() as u64) {
        return Err(MsgError::InvalidCompoundFile(format!(
            "stream {} declares {} bytes, more than the whole file ({} bytes)",
            entry.path().display(),
            entry.len(),
            bytes.len()
        )));
    }
    let has_properties = file.walk().any(|entry| {
        let name = entry.name();
        name.starts_with("__substg1.0_") || name == "__properties_version1.0"
    });
    if has_properties { Ok(()) } else { Err(MsgError::NotAMessage) }
}

/// Runs `msg_parser`, containing a panic in it as an error: the input is
/// hostile and the crate is not hardened against every malformed file.
fn parse_properties(bytes: &[u8]) -> Result<Outlook, MsgError> {
    let parsed = catch_unwind(AssertUnwindSafe(|| Outlook::from_slice(bytes)));
    match parsed {
        Ok(Ok(outlook)) => Ok(outlook),
        Ok(Err(error)) => Err(MsgError::InvalidProperties(error.to_string())),
        Err(_) => Err(MsgError::InvalidProperties("the parser stopped on malformed property data".to_string())),
    }
}

fn render(outlook: &Outlook, depth: usize, seed: &[u8]) -> Result<Vec<u8>, MsgError> {
    let mut output = Vec::new();
    write_headers(outlook, &mut output);
    body(outlook, depth, seed).write_part(&mut output).map_err(|error| MsgError::Write(error.to_string()))?;
    Ok(output)
}

/// Writes the transport headers without their MIME fields, or rebuilt
/// identity headers when the message has none.
fn write_headers(outlook: &Outlook, output: &mut Vec<u8>) {
    let transport = outlook.headers.raw.trim();
    if !transport.is_empty() {
        write_transport_headers(transport, output);
        return;
    }

    let mut line = |name: &str, value: &str| {
        if !value.trim().is_empty() {
            output.extend_from_slice(format!("{name}: {}\r\n", single_line(value)).as_bytes());
        }
    };
    line("From", &person(&outlook.sender.name, &outlook.sender.email));
    line("To", &people(&outlook.to));
    line("Cc", &people(&outlook.cc));
    line("Subject", &outlook.subject);
    line("Date", &outlook.client_submit_time);
    line("MIME-Version", "1.0");
}

/// Copies header fields, dropping the MIME ones that describe the original
/// body layout (it is rebuilt) and stopping at the first empty line.
fn write_transport_headers(transport: &str, output: &mut Vec<u8>) {
    let mut skipping = false;
    for line in transport.lines() {
        if line.trim().is_empty() {
            break;
        }
        let continuation = line.starts_with(' ') || line.starts_with('\t');
        if !continuation {
            let name = line.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
            skipping = matches!(
                name.as_str(),
                "content-type" | "content-transfer-encoding" | "content-disposition" | "mime-version"
            );
        }
        if !skipping {
            output.extend_from_slice(line.as_bytes());
            output.extend_from_slice(b"\r\n");
        }
    }
    output.extend_from_slice(b"MIME-Version: 1.0\r\n");
}

fn body(outlook: &Outlook, depth: usize, seed: &[u8]) -> MimePart<'static> {
    let mut alternatives = Vec::new();
    if !outlook.body.trim().is_empty() {
        alternatives.push(MimePart::new("text/plain", outlook.body.clone()));
    }
    if let Some(html) = html_body(outlook) {
        alternatives.push(MimePart::new("text/html", html));
    }
    let text = match alternatives.len() {
        0 => MimePart::new("text/plain", String::new()),
        1 => alternatives.remove(0),
        _ => boundary::multipart("alternative", alternatives, seed, 1),
    };

    let mut parts = vec![text];
    parts.extend(outlook.attachments.iter().map(|attachment| attachment_part(attachment, depth)));
    if parts.len() == 1 { parts.remove(0) } else { boundary::multipart("mixed", parts, seed, 0) }
}

/// The HTML body. Outlook stores it as a binary property (PidTagHtml),
/// which `msg_parser` 0.3 returns hex-encoded; it is decoded here. The
/// RTF-encapsulated HTML of older messages is the fallback.
fn html_body(outlook: &Outlook) -> Option<String> {
    let stored = outlook.html.trim();
    if !stored.is_empty() {
        return Some(match decode_hex(stored) {
            Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            None => stored.to_string(),
        });
    }
    // The decompressor reserves the size the RTF header declares, up to
    // 4 GiB; a hostile header must not make it reserve more than a message
    // can sensibly hold.
    let declared = rtf_declared_size(&outlook.rtf_compressed)?;
    if declared > MAX_RTF_BYTES {
        return None;
    }
    catch_unwind(AssertUnwindSafe(|| outlook.html_from_rtf())).ok().flatten().filter(|html| !html.trim().is_empty())
}

fn attachment_part(attachment: &Attachment, depth: usize) -> MimePart<'static> {
    let name = [&attachment.long_file_name, &attachment.file_name, &attachment.display_name]
        .into_iter()
        .find(|name| !name.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| "attachment".to_string());

    if attachment.is_embedded_message()
        && depth < MAX_EMBEDDED_DEPTH
        && let Ok(message) = convert(&attachment.payload_bytes, depth + 1)
    {
        return MimePart::new("message/rfc822", message).attachment(format!("{name}.eml"));
    }

    let declared = attachment.mime_tag.trim();
    let content_type = if is_mime_type(declared) {
        ContentType::new(declared.to_ascii_lowercase())
    } else {
        ContentType::new("application/octet-stream")
    };
    let part = MimePart::new(content_type, attachment.payload_bytes.clone());
    let content_id = attachment.content_id.trim();
    if content_id.is_empty() {
        part.attachment(name)
    } else {
        part.inline().cid(content_id.to_string()).header(
            "Content-Disposition",
            mail_builder::headers::raw::Raw::new(format!(
                "inline; filename=\"{}\"",
                name.replace(['"', '\\', '\r', '\n'], "_")
            )),
        )
    }
}

/// The uncompressed size in the header of a compressed RTF body
/// ([MS-OXRTFCP]: compressed size, then raw size, both little-endian u32),
/// which `msg_parser` holds as hexadecimal text.
fn rtf_declared_size(hex_text: &str) -> Option<usize> {
    let header = decode_hex(hex_text.get(..16)?)?;
    Some(u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize)
}

/// Decodes a string of hexadecimal digit pairs; `None` when it is not one.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let digit = |byte: u8| match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        _ => byte - b'A' + 10,
    };
    Some(text.as_bytes().chunks(2).map(|pair| (digit(pair[0]) << 4) | digit(pair[1])).collect())
}

fn is_mime_type(value: &str) -> bool {
    let mut halves = value.split('/');
    let valid = |half: Option<&str>| {
        half.is_some_and(|half| {
            !half.is_empty() && half.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        })
    };
    valid(halves.next()) && valid(halves.next()) && halves.next().is_none()
}

fn person(name: &str, email: &str) -> String {
    let name = single_line(name).replace(['"', '\\'], "");
    // Exchange-internal senders carry an X.500 distinguished name instead of
    // an SMTP address; keep only the name rather than invent an address.
    if email.contains('@') {
        if name.is_empty() {
            format!("<{}>", single_line(email))
        } else {
            format!("\"{name}\" <{}>", single_line(email))
        }
    } else {
        format!("\"{name}\"")
    }
}

fn people(persons: &[msg_parser::Person]) -> String {
    persons.iter().map(|person_entry| person(&person_entry.name, &person_entry.email)).collect::<Vec<_>>().join(", ")
}

fn single_line(value: &str) -> String {
    value.replace(['\r', '\n'], " ").trim().to_string()
}
