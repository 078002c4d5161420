//! Writes binary seed inputs that are impractical to keep as text files:
//! Outlook .msg files and messages with a zip or QR-code attachment.
//!
//! Usage: `cargo run --example make_seeds -- DIRECTORY` (from `fuzz/`).
//! `make-corpus.sh` runs it and copies the output into the corpus folders.
//! All names, addresses and URLs are made up for these seeds.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// MAPI property types used in stream names (`__substg1.0_IIIITTTT`).
const UNICODE: u16 = 0x001F;
const BINARY: u16 = 0x0102;
const INTEGER32: u16 = 0x0003;

/// Attach method of an embedded message (MS-OXPROPS PidTagAttachMethod).
const ATTACH_EMBEDDED_MESSAGE: u32 = 5;

const TRANSPORT_HEADERS: &str = "Received: from mail.invoice-example.net (mail.invoice-example.net [192.0.2.25])\r\n\
    \tby mx.corp-example.com with ESMTPS; Mon, 8 Jan 2024 08:00:00 +0000\r\n\
    Authentication-Results: mx.corp-example.com; spf=softfail smtp.mailfrom=invoice-example.net;\r\n\
    \tdkim=fail header.d=invoice-example.net; dmarc=fail header.from=invoice-example.net\r\n\
    From: \"Accounts\" <accounts@invoice-example.net>\r\n\
    To: user@corp-example.com\r\n\
    Subject: Overdue invoice 5521\r\n\
    Date: Mon, 8 Jan 2024 08:00:00 +0000\r\n\
    Message-ID: <seed-msg@invoice-example.net>\r\n\
    Content-Type: multipart/alternative; boundary=\"dropped\"\r\n\
    MIME-Version: 1.0\r\n";

fn main() -> std::io::Result<()> {
    let Some(directory) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: make_seeds DIRECTORY");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&directory)?;

    let plain = plain_msg()?;
    let messages = [
        ("seed-plain.msg", plain.clone()),
        ("seed-transport-headers.msg", transport_headers_msg()?),
        ("seed-embedded.msg", embedded_msg(&plain)?),
    ];
    for (name, bytes) in &messages {
        // A seed that phishloop rejects would only exercise the error path.
        if let Err(error) = phishloop_intake::msg_to_rfc822(bytes) {
            eprintln!("the generated seed {name} is not a readable .msg: {error}");
            std::process::exit(1);
        }
        write(&directory, name, bytes)?;
    }
    write(&directory, "seed-zip-attachment.eml", &zip_attachment_eml()?)?;
    write(&directory, "seed-qr-attachment.eml", &qr_attachment_eml())?;
    Ok(())
}

fn write(directory: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(directory.join(name), bytes)
}

/// Path prefix of the root storage: stream paths are `{storage}/{name}`.
const ROOT: &str = "";

/// One MAPI property stored as a stream of its own.
struct Property<'a> {
    id: u16,
    kind: u16,
    value: Vec<u8>,
    storage: &'a str,
}

fn text<'a>(storage: &'a str, id: u16, value: &str) -> Property<'a> {
    let value = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
    Property { id, kind: UNICODE, value, storage }
}

fn binary<'a>(storage: &'a str, id: u16, value: &[u8]) -> Property<'a> {
    Property { id, kind: BINARY, value: value.to_vec(), storage }
}

/// Builds a compound file with the given storages and properties. `fixed`
/// lists fixed-size integer properties per storage, written to that
/// storage's `__properties_version1.0` stream.
fn compound_file(
    storages: &[&str],
    properties: &[Property<'_>],
    fixed: &[(&str, u16, u32)],
) -> std::io::Result<Vec<u8>> {
    // Outlook writes version 3 (512-byte sectors). msg_parser 0.3 misreads
    // version 4 files, whose sectors start after a 4096-byte header.
    let mut file = cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))?;
    for storage in storages {
        file.create_storage(storage)?;
    }

    for property in properties {
        let path = format!("{}/__substg1.0_{:04X}{:04X}", property.storage, property.id, property.kind);
        file.create_stream(path)?.write_all(&property.value)?;
    }

    for storage in std::iter::once(ROOT).chain(storages.iter().copied()) {
        // The root's header is 32 bytes, that of a recipient or attachment 8.
        let mut stream = vec![0u8; if storage == ROOT { 32 } else { 8 }];
        for &(_, id, value) in fixed.iter().filter(|(owner, _, _)| *owner == storage) {
            stream.extend_from_slice(&INTEGER32.to_le_bytes());
            stream.extend_from_slice(&id.to_le_bytes());
            stream.extend_from_slice(&0x06u32.to_le_bytes());
            stream.extend_from_slice(&u64::from(value).to_le_bytes());
        }
        let path = format!("{storage}/__properties_version1.0");
        file.create_stream(path)?.write_all(&stream)?;
    }

    file.flush()?;
    Ok(file.into_inner().into_inner())
}

/// Compressed-RTF container in its uncompressed ("MELA") form, holding an
/// RTF body with encapsulated HTML, as Outlook stores HTML mail.
fn rtf_with_html() -> Vec<u8> {
    let rtf: &[u8] = br#"{\rtf1\ansi\fbidis\deff0\fromhtml1{\*\htmltag19 <html>}{\*\htmltag34 <body>}Verify {\*\htmltag84 <a href="https://portal.login-example.net/verify">}here{\*\htmltag92 </a>}{\*\htmltag35 </body>}}"#;
    let mut container = Vec::with_capacity(16 + rtf.len());
    let size = u32::try_from(rtf.len()).expect("the RTF body is small");
    container.extend_from_slice(&(size + 12).to_le_bytes());
    container.extend_from_slice(&size.to_le_bytes());
    container.extend_from_slice(b"MELA");
    container.extend_from_slice(&0u32.to_le_bytes());
    container.extend_from_slice(rtf);
    container
}

