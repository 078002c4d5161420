//! Inline forwards: a reported message quoted in the body of a forward.
//!
//! Mail clients introduce the quoted message with a separator line and a
//! short header block. We find the separator, read the header block (field
//! names in the common client languages) and rebuild an RFC 5322 message from
//! it, with the text after the block as its body. Transport headers are lost
//! in an inline forward, so the rebuilt message has none.

use mail_builder::mime::MimePart;

use crate::boundary;

/// Separator lines, compared case-insensitively after trimming dashes,
/// underscores, asterisks and spaces from both ends.
const SEPARATORS: &[&str] = &[
    "original message",
    "forwarded message",
    "begin forwarded message:",
    "ursprüngliche nachricht",
    "weitergeleitete nachricht",
    "anfang der weitergeleiteten nachricht:",
    "message d'origine",
    "message transféré",
    "début du message réexpédié :",
    "début du message transféré :",
    "mensaje original",
    "mensaje reenviado",
    "inicio del mensaje reenviado:",
    "messaggio originale",
    "messaggio inoltrato",
    "inizio messaggio inoltrato:",
    "oorspronkelijk bericht",
    "doorgestuurd bericht",
    "mensagem original",
    "mensagem encaminhada",
    "ursprungligt meddelande",
    "vidarebefordrat meddelande",
    "videresendt meddelelse",
    "oprindelig meddelelse",
    "původní zpráva",
    "přeposlaná zpráva",
    "wiadomość oryginalna",
    "przekazana wiadomość",
];

/// Field names of the quoted header block and what they mean.
const FIELD_NAMES: &[(&str, Field)] = &[
    ("from", Field::From),
    ("de", Field::From),
    ("von", Field::From),
    ("van", Field::From),
    ("da", Field::From),
    ("från", Field::From),
    ("fra", Field::From),
    ("od", Field::From),
    ("sent", Field::Date),
    ("date", Field::Date),
    ("datum", Field::Date),
    ("envoyé", Field::Date),
    ("gesendet", Field::Date),
    ("enviado", Field::Date),
    ("enviada", Field::Date),
    ("fecha", Field::Date),
    ("inviato", Field::Date),
    ("data", Field::Date),
    ("verzonden", Field::Date),
    ("skickat", Field::Date),
    ("sendt", Field::Date),
    ("odesláno", Field::Date),
    ("wysłano", Field::Date),
    ("to", Field::To),
    ("à", Field::To),
    ("a", Field::To),
    ("an", Field::To),
    ("para", Field::To),
    ("aan", Field::To),
    ("till", Field::To),
    ("til", Field::To),
    ("komu", Field::To),
    ("do", Field::To),
    ("cc", Field::Cc),
    ("kopie", Field::Cc),
    ("subject", Field::Subject),
    ("objet", Field::Subject),
    ("betreff", Field::Subject),
    ("asunto", Field::Subject),
    ("oggetto", Field::Subject),
    ("onderwerp", Field::Subject),
    ("ämne", Field::Subject),
    ("emne", Field::Subject),
    ("assunto", Field::Subject),
    ("předmět", Field::Subject),
    ("temat", Field::Subject),
    ("reply-to", Field::ReplyTo),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    From,
    Date,
    To,
    Cc,
    Subject,
    ReplyTo,
}

/// A forward found in a text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InlineForward {
    /// The reporter's text above the separator.
    pub comment: String,
    /// Separator line as written, used to find the same place in HTML.
    pub separator: Option<String>,
    headers: Vec<(Field, String)>,
    body: String,
}

impl InlineForward {
    /// True when the quoted header block names a sender, the least needed
    /// to call it a forward.
    pub fn has_sender(&self) -> bool {
        self.headers.iter().any(|(field, _)| *field == Field::From)
    }
}

/// Finds an inline forward in a text body: a separator line followed by a
/// quoted header block, or (Outlook) a header block that starts with a
/// `From:` line followed by a date line, without a separator.
pub(crate) fn find_inline_forward(text: &str) -> Option<InlineForward> {
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let unquoted = strip_quote_marks(line);
        if is_separator(unquoted) {
            let forward = read_forward(&lines, index + 1, index, Some(unquoted.trim().to_string()));
            if forward.has_sender() {
                return Some(forward);
            }
        } else if starts_header_block(&lines, index) {
            let forward = read_forward(&lines, index, index, None);
            if forward.has_sender() {
                return Some(forward);
            }
        }
    }
    None
}

fn is_separator(line: &str) -> bool {
    let trimmed = line
        .trim()
        .trim_matches(|c: char| c == '-' || c == '_' || c == '*' || c == '=' || c.is_whitespace())
        .to_lowercase();
    !trimmed.is_empty() && SEPARATORS.contains(&trimmed.as_str())
}

/// Outlook's header block without a separator: `From:` then, within two
/// lines, a date field.
fn starts_header_block(lines: &[&str], index: usize) -> bool {
    let Some((Field::From, _)) = parse_field(strip_quote_marks(lines[index])) else {
        return false;
    };
    lines
        .iter()
        .skip(index + 1)
        .take(2)
        .any(|line| matches!(parse_field(strip_quote_marks(line)), Some((Field::Date, _))))
}

