//! HTML: links, visible text and structural features, from one pass of
//! the [`markup`](crate::markup) tokenizer.
//!
//! A tokenizer, rather than a tree builder, is enough here: links live in
//! attributes and link text sits between `<a>` and `</a>`. Inline-style
//! features (hidden text, CSS `url()` values) come from a scan of the source
//! at `:` and `(` bytes. Entities in text and in the attributes read are
//! decoded with `html-escape`.

use std::borrow::Cow;

use html_escape::decode_html_entities;
use phishloop_model::{HtmlSummary, UrlSourceKind};

use crate::markup::{self, Attribute, Sink};

/// Script text kept for URL and smuggling scans.
const MAX_SCRIPT_BYTES: usize = 1024 * 1024;
/// Link text kept per link.
const MAX_LINK_TEXT: usize = 512;

/// What one HTML document yields.
#[derive(Debug, Default)]
pub(crate) struct HtmlExtract {
    /// Visible text, link texts included, with white space collapsed.
    pub text: String,
    /// Visible text outside links: the text searched for written URLs.
    pub text_outside_links: String,
    /// Script content, for URL and smuggling scans.
    pub script: String,
    /// URLs from attributes, with the link text for anchors.
    pub links: Vec<Link>,
    /// Addresses from `mailto:` links.
    pub mailto: Vec<String>,
    /// Numbers from `tel:` links.
    pub tel: Vec<String>,
    pub summary: HtmlSummary,
}

#[derive(Debug)]
pub(crate) struct Link {
    pub url: String,
    pub kind: UrlSourceKind,
    /// Text between `<a>` and `</a>`, whitespace collapsed.
    pub text: Option<String>,
}

/// Extracts links, text and features from an HTML document.
pub(crate) fn extract(html: &str) -> HtmlExtract {
    extract_with(html, false)
}

/// Like [`extract`]. Smuggling markers are searched in script content; with
/// `whole_document` (HTML attachments, which a browser opens) also in the
/// markup, where `download` links with `data:` URLs live.
pub(crate) fn extract_with(html: &str, whole_document: bool) -> HtmlExtract {
    let mut state = State::default();
    markup::tokenize(html, &mut state);
    state.scan_source(html);
    state.finish(html, whole_document)
}

#[derive(Debug, Default)]
struct State {
    output: HtmlExtract,
    /// Index in `output.links` of the open `<a>`, and where its text starts
    /// in `output.text`.
    open_anchor: Option<(Option<usize>, usize)>,
    /// Byte ranges of link texts in `output.text`.
    anchor_ranges: Vec<(usize, usize)>,
    title: String,
}

