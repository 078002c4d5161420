//! iCalendar (RFC 5545) invitations: URLs in property values.
//!
//! Lines are unfolded first (a line break followed by a space or tab joins
//! two lines), because a URL is often split across a fold. Text values are
//! unescaped (`\,` `\;` `\n`). `mailto:` values of ORGANIZER and ATTENDEE are
//! addresses, not web URLs.

use crate::text;

/// What an invitation yields.
#[derive(Debug, Default)]
pub(crate) struct CalendarExtract {
    pub urls: Vec<String>,
    pub emails: Vec<String>,
    /// HTML descriptions (X-ALT-DESC with FMTTYPE=text/html).
    pub html: Vec<String>,
    /// Visible text: summary, description, location.
    pub text: String,
}

pub(crate) fn extract(calendar: &str) -> CalendarExtract {
    let mut result = CalendarExtract::default();
    for line in unfold(calendar).lines() {
        let Some((name_and_parameters, value)) = split_property(line) else {
            continue;
        };
        let name = name_and_parameters.split(';').next().unwrap_or_default().to_ascii_uppercase();
        let value = unescape(value);

        if value.to_ascii_lowercase().starts_with("mailto:") {
            result.emails.push(value[7..].trim().to_ascii_lowercase());
            continue;
        }
        let is_html = name == "X-ALT-DESC" && name_and_parameters.to_ascii_lowercase().contains("text/html");
        if is_html {
            result.html.push(value);
            continue;
        }
        // Identifiers look like addresses (`UID:1234@host`) but are none.
        if matches!(name.as_str(), "UID" | "RECURRENCE-ID" | "RELATED-TO") {
            continue;
        }
        if matches!(name.as_str(), "SUMMARY" | "DESCRIPTION" | "LOCATION" | "COMMENT") {
            result.text.push_str(&value);
            result.text.push('\n');
        }
        let finds = text::find_links(&value);
        result.urls.extend(finds.urls);
        result.emails.extend(finds.emails);
    }
    result
}

fn unfold(calendar: &str) -> String {
    calendar.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")
}

/// Splits `NAME;PARAM="a:b":value` at the first colon outside quotes.
fn split_property(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (index, character) in line.char_indices() {
        match character {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&line[..index], &line[index + 1..])),
            _ => {}
        }
    }
    None
}

fn unescape(value: &str) -> String {
    value
        .replace("\\n", "\n")
        .replace("\\N", "\n")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
        .trim_end_matches('\r')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_url_is_joined() {
        let calendar = "BEGIN:VEVENT\nLOCATION:https://meet-verify.example-conf.net/j/55821?u=user%40corp-example.com\nDESCRIPTION:Please review: https://docs\n .example-conf.net/sheet/9912?src=ics\nORGANIZER;CN=Board:mailto:calendar@conf-example.net\nATTENDEE;CN=\"User: One\":mailto:user@corp-example.com\nEND:VEVENT\n";
        let extract = extract(calendar);
        assert_eq!(
            extract.urls,
            vec![
                "https://meet-verify.example-conf.net/j/55821?u=user%40corp-example.com",
                "https://docs.example-conf.net/sheet/9912?src=ics",
            ]
        );
        assert_eq!(extract.emails, vec!["calendar@conf-example.net", "user@corp-example.com"]);
    }
}
