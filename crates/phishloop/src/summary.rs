//! The readable summary of `phishloop analyze`.
//!
//! Every string from a message is hostile: control characters (terminal
//! escape sequences) and bidirectional overrides are shown escaped, never
//! written raw to the terminal.

use std::io::{self, Write};

use phishloop_model::{AnalysisRecord, ExtractionStatus, Mailbox, MessageAnalysis, ReportKind, UrlIndicator};

/// URLs, attachments and cues listed before the rest is counted.
const MAX_LISTED: usize = 20;

pub fn write(out: &mut impl Write, record: &AnalysisRecord) -> io::Result<()> {
    let source = record.source.path.as_deref().unwrap_or("(input)");
    if record.source.index > 0 {
        writeln!(out, "== {} (message {})", clean(source), record.source.index + 1)?;
    } else {
        writeln!(out, "== {}", clean(source))?;
    }
    write_report(out, record)?;
    if let Some(decision) = &record.decision {
        write_decision(out, decision)?;
    }
    if let Some(message) = &record.message {
        write_message(out, message, "")?;
    }
    writeln!(out)
}

fn write_decision(out: &mut impl Write, decision: &phishloop_model::Decision) -> io::Result<()> {
    let review = if decision.needs_review { ", needs review" } else { "" };
    writeln!(
        out,
        "Decision:    {} ({}), confidence {:.2}, score {:.2}{review}",
        snake_name(&decision.verdict).to_uppercase(),
        snake_name(&decision.category),
        decision.confidence,
        decision.score
    )?;
    for evidence in decision.evidence.iter().take(5) {
        let locations = if evidence.locations.is_empty() {
            String::new()
        } else {
            format!(" [{}]", shorten(&evidence.locations.join(", "), 100))
        };
        writeln!(
            out,
            "  {:+.2} {}: {}{}",
            evidence.weight,
            clean(&evidence.id),
            clean(&evidence.description),
            clean(&locations)
        )?;
    }
    for reason in &decision.review_reasons {
        writeln!(out, "  review: {}", clean(reason))?;
    }
    Ok(())
}

fn write_report(out: &mut impl Write, record: &AnalysisRecord) -> io::Result<()> {
    let report = &record.report;
    if report.kind == ReportKind::Direct && report.status == ExtractionStatus::NotAReport {
        return Ok(());
    }
    let kind = match report.kind {
        ReportKind::Direct => "report",
        ReportKind::AttachedMessage => "report with the original attached",
        ReportKind::InlineForward => "report with the original quoted inline",
    };
    let button = report.button.map(|button| format!(" via {}", snake_name(&button))).unwrap_or_default();
    writeln!(out, "Report:      {kind}{button}")?;
    if let Some(reporter) = &report.reporter {
        writeln!(out, "Reporter:    {}", mailbox(reporter))?;
    }
    if let Some(comment) = &report.comment {
        let first_line = comment.lines().next().unwrap_or_default();
        writeln!(out, "Comment:     {}", clean(&shorten(first_line, 100)))?;
    }
    if let Some(classification) = &report.reporter_classification {
        writeln!(out, "Reported as: {}", clean(classification))?;
    }
    if let Some(location) = &report.original_location {
        writeln!(out, "Original:    {}", clean(location))?;
    }
    if report.status == ExtractionStatus::Failed {
        writeln!(out, "EXTRACTION FAILED, needs manual review")?;
    } else if report.needs_manual_review {
        writeln!(out, "Needs manual review")?;
    }
    if let Some(reason) = &report.reason {
        writeln!(out, "Note:        {}", clean(reason))?;
    }
    Ok(())
}

fn write_message(out: &mut impl Write, message: &MessageAnalysis, indent: &str) -> io::Result<()> {
    let headers = &message.headers;
    for from in &headers.from {
        writeln!(out, "{indent}From:        {}", mailbox(from))?;
    }
    for reply_to in &headers.reply_to {
        let note = if message.sender.reply_to_differs { "  [differs from From]" } else { "" };
        writeln!(out, "{indent}Reply-To:    {}{note}", mailbox(reply_to))?;
    }
    if let Some(return_path) = &headers.return_path {
        writeln!(out, "{indent}Return-Path: {}", mailbox(return_path))?;
    }
    if let Some(subject) = &headers.subject {
        writeln!(out, "{indent}Subject:     {}", clean(subject))?;
    }
    if let Some(date) = &headers.date {
        writeln!(out, "{indent}Date:        {}", clean(date.parsed.as_deref().unwrap_or(&date.raw)))?;
    }
    write_sender_signals(out, message, indent)?;
    write_transport(out, message, indent)?;
    write_urls(out, &message.urls, indent)?;
    write_attachments(out, message, indent)?;
    write_content(out, message, indent)?;

    let status = snake_name(&message.parse.status);
    if message.parse.defects.is_empty() {
        writeln!(out, "{indent}Parse:       {status}")?;
    } else {
        let codes: Vec<String> = message.parse.defects.iter().map(|defect| snake_name(&defect.code)).collect();
        writeln!(out, "{indent}Parse:       {status}; defects: {}", codes.join(", "))?;
    }
    Ok(())
}