impl Sink for State {
    fn start_tag(&mut self, name: &str, attributes: &[Attribute<'_>]) {
        self.start(name, attributes);
    }

    fn end_tag(&mut self, name: &str) {
        if name == "a" {
            self.close_anchor();
        }
    }

    fn text(&mut self, text: &str) {
        // Text between tags is often only a line break and indentation,
        // which comes to the one space added below.
        if text.bytes().all(|byte| matches!(byte, b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ')) {
            push_space(&mut self.output.text);
            return;
        }
        push_collapsed(&mut self.output.text, &decode_entities(text));
        // Separate text nodes, so that `<td>a</td><td>b</td>` does not read
        // as one word.
        push_space(&mut self.output.text);
    }

    fn raw_text(&mut self, element: &str, text: &str) {
        match element {
            "script" if self.output.script.len() < MAX_SCRIPT_BYTES => {
                self.output.script.push_str(text);
                self.output.script.push('\n');
            }
            "title" => self.title.push_str(&decode_entities(text)),
            "textarea" => Sink::text(self, text),
            // Style sheets are searched for url() in the source scan; other
            // raw text (iframe fallback, xmp) is not shown by mail clients.
            _ => {}
        }
    }
}

impl State {
    /// Records what a start tag contributes.
    fn start(&mut self, tag: &str, attributes: &[Attribute<'_>]) {
        let attribute = |name: &str| {
            attributes
                .iter()
                .find(|attribute| attribute.name.eq_ignore_ascii_case(name))
                .map(|attribute| decode_entities(attribute.value))
        };

        match tag {
            "a" | "area" => {
                let href = attribute("href");
                let index = href.as_deref().and_then(|href| self.link(href, UrlSourceKind::HtmlHref));
                if tag == "a" {
                    self.close_anchor();
                    self.output.summary.links += usize::from(href.is_some());
                    self.open_anchor = Some((index, self.output.text.len()));
                }
            }
            "form" => {
                self.output.summary.forms += 1;
                if let Some(action) = attribute("action") {
                    self.link(&action, UrlSourceKind::HtmlFormAction);
                }
            }
            "input" | "button" => {
                if attribute("type").is_some_and(|kind| kind.eq_ignore_ascii_case("password")) {
                    self.output.summary.password_inputs += 1;
                }
                if let Some(action) = attribute("formaction") {
                    self.link(&action, UrlSourceKind::HtmlFormAction);
                }
            }
            "meta" => {
                let refresh = attribute("http-equiv").is_some_and(|equiv| equiv.eq_ignore_ascii_case("refresh"));
                if refresh {
                    self.output.summary.meta_refresh = true;
                    if let Some(target) = attribute("content").as_deref().and_then(refresh_target) {
                        self.link(&target, UrlSourceKind::HtmlMetaRefresh);
                    }
                }
            }
            "base" => self.output.summary.base_href = attribute("href").map(Cow::into_owned),
            "script" => self.output.summary.scripts += 1,
            "iframe" | "frame" => self.output.summary.iframes += 1,
            "img" => {
                if let Some(source) = attribute("src") {
                    let lower = source.trim_start().get(..8).unwrap_or_default().to_ascii_lowercase();
                    if lower.starts_with("cid:") {
                        self.output.summary.cid_images += 1;
                    } else if lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//") {
                        self.output.summary.remote_images += 1;
                    }
                }
            }
            // A `<link>` names a style sheet, icon or font that the mail
            // client loads; the reader never follows it.
            "link" => {
                if let Some(href) = attribute("href") {
                    self.link(&href, UrlSourceKind::HtmlSrc);
                }
            }
            _ => {}
        }

        match tag {
            "script" | "iframe" | "frame" | "embed" | "source" | "video" | "audio" | "track" | "input" | "img" => {
                if let Some(source) = attribute("src") {
                    self.link(&source, UrlSourceKind::HtmlSrc);
                }
            }
            "object" => {
                if let Some(data) = attribute("data") {
                    self.link(&data, UrlSourceKind::HtmlSrc);
                }
            }
            _ => {}
        }
        if matches!(tag, "img" | "source")
            && let Some(set) = attribute("srcset")
        {
            for candidate in set.split(',') {
                if let Some(url) = candidate.split_whitespace().next() {
                    self.link(url, UrlSourceKind::HtmlSrc);
                }
            }
        }
        if tag == "video"
            && let Some(poster) = attribute("poster")
        {
            self.link(&poster, UrlSourceKind::HtmlAttribute);
        }
        if let Some(background) = attribute("background") {
            self.link(&background, UrlSourceKind::HtmlAttribute);
        }
    }

    fn close_anchor(&mut self) {
        let Some((index, start)) = self.open_anchor.take() else {
            return;
        };
        let end = self.output.text.len();
        self.anchor_ranges.push((start, end));
        let text = self.output.text[start..end].trim();
        let text = match text.char_indices().nth(MAX_LINK_TEXT) {
            Some((cut, _)) => &text[..cut],
            None => text,
        };
        if let (Some(index), false) = (index, text.is_empty())
            && let Some(link) = self.output.links.get_mut(index)
        {
            link.text = Some(text.to_string());
        }
    }

    /// Records an attribute URL; `mailto:` and `tel:` go to their own lists.
    /// Returns the link's index.
    fn link(&mut self, value: &str, kind: UrlSourceKind) -> Option<usize> {
        let value = value.trim();
        if value.is_empty() || value.starts_with('#') {
            return None;
        }
        let has_scheme = |scheme: &[u8]| {
            value.as_bytes().get(..scheme.len()).is_some_and(|start| start.eq_ignore_ascii_case(scheme))
        };
        if has_scheme(b"mailto:") {
            let address = value[7..].split('?').next().unwrap_or_default().trim();
            if !address.is_empty() {
                self.output.mailto.push(address.to_string());
            }
            return None;
        }
        if has_scheme(b"tel:") {
            self.output.tel.push(value[4..].trim().to_string());
            return None;
        }
        if has_scheme(b"javascript:") || has_scheme(b"data:") {
            return None;
        }
        self.output.links.push(Link { url: value.to_string(), kind, text: None });
        Some(self.output.links.len() - 1)
    }

    /// Features of inline CSS and `data:` URIs, from the source text.
    fn scan_source(&mut self, html: &str) {
        let scan = scan_source(html);
        self.output.summary.hidden_elements = scan.hidden;
        self.output.summary.data_uris = scan.data_uris;
        for url in scan.css_urls {
            self.link(&url, UrlSourceKind::HtmlAttribute);
        }
    }

    fn finish(mut self, html: &str, whole_document: bool) -> HtmlExtract {
        self.close_anchor();
        let mut outside = String::with_capacity(self.output.text.len());
        let mut position = 0;
        for &(start, end) in &self.anchor_ranges {
            if start >= position {
                outside.push_str(&self.output.text[position..start]);
                outside.push(' ');
            }
            position = position.max(end);
        }
        outside.push_str(&self.output.text[position..]);
        self.output.text_outside_links = outside;
        let title = self.title.split_whitespace().collect::<Vec<_>>().join(" ");
        self.output.summary.title = (!title.is_empty()).then_some(title);
        self.output.summary.smuggling_markers = if whole_document {
            smuggling_markers(&format!("{}\n{}", self.output.script, bounded_prefix(html, MAX_SCRIPT_BYTES)))
        } else {
            smuggling_markers(&self.output.script)
        };
        self.output
    }
}

/// Decodes entities as `html_escape::decode_html_entities` does; text
/// without `&` is returned as it is without being scanned character by
/// character.
///
/// `html-escape` 0.2 decodes each `&` on its own: a reference is the bytes
/// from one `&` to the next `;`, with no `&` between, and is replaced when
/// it names an entity or a valid character. So the text is split before
/// each `&`, and the common references at the start of a piece are
/// replaced here, which spares `html-escape`'s byte-by-byte scan and its
/// binary search of over 2,000 entity names. Other pieces go to
/// `html-escape`.
fn decode_entities(text: &str) -> Cow<'_, str> {
    // Short texts are searched inline, which is cheaper than a call.
    let first = if text.len() <= 16 {
        text.bytes().position(|byte| byte == b'&')
    } else {
        memchr::memchr(b'&', text.as_bytes())
    };
    let Some(first) = first else {
        return Cow::Borrowed(text);
    };
    let mut decoded = String::with_capacity(text.len());
    decoded.push_str(&text[..first]);
    let mut rest = &text[first..];
    while !rest.is_empty() {
        // `rest` starts with `&`, and the piece runs up to the next one.
        let end = memchr::memchr(b'&', &rest.as_bytes()[1..]).map_or(rest.len(), |offset| offset + 1);
        let piece = &rest[..end];
        match COMMON_ENTITIES.iter().find(|(reference, _)| piece.starts_with(reference)) {
            Some((reference, character)) => {
                decoded.push_str(character);
                decoded.push_str(&piece[reference.len()..]);
            }
            None => decoded.push_str(&decode_html_entities(piece)),
        }
        rest = &rest[end..];
    }
    Cow::Owned(decoded)
}

/// Common references, with the text `html-escape` 0.2 decodes them to.
/// Any other reference is left to `html-escape`.
const COMMON_ENTITIES: [(&str, &str); 7] = [
    ("&nbsp;", "\u{a0}"),
    ("&amp;", "&"),
    ("&quot;", "\""),
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&#39;", "'"),
    ("&apos;", "'"),
];

/// Appends `text` to `buffer`, turning every run of white space into one
/// space and never starting a run where the buffer already ends in one.
/// White space is what `char::is_whitespace` accepts.
///
/// Each maximal run of white space becomes one space, except that a run at
/// the start of `text` is dropped when the buffer is empty or ends in a
/// space. Text between runs is copied in whole spans, and a single space
/// between two words stays inside its span, so ordinary prose costs one
/// copy per text node.
fn push_collapsed(buffer: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let leading_space = !(buffer.is_empty() || buffer.ends_with(' '));
    let mut span_start = 0;
    let mut position = 0;
    loop {
        // A space that starts the text follows no word, so it always needs
        // a look; `next_space_candidate` passes over some single spaces.
        let starts_with_space = position == 0 && bytes.first() == Some(&b' ');
        if !starts_with_space {
            position = next_space_candidate(bytes, position);
        }
        if position == bytes.len() {
            break;
        }
        let space_length = white_space_length(text, position);
        if space_length == 0 {
            // A control byte or a non-ASCII character that is no white space.
            position += utf8_length(bytes[position]);
            continue;
        }
        let run_start = position;
        let mut run_end = position + space_length;
        loop {
            let next = white_space_length(text, run_end);
            if next == 0 {
                break;
            }
            run_end += next;
        }
        position = run_end;
        // A single space between two words is already collapsed.
        if run_end - run_start == 1 && bytes[run_start] == b' ' && run_start > 0 && run_end < bytes.len() {
            continue;
        }
        if span_start < run_start {
            buffer.push_str(&text[span_start..run_start]);
        }
        if run_start > 0 || leading_space {
            buffer.push(' ');
        }
        span_start = run_end;
    }
    buffer.push_str(&text[span_start..]);
}

/// Appends one space unless the buffer is empty or already ends in one,
/// which is what [`push_collapsed`] does with a text of white space.
fn push_space(buffer: &mut String) {
    if !(buffer.is_empty() || buffer.ends_with(' ')) {
        buffer.push(' ');
    }
}

/// Returns the position of the first byte at or after `from` that may
/// start a run of white space needing work, or the length of `bytes`. Such
/// a byte is below `0x20` (ASCII white space other than the space, and
/// control bytes), is not ASCII, or is a space not followed by a byte above
/// `0x20`. A single space between two words is passed over because it is
/// already collapsed, except in the last lane of a word of eight bytes and
/// in the tail, where every space is returned. The caller must still check
/// the byte at the returned position. The function never passes over a
/// byte that needs work, provided the byte at `from` is not a space that
/// follows white space.
///
/// Each of the masks below has the high bit of a byte lane set exactly
/// when the condition holds for that lane. Adding to a lane whose high bit
/// is masked off never carries into the next lane, since `0x7F + 0x7F` is
/// below `0x100`, which is why the tests are exact per lane.
fn next_space_candidate(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const LOW_BITS: u64 = ONES * 0x7F;
    const HIGH_BITS: u64 = ONES * 0x80;
    const LAST_LANE: u64 = 0x80 << 56;
    let mut position = from;
    while let Some(chunk) = bytes.get(position..position + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunk of eight bytes"));
        let not_ascii = word & HIGH_BITS;
        // Lanes below 0x20: adding 0x60 sets the high bit for 0x20 and up.
        let control = !(((word & LOW_BITS) + ONES * 0x60) | word) & HIGH_BITS;
        // Lanes equal to 0x20: they are zero after the exclusive or.
        let spaced = word ^ (ONES * 0x20);
        let space = !(((spaced & LOW_BITS) + LOW_BITS) | spaced | LOW_BITS);
        // A space needs work unless the next lane contains an ASCII byte
        // above 0x20. The lane after the last one is unknown, so a space
        // there always counts.
        let next_needs_look = ((control | space | not_ascii) >> 8) | LAST_LANE;
        let flags = not_ascii | control | (space & next_needs_look);
        if flags != 0 {
            return position + (flags.trailing_zeros() / 8) as usize;
        }
        position += 8;
    }
    while position < bytes.len() && (0x21..0x80).contains(&bytes[position]) {
        position += 1;
    }
    position
}

/// Returns the length in bytes of the white space character at `position`
/// of `text` (a character boundary), or 0 when there is none.
fn white_space_length(text: &str, position: usize) -> usize {
    match text.as_bytes().get(position) {
        None => 0,
        Some(&byte) if byte.is_ascii() => usize::from(matches!(byte, b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ')),
        Some(_) => match text[position..].chars().next() {
            Some(character) if character.is_whitespace() => character.len_utf8(),
            _ => 0,
        },
    }
}

/// Returns the length of the UTF-8 sequence that starts with `lead`.
fn utf8_length(lead: u8) -> usize {
    match lead {
        0..0x80 => 1,
        0xC0..0xE0 => 2,
        0xE0..0xF0 => 3,
        _ => 4,
    }
}

/// The collapsing rule of [`push_collapsed`], written plainly on words
/// split at `char::is_whitespace`, to test the fast version against.
#[cfg(test)]
fn push_collapsed_reference(buffer: &mut String, text: &str) {
    let mut pending_space = !(buffer.is_empty() || buffer.ends_with(' ')) && text.starts_with(char::is_whitespace);
    for word in text.split(char::is_whitespace).filter(|word| !word.is_empty()) {
        if pending_space {
            buffer.push(' ');
        }
        buffer.push_str(word);
        pending_space = true;
    }
    if pending_space && text.ends_with(char::is_whitespace) {
        buffer.push(' ');
    }
}

/// What the source scan finds.
#[derive(Debug, Default)]
struct SourceScan {
    hidden: usize,
    data_uris: usize,
    css_urls: Vec<String>,
}

/// One pass over the source for inline-CSS features: declarations that
/// hide an element, `url(...)` values and `data:` URIs. Every one of them
/// sits at a `:` or `(`, so only those bytes are examined. A zero size
/// counts only when no digit or decimal point follows (`font-size:0.9em`
/// is not hidden).
// Kept out of line, which costs one call per document, so that profiles
// show the source scan apart from the tokenizer.
#[inline(never)]
fn scan_source(html: &str) -> SourceScan {
    let bytes = html.as_bytes();
    let mut scan = SourceScan::default();
    for position in memchr::memchr2_iter(b':', b'(', bytes) {
        if bytes[position] == b'(' {
            if position >= 3
                && bytes[position - 1].eq_ignore_ascii_case(&b'l')
                && bytes[position - 3..position].eq_ignore_ascii_case(b"url")
                && let Some(url) = css_url_at(html, position + 1)
            {
                scan.css_urls.push(url);
            }
            continue;
        }
        // The property names below end in `ta`, `ay`, `ty`, `ze` or `ht`.
        // Most colons (in URLs, `color:`, `font-family:`) follow other
        // bytes, so they are skipped without reading the name.
        // Setting bit 0x20 lowercases an ASCII letter, and no other byte
        // becomes one of these letters by it.
        let Some(ending) = position.checked_sub(2).map(|start| [bytes[start] | 0x20, bytes[start + 1] | 0x20]) else {
            continue;
        };
        if !matches!(&ending, b"ta" | b"ay" | b"ty" | b"ze" | b"ht") {
            continue;
        }
        let name_start = bytes[..position]
            .iter()
            .rev()
            .take(16)
            .take_while(|byte| byte.is_ascii_alphabetic() || **byte == b'-')
            .count();
        let name = &bytes[position - name_start..position];
        let value = bytes[position + 1..]
            .iter()
            .position(|byte| *byte != b' ')
            .map_or(&[][..], |skip| &bytes[position + 1 + skip..]);
        let starts = |prefix: &[u8]| value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix);
        let zero =
            || value.first() == Some(&b'0') && !value.get(1).is_some_and(|next| next.is_ascii_digit() || *next == b'.');
        let hides = if name.eq_ignore_ascii_case(b"data") {
            scan.data_uris += 1;
            false
        } else if name.eq_ignore_ascii_case(b"display") {
            starts(b"none")
        } else if name.eq_ignore_ascii_case(b"visibility") {
            starts(b"hidden")
        } else if name.eq_ignore_ascii_case(b"font-size")
            || name.eq_ignore_ascii_case(b"opacity")
            || name.eq_ignore_ascii_case(b"max-height")
        {
            zero()
        } else {
            false
        };
        scan.hidden += usize::from(hides);
    }
    scan
}

/// The value of `url(` at `start`, when it is a web URL. Quotes and the
/// `&quot;` entity used inside style attributes are removed.
fn css_url_at(html: &str, start: usize) -> Option<String> {
    let rest = html.get(start..)?;
    let close = rest.find(')')?;
    let value = decode_entities(rest[..close].trim());
    let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
    looks_like_url(value).then(|| value.to_string())
}

/// `0; url=https://...` of a meta refresh.
fn refresh_target(content: &str) -> Option<String> {
    let lower = content.to_ascii_lowercase();
    let position = lower.find("url")?;
    let rest = content[position + 3..].trim_start();
    let rest = rest.strip_prefix('=')?.trim();
    let target = rest.trim_matches(|c| c == '\'' || c == '"');
    (!target.is_empty()).then(|| target.to_string())
}

fn looks_like_url(value: &str) -> bool {
    let value = value.trim_start().as_bytes();
    let starts = |prefix: &[u8]| value.len() >= prefix.len() && value[..prefix.len()].eq_ignore_ascii_case(prefix);
    starts(b"http://") || starts(b"https://") || starts(b"//")
}

/// HTML smuggling: script that builds a file in the browser and starts its
/// download. A marker of building a payload and a marker of delivering it
/// must both be present, since either alone is common in ordinary pages.
fn smuggling_markers(code: &str) -> Vec<String> {
    const BUILD: &[&str] = &[
        "new blob(",
        "createobjecturl",
        "mssaveoropenblob",
        "mssaveblob",
        "uint8array",
        "atob(",
        "data:application/octet-stream",
        "data:application/zip",
        "data:application/x-msdownload",
        "data:application/x-zip-compressed",
        "data:application/vnd.ms-",
    ];
    const DELIVER: &[&str] = &[
        ".download",
        " download=",
        " download ",
        ".click()",
        "mssaveoropenblob",
        "mssaveblob",
        "location.href",
        "window.location",
    ];

    if code.is_empty() {
        return Vec::new();
    }
    let haystack = code.to_ascii_lowercase();
    let build: Vec<&str> = BUILD.iter().copied().filter(|marker| haystack.contains(marker)).collect();
    let deliver: Vec<&str> = DELIVER.iter().copied().filter(|marker| haystack.contains(marker)).collect();
    if build.is_empty() || deliver.is_empty() {
        return Vec::new();
    }
    let mut markers: Vec<String> = build.into_iter().chain(deliver).map(|marker| marker.trim().to_string()).collect();
    markers.dedup();
    markers
}

fn bounded_prefix(text: &str, limit: usize) -> &str {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_keep_text_and_unquoted_href() {
        let html = "<div>Track: https://track.example.net/t/1</div><a href=https://login.example-phish.net/wp/ >https://www.examplebank.com/login</a>";
        let extract = extract(html);
        assert_eq!(extract.links.len(), 1);
        assert_eq!(extract.links[0].url, "https://login.example-phish.net/wp/");
        assert_eq!(extract.links[0].text.as_deref(), Some("https://www.examplebank.com/login"));
        assert!(extract.text_outside_links.contains("https://track.example.net/t/1"));
        assert!(!extract.text_outside_links.contains("examplebank"));
        assert!(extract.text.contains("examplebank"));
    }

    #[test]
    fn entities_in_attributes_and_text_are_decoded() {
        let extract = extract("<p>Fish &amp; chips&nbsp;now</p><a href=\"https://a.example/?x=1&amp;y=2\">x</a>");
        assert_eq!(extract.links[0].url, "https://a.example/?x=1&y=2");
        assert!(extract.text.contains("Fish & chips"), "{}", extract.text);
    }

    #[test]
    fn text_nodes_are_separated() {
        let extract = extract(
            "<table><tr><td>https://a.example/x</td><td>Next</td></tr></table><p>verify\n   your <b>account</b></p>",
        );
        assert!(extract.text.contains("https://a.example/x Next"), "{}", extract.text);
        assert!(extract.text.contains("verify your account"), "{}", extract.text);
    }

    #[test]
    fn collapse_matches_reference() {
        let texts = [
            "",
            " ",
            "  ",
            "\r\n\t\t",
            "a",
            " a",
            "a ",
            " a ",
            "a  b",
            "\t\na\x0B\x0Cb\r ",
            "one two  three",
            "x\x0B",
            "\x0Bx",
            "a\u{a0}b",
            "\u{a0}",
            " \u{a0} a \u{2003}b\u{3000}",
            "caf\u{e9} cr\u{e8}me \u{1f600} end",
            "nul\0byte \0 \u{1}ctl",
            "a\u{85}b\u{2028}c\u{2029}d\u{202f}e\u{205f}f\u{1680}g",
            "eight by eight by eight by eight by",
            "a long line of ordinary prose, well past one word of eight bytes.",
            "  indented\n    block\n\n\n  of   text  ",
        ];
        let buffers = ["", "start", "start ", "start\n", "start\u{a0}"];
        for buffer in buffers {
            let mut spaced = buffer.to_string();
            push_space(&mut spaced);
            let mut collapsed = buffer.to_string();
            push_collapsed_reference(&mut collapsed, " ");
            assert_eq!(spaced, collapsed, "{buffer:?} + space");
            for text in texts {
                let mut fast = buffer.to_string();
                push_collapsed(&mut fast, text);
                let mut reference = buffer.to_string();
                push_collapsed_reference(&mut reference, text);
                assert_eq!(fast, reference, "{buffer:?} + {text:?}");
            }
        }
    }

    #[test]
    fn collapse_matches_reference_on_generated_text() {
        // Every string of up to four characters from an alphabet of words,
        // ASCII and Unicode white space and control bytes, placed at each
        // offset within an eight-byte word.
        let alphabet = ["a", "Z", " ", "\t", "\n", "\u{a0}", "\u{3000}", "\0", "\u{1}", "\u{e9}", "\u{7f}", "!"];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> =
                texts.iter().flat_map(|text| alphabet.iter().map(move |piece| format!("{text}{piece}"))).collect();
            texts.extend(longer);
            texts.dedup();
        }
        for text in &texts {
            for padding in ["", "abc", "abcdefg"] {
                let text = format!("{padding}{text}");
                for buffer in ["", "x", "x "] {
                    let mut fast = buffer.to_string();
                    push_collapsed(&mut fast, &text);
                    let mut reference = buffer.to_string();
                    push_collapsed_reference(&mut reference, &text);
                    assert_eq!(fast, reference, "{buffer:?} + {text:?}");
                }
            }
        }
    }

    #[test]
    fn space_candidates_never_skip_work() {
        // A byte needs work unless it is printable ASCII, or a space that
        // follows a byte which is no white space and precedes a printable
        // ASCII byte.
        let texts = [
            "abcdefgh ijklmnop\u{e9}qrstuvwx\0yz0123456789ABCDEFGHIJ\u{7f}~~~~~~~~~~~~\u{1f600}",
            "one two three four five six seven eight nine ten",
            "a  b   c\td\ne \u{a0}f \u{3000} g\u{85}h i\r\nj k ",
            "       x       y       z        ",
            "ab cd ef gh ij kl mn op qr st uv wx yz \0 \x01 \x1f \x7f ~ ! end",
        ];
        for text in texts {
            let bytes = text.as_bytes();
            let needs_work = |index: usize| {
                let byte = bytes[index];
                if (0x21..0x80).contains(&byte) {
                    return false;
                }
                if byte != b' ' {
                    return true;
                }
                let next_printable = bytes.get(index + 1).is_some_and(|next| (0x21..0x80).contains(next));
                !next_printable
            };
            for from in 0..=bytes.len() {
                if !text.is_char_boundary(from) || (from > 0 && bytes[from - 1].is_ascii_whitespace()) {
                    continue;
                }
                let found = next_space_candidate(bytes, from);
                let first_needing_work = (from..bytes.len()).find(|&index| needs_work(index)).unwrap_or(bytes.len());
                assert!(found <= first_needing_work, "{text:?} from {from}: {found} > {first_needing_work}");
                assert!(
                    (from..found).all(|index| (0x21..0x80).contains(&bytes[index]) || bytes[index] == b' '),
                    "{text:?} from {from}: passed over {found}"
                );
            }
        }
    }

    #[test]
    fn forms_meta_refresh_and_counts() {
        let html = "<html><head><title> Sign in </title><meta http-equiv=\"Refresh\" content=\"0; URL='https://r.example/go'\"></head><body><form action=\"https://collect.example/post\"><input type=password name=p></form><img src=\"cid:logo\"><img src=\"https://img.example/p.gif\"><script>var a=1;</script></body></html>";
        let extract = extract(html);
        let kinds: Vec<UrlSourceKind> = extract.links.iter().map(|link| link.kind).collect();
        assert!(kinds.contains(&UrlSourceKind::HtmlMetaRefresh));
        assert!(kinds.contains(&UrlSourceKind::HtmlFormAction));
        assert_eq!(extract.summary.title.as_deref(), Some("Sign in"));
        assert_eq!(extract.summary.forms, 1);
        assert_eq!(extract.summary.password_inputs, 1);
        assert_eq!(extract.summary.cid_images, 1);
        assert_eq!(extract.summary.remote_images, 1);
        assert_eq!(extract.summary.scripts, 1);
        assert!(extract.summary.meta_refresh);
        assert!(!extract.text.contains("var a"));
        assert!(extract.script.contains("var a=1;"));
    }

    #[test]
    fn style_sheets_and_fonts_are_loaded_not_followed() {
        let html = "<head><link rel=stylesheet href=\"https://fonts.example-cdn.net/css?family=Inter\"></head><a href=\"https://lure.example/x\">Open</a>";
        let extract = extract(html);
        let kinds: Vec<(&str, UrlSourceKind)> =
            extract.links.iter().map(|link| (link.url.as_str(), link.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("https://fonts.example-cdn.net/css?family=Inter", UrlSourceKind::HtmlSrc),
                ("https://lure.example/x", UrlSourceKind::HtmlHref),
            ]
        );
    }

    #[test]
    fn mailto_and_tel_are_not_urls() {
        let extract =
            extract("<a href=\"mailto:help@example.net?subject=x\">mail</a><a href=\"tel:+1-888-555-0100\">call</a>");
        assert!(extract.links.is_empty());
        assert_eq!(extract.mailto, vec!["help@example.net".to_string()]);
        assert_eq!(extract.tel, vec!["+1-888-555-0100".to_string()]);
    }

    #[test]
    fn smuggling_needs_build_and_deliver() {
        let html = "<script>var b = new Blob([atob(d)]); var a = document.createElement('a'); a.href = URL.createObjectURL(b); a.download = 'invoice.iso'; a.click();</script>";
        let markers = extract(html).summary.smuggling_markers;
        assert!(markers.contains(&"new blob(".to_string()), "{markers:?}");
        assert!(markers.contains(&".download".to_string()), "{markers:?}");
        assert!(extract("<script>var b = new Blob([]);</script>").summary.smuggling_markers.is_empty());
        let link_only = "<a href=\"data:application/octet-stream;base64,AAAA\" download=\"x.iso\">x</a>";
        assert!(extract(link_only).summary.smuggling_markers.is_empty());
        assert!(!extract_with(link_only, true).summary.smuggling_markers.is_empty());
    }

    #[test]
    fn hidden_styles_and_css_urls() {
        let html = "<div style=\"display: none\">secret</div><span style='FONT-SIZE:0px'>x</span><p style=\"font-size:0.9em\">shown</p><td style=\"background:url(&quot;https://img.example/bg.png&quot;)\">";
        let extract = extract(html);
        assert_eq!(extract.summary.hidden_elements, 2);
        assert!(extract.links.iter().any(|link| link.url == "https://img.example/bg.png"));
    }

    #[test]
    fn entities_decode_like_html_escape() {
        let texts = [
            "",
            "plain",
            "&",
            "&&",
            "&;",
            "a&b",
            "&nbsp;",
            "&nbsp",
            "x&nbsp;&nbsp;y",
            "&amp;lt;",
            "&amp&lt;",
            "&NBSP;&Amp;&AMP;",
            "&#39;&#039;&#x27;&#X27;&#;&#x;",
            "&#0;&#1;&#9;&#10;&#x1F600;&#1114112;&#xD800;",
            "&copy;&eacute;&notanentity;&nbsp x;",
            "caf\u{e9} &quot;quoted&quot; &apos;single&apos; &lt;b&gt;",
            "&am&amp;p;",
            "trailing &",
            "&nbsp;&#",
            "tail &#x",
        ];
        for text in texts {
            assert_eq!(decode_entities(text), decode_html_entities(text), "{text:?}");
        }

        // Every string of up to four pieces, to cover the joins.
        let pieces = ["&", ";", "#", "x", "a", "nbsp", "amp", "39", "&nbsp;", "&lt;", "&#39", "\u{e9}"];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> =
                texts.iter().flat_map(|text| pieces.iter().map(move |piece| format!("{text}{piece}"))).collect();
            texts.extend(longer);
            texts.dedup();
        }
        for text in &texts {
            assert_eq!(decode_entities(text), decode_html_entities(text), "{text:?}");
        }
    }

