//! OLE compound files: legacy Office documents, encrypted OOXML and .msg.

use std::io::{Cursor, Read};

use phishloop_model::OleInfo;

/// Largest stream read when looking for macro sheets.
const MAX_WORKBOOK_BYTES: u64 = 8 * 1024 * 1024;

/// Reads the storage layout of a compound file.
pub(crate) fn inspect(bytes: &[u8]) -> OleInfo {
    let mut file = match cfb::CompoundFile::open(Cursor::new(bytes)) {
        Ok(file) => file,
        Err(error) => {
            return OleInfo {
                application: "unknown".to_string(),
                error: Some(format!("invalid or truncated OLE compound file: {error}")),
                ..OleInfo::default()
            };
        }
    };

    let mut info = OleInfo { application: "unknown".to_string(), ..OleInfo::default() };
    let mut names = Vec::new();
    for entry in file.walk() {
        let name = entry.name().to_string();
        if entry.is_stream() {
            info.streams += 1;
        }
        let lower = name.to_ascii_lowercase();
        if lower == "vba" || lower == "_vba_project" || lower == "macros" || lower == "_vba_project_cur" {
            info.vba = true;
        }
        if lower.ends_with("ole10native") {
            info.embedded_package = true;
        }
        names.push((lower, entry.path().to_path_buf()));
    }

    let has = |wanted: &str| names.iter().any(|(name, _)| name == wanted);
    info.application = if has("encryptedpackage") && has("encryptioninfo") {
        "encrypted_ooxml"
    } else if names.iter().any(|(name, _)| name.starts_with("__substg1.0_")) {
        "outlook_msg"
    } else if has("worddocument") {
        "word"
    } else if has("workbook") || has("book") {
        "excel"
    } else if has("powerpoint document") {
        "powerpoint"
    } else {
        "unknown"
    }
    .to_string();

    if info.application == "excel" && !info.vba {
        let workbook =
            names.iter().find(|(name, _)| name == "workbook" || name == "book").map(|(_, path)| path.clone());
        if let Some(path) = workbook {
            info.vba = has_macro_sheet(&mut file, &path);
        }
    }
    info
}

/// Excel 4.0 (XLM) macro sheets: a BOUNDSHEET record (0x0085) whose sheet
/// type byte is 0x01 (macro sheet).
fn has_macro_sheet(file: &mut cfb::CompoundFile<Cursor<&[u8]>>, path: &std::path::Path) -> bool {
    let Ok(stream) = file.open_stream(path) else {
        return false;
    };
    let mut workbook = Vec::new();
    if stream.take(MAX_WORKBOOK_BYTES).read_to_end(&mut workbook).is_err() {
        return false;
    }
    let mut position = 0usize;
    while position + 4 <= workbook.len() {
        let record = u16::from_le_bytes([workbook[position], workbook[position + 1]]);
        let length = usize::from(u16::from_le_bytes([workbook[position + 2], workbook[position + 3]]));
        let body = position + 4;
        if record == 0x0085 && length >= 6 && body + 6 <= workbook.len() && workbook[body + 5] == 0x01 {
            return true;
        }
        position = body + length;
    }
    false
}

/// True when an encrypted OOXML or password-protected legacy document.
pub(crate) fn is_encrypted(info: &OleInfo) -> bool {
    info.application == "encrypted_ooxml"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compound_file(streams: &[&str]) -> Vec<u8> {
        let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        for stream in streams {
            if let Some((storage, _)) = stream.rsplit_once('/') {
                file.create_storage_all(storage).expect("storage");
            }
            file.create_stream(stream).expect("stream").write_all(b"data").expect("write");
        }
        file.flush().expect("flush");
        file.into_inner().into_inner()
    }

    #[test]
    fn word_with_macros() {
        let info = inspect(&compound_file(&["/WordDocument", "/Macros/VBA/dir"]));
        assert_eq!(info.application, "word");
        assert!(info.vba);
        assert!(info.error.is_none());
    }

    #[test]
    fn encrypted_office_document() {
        let info = inspect(&compound_file(&["/EncryptionInfo", "/EncryptedPackage"]));
        assert_eq!(info.application, "encrypted_ooxml");
        assert!(is_encrypted(&info));
    }

    #[test]
    fn truncated_file_has_error() {
        let mut bytes = compound_file(&["/WordDocument"]);
        bytes.truncate(600);
        let info = inspect(&bytes);
        assert!(info.error.is_some());
    }
}