fn write_sender_signals(out: &mut impl Write, message: &MessageAnalysis, indent: &str) -> io::Result<()> {
    let sender = &message.sender;
    let mut signals = Vec::new();
    if sender.from_malformed {
        signals.push("From missing or malformed".to_string());
    }
    if let Some(brand) = &sender.display_name_brand {
        signals.push(format!("display name names {brand}"));
    }
    if let Some(person) = &sender.display_name_internal_person {
        signals.push(format!("display name of {person} from outside"));
    }
    if sender.display_name_address_differs {
        signals.push("another address in the display name".to_string());
    }
    if sender.from_free_mail {
        signals.push("free mail provider".to_string());
    }
    for lookalike in &sender.from_lookalikes {
        signals.push(format!("From domain imitates {} ({})", lookalike.target, snake_name(&lookalike.technique)));
    }
    if !signals.is_empty() {
        writeln!(out, "{indent}Sender:      {}", clean(&signals.join("; ")))?;
    }
    Ok(())
}

fn write_transport(out: &mut impl Write, message: &MessageAnalysis, indent: &str) -> io::Result<()> {
    let received = &message.received;
    if !received.hops.is_empty() {
        let external = match (&received.first_external_ip, &received.first_external_host) {
            (Some(ip), Some(host)) => format!(", first external hop {ip} ({host})"),
            (Some(ip), None) => format!(", first external hop {ip}"),
            _ => String::new(),
        };
        writeln!(out, "{indent}Received:    {} hop(s){}", received.hops.len(), clean(&external))?;
    }
    let summary = |label: &str, summary: &phishloop_model::AuthSummary| {
        let parts: Vec<String> = [
            ("spf", &summary.spf),
            ("dkim", &summary.dkim),
            ("dmarc", &summary.dmarc),
            ("arc", &summary.arc),
            ("compauth", &summary.compauth),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|value| format!("{name}={value}")))
        .collect();
        (!parts.is_empty()).then(|| format!("{label} {}", parts.join(" ")))
    };
    let lines: Vec<String> =
        [summary("trusted", &message.authentication.trusted), summary("untrusted", &message.authentication.untrusted)]
            .into_iter()
            .flatten()
            .collect();
    if !lines.is_empty() {
        writeln!(out, "{indent}Auth:        {}", clean(&lines.join(" | ")))?;
    }
    Ok(())
}

fn write_urls(out: &mut impl Write, urls: &[UrlIndicator], indent: &str) -> io::Result<()> {
    if urls.is_empty() {
        return Ok(());
    }
    writeln!(out, "{indent}URLs ({}):", urls.len())?;
    for url in urls.iter().take(MAX_LISTED) {
        let mut line = shorten(&url.url, 120);
        if url.effective != url.url {
            line.push_str(&format!(" -> {}", shorten(&url.effective, 120)));
        }
        let mut notes = Vec::new();
        if let Some(deceptive) = &url.deceptive {
            notes.push(format!("shows {} but leads to {}", deceptive.displayed_domain, deceptive.actual_domain));
        }
        for lookalike in &url.lookalikes {
            notes.push(format!("imitates {} ({})", lookalike.target, snake_name(&lookalike.technique)));
        }
        if let Some(recipient) = &url.embedded_recipient {
            notes.push(format!("carries recipient {recipient}"));
        }
        if url.shortener {
            notes.push("shortener".to_string());
        }
        if url.free_hosting {
            notes.push("free hosting".to_string());
        }
        if url.host_is_ip {
            notes.push("IP address host".to_string());
        }
        if url.sources.iter().any(|source| source.kind == phishloop_model::UrlSourceKind::QrCode) {
            notes.push("from a QR code".to_string());
        }
        let notes = if notes.is_empty() { String::new() } else { format!("  [{}]", notes.join("; ")) };
        writeln!(out, "{indent}  {}{}", clean(&line), clean(&notes))?;
    }
    if urls.len() > MAX_LISTED {
        writeln!(out, "{indent}  ... and {} more", urls.len() - MAX_LISTED)?;
    }
    Ok(())
}