    #[test]
    fn hidden_properties_in_any_case() {
        let hidden =
            ["DISPLAY: none", "Visibility:Hidden", "font-SIZE:0", "OPACITY: 0", "Max-Height:0px", "display:NONE"];
        for style in hidden {
            let scan = scan_source(&format!("<p style=\"{style}\">x</p>"));
            assert_eq!(scan.hidden, 1, "{style}");
        }
        let visible = ["height:0", "font-weight:0", "line-height:0", "display:block", "opacity:0.5", "a:0", ":0"];
        for style in visible {
            let scan = scan_source(&format!("<p style=\"{style}\">x</p>"));
            assert_eq!(scan.hidden, 0, "{style}");
        }
        assert_eq!(scan_source("<img src=\"DATA:image/png;base64,AA\"><img src='data:x'>").data_uris, 2);
    }

    /// Hrefs of anchors as `lol_html`, a WHATWG-conformant streaming
    /// parser, reads them, for comparison with the tokenizer.
    fn reference_hrefs(html: &str) -> Vec<String> {
        use std::cell::RefCell;
        use std::rc::Rc;

        let found = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&found);
        let settings = lol_html::Settings::new().with_strict(false).append_element_content_handler(lol_html::element!(
            "a[href]",
            move |element| {
                if let Some(href) = element.get_attribute("href") {
                    let href = decode_html_entities(&href).trim().to_string();
                    if !href.is_empty() && !href.starts_with('#') && !href.to_ascii_lowercase().starts_with("mailto:") {
                        sink.borrow_mut().push(href);
                    }
                }
                Ok(())
            }
        ));
        let mut rewriter = lol_html::HtmlRewriter::new(settings, |_: &[u8]| {});
        rewriter.write(html.as_bytes()).expect("reference parser accepts input");
        rewriter.end().expect("reference parser finishes");
        found.take()
    }

    #[test]
    fn anchors_match_reference_parser() {
        let documents = [
            "<a href=https://a.example/1>one</a><A HREF='https://a.example/2'>two</A>",
            "<a title='x > y' href=\"https://a.example/3?x=1&amp;y=2\">three</a>",
            "<!-- <a href=https://hidden.example/> --><a href=https://a.example/4>four</a>",
            "<script>document.write('<a href=https://not-a-link.example/>')</script><a href=https://a.example/5>5</a>",
            "<style>a[href] { color: red }</style><a\nhref\n=\nhttps://a.example/6>six</a>",
            "<a href=\"https://a.example/7\" href=\"https://duplicate.example/\">seven</a>",
            "<textarea><a href=https://inside-textarea.example/></textarea><a href=https://a.example/8>8</a>",
            "<title><a href=https://inside-title.example/></title><p><a href='https://a.example/9'>9",
            "<a href=\"mailto:x@example.net\">m</a><a href=#top>t</a><a href=\"  https://a.example/10  \">10</a>",
            "<![CDATA[ <a href=https://cdata.example/> ]]><a href=https://a.example/11>11</a>",
            "<a/href=https://a.example/12>12</a><a href= https://a.example/13 >13</a>",
        ];
        for document in documents {
            let mine: Vec<String> = extract(document)
                .links
                .into_iter()
                .filter(|link| link.kind == UrlSourceKind::HtmlHref)
                .map(|link| link.url)
                .collect();
            assert_eq!(mine, reference_hrefs(document), "links of {document:?}");
        }
    }

    #[test]
    fn hostile_text_collapses_like_reference() {
        let html = "<P>\0 a\u{a0}&nbsp; b\t\tc</P><td>\u{3000}x  y\r\n</td><DIV>unclosed &amp; <b>bold";
        let extract = extract(html);
        let mut expected = String::new();
        for text in ["\0 a\u{a0}\u{a0} b\t\tc", "\u{3000}x  y\r\n", "unclosed & ", "bold"] {
            push_collapsed_reference(&mut expected, text);
            push_space(&mut expected);
        }
        assert_eq!(extract.text, expected);
    }

    #[test]
    fn link_schemes_ignore_case() {
        let extract = extract(
            "<a href='MailTo:A@example.net'>m</a><a href='TEL:+1-800-555-0100'>t</a><a href='JavaScript:x'>j</a><a href='DATA:text/html,x'>d</a><a href='https://x.example/'>w</a>",
        );
        assert_eq!(extract.mailto, vec!["A@example.net".to_string()]);
        assert_eq!(extract.tel, vec!["+1-800-555-0100".to_string()]);
        let urls: Vec<&str> = extract.links.iter().map(|link| link.url.as_str()).collect();
        assert_eq!(urls, vec!["https://x.example/"]);
    }

    #[test]
    fn malformed_html_does_not_panic() {
        for html in [
            "<a href=",
            "<a href='x",
            "<<<>>>",
            "<script>",
            "</a></a><a>",
            "<a href=\"https://x.example\">text",
            "<select><xmp><script>\"use strict\";</script></select>",
        ] {
            let _ = extract(html);
        }
    }
}