fn read_forward(lines: &[&str], start: usize, separator_index: usize, separator: Option<String>) -> InlineForward {
    let comment =
        lines[..separator_index].join("\n").trim_end_matches(|c: char| c == '_' || c.is_whitespace()).to_string();

    let mut headers: Vec<(Field, String)> = Vec::new();
    let mut position = start;
    // Skip blank lines between the separator and the header block.
    while position < lines.len() && strip_quote_marks(lines[position]).trim().is_empty() {
        position += 1;
    }
    while position < lines.len() {
        let line = strip_quote_marks(lines[position]);
        if line.trim().is_empty() {
            break;
        }
        match parse_field(line) {
            Some((field, value)) => headers.push((field, value)),
            // A wrapped value continues on the next line.
            None if !headers.is_empty() && headers.len() < 8 => {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(&clean_value(line));
                }
            }
            None => break,
        }
        position += 1;
    }

    let body = lines[position.min(lines.len())..]
        .iter()
        .map(|line| strip_quote_marks(line))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string();

    InlineForward { comment, separator, headers, body }
}

/// Reads `Name: value` with a known field name; Gmail wraps names and values
/// in `*` in its text part.
fn parse_field(line: &str) -> Option<(Field, String)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim().trim_matches('*').trim().to_lowercase();
    let field = FIELD_NAMES.iter().find(|(known, _)| *known == name)?.1;
    Some((field, clean_value(value)))
}

fn clean_value(value: &str) -> String {
    value.replace('*', "").replace(['\r', '\n'], " ").trim().to_string()
}

fn strip_quote_marks(line: &str) -> &str {
    let trimmed = line.trim_start_matches(['>', ' ']);
    if line.trim_start().starts_with('>') { trimmed } else { line }
}

/// Rebuilds an RFC 5322 message from an inline forward. `html` is the part of
/// the wrapper's HTML body that follows the separator, if found;
/// `attachments` are the wrapper's attachments, which an inline forward
/// carries for the original.
pub(crate) fn rebuild(forward: &InlineForward, html: Option<String>, attachments: Vec<MimePart<'static>>) -> Vec<u8> {
    let mut output = Vec::new();
    for (field, value) in &forward.headers {
        let name = match field {
            Field::From => "From",
            Field::Date => "Date",
            Field::To => "To",
            Field::Cc => "Cc",
            Field::Subject => "Subject",
            Field::ReplyTo => "Reply-To",
        };
        let value = match field {
            Field::From | Field::To | Field::Cc | Field::ReplyTo => angle_brackets_for_mailto(value),
            _ => value.clone(),
        };
        output.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    output.extend_from_slice(b"MIME-Version: 1.0\r\n");

    let mut text_parts = vec![MimePart::new("text/plain", forward.body.clone())];
    if let Some(html) = html {
        text_parts.push(MimePart::new("text/html", html));
    }
    let seed = boundary::seed_of(forward.body.as_bytes());
    let text = if text_parts.len() == 1 {
        text_parts.remove(0)
    } else {
        boundary::multipart("alternative", text_parts, &seed, 1)
    };
    let root = if attachments.is_empty() {
        text
    } else {
        let mut parts = vec![text];
        parts.extend(attachments);
        boundary::multipart("mixed", parts, &seed, 0)
    };
    // Writing to a Vec cannot fail.
    let _ = root.write_part(&mut output);
    output
}

/// Gmail's text part writes `Name <mailto:a@b>` or `a@b [mailto:a@b]`;
/// reduce both to an address header value.
fn angle_brackets_for_mailto(value: &str) -> String {
    let value = value.replace("<mailto:", "<");
    match value.find(" [mailto:") {
        Some(position) => value[..position].to_string(),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_forward_is_found() {
        let text = "See below.\n\n---------- Forwarded message ---------\nFrom: *Bank* <alerts@bank-example.net>\nDate: Mon, 4 Mar 2024 at 10:00\nSubject: Verify now\nTo: <user@corp-example.com>\n\n\nClick https://verify.bank-example.net/x\n";
        let forward = find_inline_forward(text).expect("forward");
        assert_eq!(forward.comment, "See below.");
        assert!(forward.headers.contains(&(Field::From, "Bank <alerts@bank-example.net>".to_string())));
        assert!(forward.headers.contains(&(Field::Subject, "Verify now".to_string())));
        assert_eq!(forward.body, "Click https://verify.bank-example.net/x");
    }

    #[test]
    fn outlook_block_without_separator() {
        let text = "FYI\n________________________________\nFrom: Payroll <pay@payroll-example.net>\nSent: Monday, March 4, 2024 10:00 AM\nTo: Sam <sam@corp-example.com>\nSubject: Update your bank details\n\nPlease update.";
        let forward = find_inline_forward(text).expect("forward");
        assert_eq!(forward.comment, "FYI");
        assert!(forward.has_sender());
        assert_eq!(forward.body, "Please update.");
    }

    #[test]
    fn german_outlook_separator() {
        let text = "-----Ursprüngliche Nachricht-----\nVon: IT <it@it-example.net>\nGesendet: Montag\nAn: a@corp-example.com\nBetreff: Passwort\n\nText";
        let forward = find_inline_forward(text).expect("forward");
        assert!(forward.headers.contains(&(Field::Subject, "Passwort".to_string())));
    }

    #[test]
    fn prose_is_not_a_forward() {
        assert!(find_inline_forward("From: the start, we knew.\nIt was fine.").is_none());
        assert!(find_inline_forward("").is_none());
    }

    #[test]
    fn rebuilt_message_has_headers() {
        let text = "Begin forwarded message:\n\nFrom: A <a@example.net>\nSubject: Hi\nDate: 4 March 2024\n\nBody text";
        let forward = find_inline_forward(text).expect("forward");
        let bytes = rebuild(&forward, None, Vec::new());
        let rendered = String::from_utf8(bytes).expect("utf-8");
        assert!(rendered.starts_with("From: A <a@example.net>\r\nSubject: Hi\r\n"));
        assert!(rendered.contains("Body text"));
    }
}