fn write_attachments(out: &mut impl Write, message: &MessageAnalysis, indent: &str) -> io::Result<()> {
    if message.attachments.is_empty() {
        return Ok(());
    }
    writeln!(out, "{indent}Attachments ({}):", message.attachments.len())?;
    for attachment in message.attachments.iter().take(MAX_LISTED) {
        let name = attachment.filename.as_deref().unwrap_or("(no name)");
        let detected = attachment.detected_type.as_deref().unwrap_or(&attachment.declared_type);
        let flags = &attachment.flags;
        let mut notes = Vec::new();
        for (set, note) in [
            (flags.executable, "executable"),
            (flags.double_extension, "double extension"),
            (flags.bidi_control, "bidirectional control in name"),
            (flags.extension_mismatch, "extension does not match content"),
            (flags.macros, "macros"),
            (flags.encrypted, "encrypted"),
            (!flags.html_smuggling.is_empty(), "HTML smuggling"),
            (flags.credential_form, "credential form"),
            (flags.active_content, "active content"),
        ] {
            if set {
                notes.push(note.to_string());
            }
        }
        if let Some(archive) = &attachment.archive {
            notes.push(format!("{} archive entries", archive.total_entries));
        }
        if !attachment.qr_codes.is_empty() {
            notes.push(format!("{} QR code(s)", attachment.qr_codes.len()));
        }
        let notes = if notes.is_empty() { String::new() } else { format!("  [{}]", notes.join("; ")) };
        writeln!(
            out,
            "{indent}  {} {} {} B sha256 {}{}",
            clean(name),
            clean(detected),
            attachment.size,
            attachment.sha256,
            notes
        )?;
        if let Some(nested) = &attachment.message {
            writeln!(out, "{indent}    attached message:")?;
            write_message(out, nested, &format!("{indent}      "))?;
        }
    }
    Ok(())
}

fn write_content(out: &mut impl Write, message: &MessageAnalysis, indent: &str) -> io::Result<()> {
    if !message.cues.is_empty() {
        let cues: Vec<String> = message
            .cues
            .iter()
            .take(MAX_LISTED)
            .map(|cue| format!("{} \"{}\"", snake_name(&cue.kind), shorten(&cue.matched, 40)))
            .collect();
        writeln!(out, "{indent}Cues:        {}", clean(&cues.join(", ")))?;
    }
    if !message.phone_numbers.is_empty() {
        let phones: Vec<&str> = message.phone_numbers.iter().map(|phone| phone.raw.as_str()).collect();
        writeln!(out, "{indent}Phones:      {}", clean(&phones.join(", ")))?;
    }
    if !message.secrets.is_empty() {
        let secrets: Vec<String> =
            message.secrets.iter().map(|secret| format!("{} {}", snake_name(&secret.kind), secret.redacted)).collect();
        writeln!(out, "{indent}Secrets:     {}", clean(&secrets.join(", ")))?;
    }
    Ok(())
}

/// The name a value has in the JSON output.
pub(crate) fn snake_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn mailbox(mailbox: &Mailbox) -> String {
    let address = mailbox.address.as_deref().unwrap_or("");
    let text = match &mailbox.name {
        Some(name) => format!("\"{name}\" <{address}>"),
        None => format!("<{address}>"),
    };
    let note = mailbox.malformed.as_ref().map(|reason| format!("  [malformed: {reason}]")).unwrap_or_default();
    clean(&format!("{text}{note}"))
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// Escapes control and bidirectional formatting characters.
pub fn clean(text: &str) -> String {
    let mut output = String::with_capacity(text.len());
    for character in text.chars() {
        let bidi = matches!(character, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}');
        if character.is_control() || bidi {
            output.push_str(&character.escape_unicode().to_string());
        } else {
            output.push(character);
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_sequences() {
        assert_eq!(clean("a\u{1b}[31mred"), "a\\u{1b}[31mred");
        assert_eq!(clean("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(clean("plain é"), "plain é");
    }
}