/// Builds a .msg without transport headers, so phishloop rebuilds the
/// identity headers from the sender, recipient and subject properties. The
/// body is only in RTF, so the HTML comes from the RTF decoder.
fn plain_msg() -> std::io::Result<Vec<u8>> {
    let recipient = "/__recip_version1.0_#00000000";
    let attachment = "/__attach_version1.0_#00000000";
    let properties = [
        text(ROOT, 0x001A, "IPM.Note"),
        text(ROOT, 0x0037, "Shared document: Q1 salaries"),
        text(ROOT, 0x1000, "Open the shared document: https://share.docs-example.net/d/8f2a\r\n"),
        binary(ROOT, 0x1009, &rtf_with_html()),
        text(ROOT, 0x0C1A, "HR Department"),
        text(ROOT, 0x0C1F, "hr@docs-example.net"),
        text(ROOT, 0x5D01, "hr@docs-example.net"),
        text(recipient, 0x3001, "Sam User"),
        text(recipient, 0x39FE, "user@corp-example.com"),
        text(attachment, 0x3707, "salaries.html"),
        text(attachment, 0x370E, "text/html"),
        binary(attachment, 0x3701, b"<form action=\"https://collect.docs-example.net/p\"><input type=password></form>"),
    ];
    let fixed = [(recipient, 0x0C15, 1), (attachment, 0x3705, 1)];
    compound_file(&[recipient, attachment], &properties, &fixed)
}

/// Builds a .msg that keeps the transport headers of a received message,
/// with an HTML body and an inline image referenced by Content-ID.
fn transport_headers_msg() -> std::io::Result<Vec<u8>> {
    let attachment = "/__attach_version1.0_#00000000";
    let properties = [
        text(ROOT, 0x001A, "IPM.Note"),
        text(ROOT, 0x007D, TRANSPORT_HEADERS),
        text(ROOT, 0x0037, "Overdue invoice 5521"),
        binary(
            ROOT,
            0x1013,
            b"<p>Pay now: <a href=\"http://198.51.100.9/pay\">invoice-example.net/pay</a><img src=\"cid:logo\"></p>",
        ),
        text(attachment, 0x3707, "logo.gif"),
        text(attachment, 0x370E, "image/gif"),
        text(attachment, 0x3712, "logo"),
        binary(attachment, 0x3701, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
    ];
    compound_file(&[attachment], &properties, &[(attachment, 0x3705, 1)])
}

/// Builds a .msg that carries `inner` as an embedded-message attachment, the
/// way a report button forwards the original.
fn embedded_msg(inner: &[u8]) -> std::io::Result<Vec<u8>> {
    let attachment = "/__attach_version1.0_#00000000";
    let properties = [
        text(ROOT, 0x001A, "IPM.Note"),
        text(ROOT, 0x0037, "FW: Shared document: Q1 salaries"),
        text(ROOT, 0x1000, "Reported with the report button."),
        text(ROOT, 0x0C1A, "Sam User"),
        text(ROOT, 0x5D01, "user@corp-example.com"),
        text(attachment, 0x3001, "Shared document: Q1 salaries"),
        binary(attachment, 0x3701, inner),
    ];
    compound_file(&[attachment], &properties, &[(attachment, 0x3705, ATTACH_EMBEDDED_MESSAGE)])
}

/// Builds a message with a zip attachment that contains an HTML file, the
/// relationship part of an Office document with an external target, and an
/// executable with a double extension.
fn zip_attachment_eml() -> std::io::Result<Vec<u8>> {
    let mut archive = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    archive.start_file("statement.html", options)?;
    archive.write_all(b"<a href=\"https://statement.bank-example.net/login\">View statement</a>")?;
    archive.start_file("word/_rels/document.xml.rels", options)?;
    archive.write_all(
        br#"<Relationships><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/attachedTemplate" Target="https://templates.bank-example.net/t.dotm" TargetMode="External"/></Relationships>"#,
    )?;
    archive.start_file("invoice.pdf.exe", options)?;
    archive.write_all(b"MZ\x90\x00")?;
    let bytes = archive.finish()?.into_inner();
    Ok(message_with_attachment("Your statement", "application/zip", "statement.zip", &bytes))
}

/// Builds a message whose attachment is a PNG with a QR code of a URL.
fn qr_attachment_eml() -> Vec<u8> {
    let code = qrcode::QrCode::new(b"https://scan.parcel-example.net/track?id=77").expect("the URL fits in a QR code");
    let image = code.render::<image::Luma<u8>>().min_dimensions(120, 120).build();
    let mut png = Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).expect("PNG encoding to memory succeeds");
    message_with_attachment("Parcel on hold", "image/png", "scan.png", &png.into_inner())
}

fn message_with_attachment(subject: &str, content_type: &str, name: &str, bytes: &[u8]) -> Vec<u8> {
    let encoded = BASE64.encode(bytes);
    let lines: Vec<&str> =
        encoded.as_bytes().chunks(76).map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII")).collect();
    format!(
        "From: \"Notices\" <notices@parcel-example.net>\r\n\
         To: user@corp-example.com\r\n\
         Subject: {subject}\r\n\
         Date: Tue, 9 Jan 2024 09:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"seed\"\r\n\
         \r\n\
         --seed\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         See the attachment.\r\n\
         --seed\r\n\
         Content-Type: {content_type}; name=\"{name}\"\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}\r\n\
         --seed--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}
