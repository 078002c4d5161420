//! A streaming HTML tokenizer for extraction: start tags with attributes,
//! end tags, text and raw text, in one linear pass.
//!
//! It follows the WHATWG tokenization rules for the parts extraction needs:
//! attribute values quoted with `"` or `'` or unquoted, the first of two
//! equal attribute names wins, comments (including `<!-->`), bogus comments
//! (`<!...>`, `<?...>`, `</ ...>`), a `<` that starts no tag is text, and the
//! content of `script`, `style`, `title`, `textarea`, `xmp`, `iframe`,
//! `noembed`, `noframes` and `plaintext` is raw text up to the matching end
//! tag. It does not build a tree, correct nesting or decode entities
//! (callers decode the values they use). `noscript` content is tokenized as
//! markup, as a mail client without scripting shows it.
//!
//! NOTE: the crates this project first used for this step (`html5gum`, then
//! `lol_html`) each took longer than the whole MIME parse of a message,
//! because they tokenize and transcode every character; this pass only looks
//! at `<`, quotes and tag ends, and is tested against `lol_html` for the
//! links it finds.

use std::collections::HashSet;

use memchr::memchr;

/// One attribute of a start tag, as written (entities not decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attribute<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

/// Receives tokens in document order.
pub(crate) trait Sink {
    /// A start tag; `name` is lowercase.
    fn start_tag(&mut self, name: &str, attributes: &[Attribute<'_>]);
    /// An end tag; `name` is lowercase.
    fn end_tag(&mut self, name: &str);
    /// Text between tags, entities not decoded.
    fn text(&mut self, text: &str);
    /// Content of a raw-text element such as `script`; `element` is
    /// lowercase.
    fn raw_text(&mut self, element: &str, text: &str);
}

/// Tokenizes `html`, sending tokens to `sink`. Runs in time linear in the
/// input whatever it contains.
pub(crate) fn tokenize(html: &str, sink: &mut impl Sink) {
    let bytes = html.as_bytes();
    let mut tokenizer = Tokenizer {
        html,
        bytes,
        position: 0,
        text_start: 0,
        name: String::new(),
        attributes: Vec::new(),
        attribute_names: HashSet::new(),
    };
    tokenizer.run(sink);
}

struct Tokenizer<'a> {
    html: &'a str,
    bytes: &'a [u8],
    position: usize,
    text_start: usize,
    /// Lowercase copy of the current tag name, used only when the source
    /// spells it with an uppercase letter.
    name: String,
    attributes: Vec<Attribute<'a>>,
    /// Lower-case names of the current tag's attributes, filled only once
    /// the tag has [`LINEAR_ATTRIBUTE_CHECK`] of them.
    attribute_names: HashSet<String>,
}

/// Attributes per tag up to which a repeated name is found by comparing
/// with each kept one. A hostile tag with many thousands of attributes
/// would make that quadratic, so larger tags use a set of names.
const LINEAR_ATTRIBUTE_CHECK: usize = 32;

/// Byte classes of the tokenizer, one bit each, looked up in [`CLASSES`].
const SPACE: u8 = 1;
const SLASH: u8 = 2;
const GREATER_THAN: u8 = 4;
const EQUALS: u8 = 8;

/// The class bits of every byte: `SPACE` for the HTML white space bytes
/// (tab, line feed, form feed, carriage return and space), and one bit
/// each for `/`, `>` and `=`.
static CLASSES: [u8; 256] = {
    let mut classes = [0u8; 256];
    classes[b'\t' as usize] = SPACE;
    classes[b'\n' as usize] = SPACE;
    classes[0x0C] = SPACE;
    classes[b'\r' as usize] = SPACE;
    classes[b' ' as usize] = SPACE;
    classes[b'/' as usize] = SLASH;
    classes[b'>' as usize] = GREATER_THAN;
    classes[b'=' as usize] = EQUALS;
    classes
};

/// Returns the position of the first byte at or after `from` whose class
/// shares a bit with `stop`, or the input length.
fn find_class(bytes: &[u8], from: usize, stop: u8) -> usize {
    bytes[from..].iter().position(|&byte| CLASSES[usize::from(byte)] & stop != 0).map_or(bytes.len(), |end| from + end)
}

/// Returns the position of the first byte at or after `from` whose class
/// shares no bit with `skip`, or the input length.
fn skip_class(bytes: &[u8], from: usize, skip: u8) -> usize {
    bytes[from..].iter().position(|&byte| CLASSES[usize::from(byte)] & skip == 0).map_or(bytes.len(), |end| from + end)
}

fn is_space(byte: u8) -> bool {
    CLASSES[usize::from(byte)] & SPACE != 0
}

/// Returns the tag name at `start..end` of `html` in lowercase: the source
/// text itself when it has no ASCII uppercase letter, else a lowercase copy
/// written to `buffer`.
fn lowercase_name<'s>(html: &'s str, buffer: &'s mut String, start: usize, end: usize) -> &'s str {
    let name = &html[start..end];
    if !name.bytes().any(|byte| byte.is_ascii_uppercase()) {
        return name;
    }
    buffer.clear();
    buffer.push_str(name);
    buffer.make_ascii_lowercase();
    buffer
}

/// Returns whether the content of element `name` (lowercase) is raw text.
fn is_raw_text_element(name: &str) -> bool {
    matches!(name, "script" | "style" | "title" | "textarea" | "xmp" | "iframe" | "noembed" | "noframes" | "plaintext")
}

impl<'a> Tokenizer<'a> {
    fn run(&mut self, sink: &mut impl Sink) {
        while let Some(open) = find_byte(self.bytes, self.position, b'<') {
            match self.bytes.get(open + 1).copied() {
                Some(b'!') => {
                    self.flush_text(open, sink);
                    self.position = self.markup_declaration_end(open);
                    self.text_start = self.position;
                }
                Some(b'?') => {
                    self.flush_text(open, sink);
                    self.position = self.after_next_greater_than(open);
                    self.text_start = self.position;
                }
                Some(b'/') => {
                    self.flush_text(open, sink);
                    self.end_tag(open, sink);
                    self.text_start = self.position;
                }
                Some(byte) if byte.is_ascii_alphabetic() => {
                    self.flush_text(open, sink);
                    self.start_tag(open, sink);
                    self.text_start = self.position;
                }
                // A `<` that opens no tag is text.
                _ => self.position = open + 1,
            }
        }
        self.flush_text(self.bytes.len(), sink);
    }

    fn flush_text(&mut self, end: usize, sink: &mut impl Sink) {
        if end > self.text_start {
            sink.text(&self.html[self.text_start..end]);
        }
        self.text_start = end;
    }

    /// `<!-- ... -->`, `<!-->`, `<!--->`, or a bogus comment up to `>`.
    fn markup_declaration_end(&self, open: usize) -> usize {
        let rest = &self.bytes[open..];
        if !rest.starts_with(b"<!--") {
            return self.after_next_greater_than(open);
        }
        let body = open + 4;
        let after = &self.bytes[body..];
        if after.starts_with(b">") {
            return body + 1;
        }
        if after.starts_with(b"->") {
            return body + 2;
        }
        memchr::memmem::find(after, b"-->").map_or(self.bytes.len(), |end| body + end + 3)
    }

    fn after_next_greater_than(&self, from: usize) -> usize {
        after_next_greater_than(self.bytes, from)
    }

    /// `</name ...>`; `</>` is dropped and `</ ...>` is a bogus comment.
    fn end_tag(&mut self, open: usize, sink: &mut impl Sink) {
        let name_start = open + 2;
        let starts_name = self.bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic);
        if !starts_name {
            self.position = self.after_next_greater_than(open);
            return;
        }
        let name_end = self.name_end(name_start);
        self.position = self.after_next_greater_than(name_end);
        sink.end_tag(lowercase_name(self.html, &mut self.name, name_start, name_end));
    }

    fn name_end(&self, start: usize) -> usize {
        find_class(self.bytes, start, SPACE | SLASH | GREATER_THAN)
    }

    /// `<name attributes...>` and, for raw-text elements, their content.
    fn start_tag(&mut self, open: usize, sink: &mut impl Sink) {
        let name_end = self.name_end(open + 1);
        self.attributes.clear();
        self.attribute_names.clear();
        let Some(tag_end) = self.attributes(name_end) else {
            // End of input inside a tag: the tag is dropped.
            self.position = self.bytes.len();
            return;
        };
        self.position = tag_end;
        let name = lowercase_name(self.html, &mut self.name, open + 1, name_end);
        sink.start_tag(name, &self.attributes);
        if is_raw_text_element(name) {
            self.position = raw_text(self.html, tag_end, name, sink);
        }
    }

    /// Reads attributes from `from` to the end of the tag. Returns the
    /// position after `>`, or `None` at end of input.
    fn attributes(&mut self, from: usize) -> Option<usize> {
        let bytes = self.bytes;
        let mut position = from;
        loop {
            position = skip_class(bytes, position, SPACE | SLASH);
            match bytes.get(position) {
                None => return None,
                Some(b'>') => return Some(position + 1),
                Some(_) => {}
            }

            // The name; a leading `=` belongs to it.
            let name_start = position;
            position = find_class(bytes, position + 1, SPACE | SLASH | GREATER_THAN | EQUALS);
            let name = &self.html[name_start..position];
            position = skip_class(bytes, position, SPACE);

            let mut value = "";
            if bytes.get(position) == Some(&b'=') {
                position = skip_class(bytes, position + 1, SPACE);
                match bytes.get(position).copied() {
                    Some(quote @ (b'"' | b'\'')) => {
                        let start = position + 1;
                        let end = find_byte(bytes, start, quote)?;
                        value = &self.html[start..end];
                        position = end + 1;
                    }
                    Some(b'>') | None => {}
                    Some(_) => {
                        let start = position;
                        position = find_class(bytes, position, SPACE | GREATER_THAN);
                        value = &self.html[start..position];
                    }
                }
            }
            if self.is_new_attribute(name) {
                self.attributes.push(Attribute { name, value });
            }
        }
    }

    /// Returns whether the current tag has no attribute named `name` yet;
    /// the first of repeated attributes counts, as in HTML.
    fn is_new_attribute(&mut self, name: &str) -> bool {
        if self.attributes.len() < LINEAR_ATTRIBUTE_CHECK {
            return !self.attributes.iter().any(|known| known.name.eq_ignore_ascii_case(name));
        }
        if self.attribute_names.is_empty() {
            let names = self.attributes.iter().map(|known| known.name.to_ascii_lowercase());
            self.attribute_names.extend(names);
        }
        self.attribute_names.insert(name.to_ascii_lowercase())
    }
}

fn after_next_greater_than(bytes: &[u8], from: usize) -> usize {
    find_byte(bytes, from, b'>').map_or(bytes.len(), |end| end + 1)
}

/// Returns the position of the first `needle` at or after `from`. The 16
/// bytes from `from` on are tested inline, because the next tag or tag end
/// is often a few bytes away and a `memchr` call costs more than such a
/// short scan. The rest goes to `memchr`.
fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    const INLINE: usize = 16;
    let rest = &bytes[from..];
    let head = &rest[..rest.len().min(INLINE)];
    if let Some(offset) = head.iter().position(|&byte| byte == needle) {
        return Some(from + offset);
    }
    memchr(needle, &rest[head.len()..]).map(|offset| from + head.len() + offset)
}

/// Sends the content of raw-text element `name` (lowercase), which starts
/// at `start`, up to `</name` followed by white space, `/` or `>`, and the
/// end tag. Returns the position after the end tag.
fn raw_text(html: &str, start: usize, name: &str, sink: &mut impl Sink) -> usize {
    let bytes = html.as_bytes();
    if name == "plaintext" {
        sink.raw_text("plaintext", &html[start..]);
        return bytes.len();
    }
    let mut search = start;
    let length = name.len();
    while let Some(offset) = memchr(b'<', &bytes[search..]) {
        let open = search + offset;
        let name_start = open + 2;
        let closes = bytes.get(open + 1) == Some(&b'/')
            && bytes
                .get(name_start..name_start + length)
                .is_some_and(|found| found.eq_ignore_ascii_case(name.as_bytes()))
            && bytes.get(name_start + length).is_none_or(|&byte| is_space(byte) || byte == b'/' || byte == b'>');
        if closes {
            sink.raw_text(name, &html[start..open]);
            sink.end_tag(name);
            return after_next_greater_than(bytes, name_start + length);
        }
        search = open + 1;
    }
    sink.raw_text(name, &html[start..]);
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        events: Vec<String>,
    }

    impl Sink for Recorder {
        fn start_tag(&mut self, name: &str, attributes: &[Attribute<'_>]) {
            let attributes: Vec<String> = attributes.iter().map(|a| format!("{}={}", a.name, a.value)).collect();
            self.events.push(format!("<{name} {}>", attributes.join(" ")));
        }
        fn end_tag(&mut self, name: &str) {
            self.events.push(format!("</{name}>"));
        }
        fn text(&mut self, text: &str) {
            self.events.push(format!("text:{text}"));
        }
        fn raw_text(&mut self, element: &str, text: &str) {
            self.events.push(format!("raw {element}:{text}"));
        }
    }

    fn events(html: &str) -> Vec<String> {
        let mut recorder = Recorder::default();
        tokenize(html, &mut recorder);
        recorder.events
    }

    #[test]
    fn tags_attributes_and_text() {
        assert_eq!(
            events("<A HREF=https://x.example/a?b=1 class='c d' title=\"a>b\" disabled>Go</a>"),
            vec!["<a HREF=https://x.example/a?b=1 class=c d title=a>b disabled=>", "text:Go", "</a>"]
        );
    }

    #[test]
    fn repeated_attributes_keep_first() {
        // Past the linear check the names go through a set: the first of a
        // repeated name still wins, whatever its case.
        let filler: String = (0..200).map(|index| format!(" data-{index}=x")).collect();
        let html = format!("<a href=https://first.example{filler} HREF=https://second.example data-7=y>go</a>");

        let events = events(&html);
        let tag = &events[0];

        assert!(tag.contains("href=https://first.example"), "{tag}");
        assert!(!tag.contains("second.example"), "{tag}");
        assert_eq!(tag.matches("data-7=").count(), 1, "{tag}");
        assert_eq!(tag.matches(" data-").count(), 200, "{tag}");
    }

    #[test]
    fn first_duplicate_attribute_wins() {
        assert_eq!(events("<a href=one href=two>"), vec!["<a href=one>"]);
    }

    #[test]
    fn comments_and_bogus_markup() {
        assert_eq!(
            events("a<!-- <a href=x> -->b<!-->c<!DOCTYPE html>d<?xml x?>e</ x>f</>g"),
            vec!["text:a", "text:b", "text:c", "text:d", "text:e", "text:f", "text:g"]
        );
    }

    #[test]
    fn lone_less_than_is_text() {
        assert_eq!(events("1 < 2 <3"), vec!["text:1 < 2 <3"]);
    }

    #[test]
    fn raw_text_elements() {
        assert_eq!(
            events("<script>if (a<b) { x('</a>') }</SCRIPT >after<title>T &amp; U</title>"),
            vec![
                "<script >",
                "raw script:if (a<b) { x('</a>') }",
                "</script>",
                "text:after",
                "<title >",
                "raw title:T &amp; U",
                "</title>"
            ]
        );
    }

    #[test]
    fn unterminated_input() {
        assert_eq!(events("text<a href='x"), vec!["text:text"]);
        assert_eq!(events("<script>never closed"), vec!["<script >", "raw script:never closed"]);
        assert!(events("<").contains(&"text:<".to_string()));
        assert_eq!(events(""), Vec::<String>::new());
    }

    #[test]
    fn mixed_case_names_are_lowercase() {
        assert_eq!(
            events("<DiV Class=x><SCRIPT>a</sCrIpT><Title>t</TITLE></DIV>"),
            vec![
                "<div Class=x>",
                "<script >",
                "raw script:a",
                "</script>",
                "<title >",
                "raw title:t",
                "</title>",
                "</div>"
            ]
        );
    }

    #[test]
    fn hostile_markup() {
        // NUL bytes in names, values and text stay as written.
        assert_eq!(events("<a\0b x\0=1\0>t\0u</a\0b>"), vec!["<a\0b x\0=1\0>", "text:t\0u", "</a\0b>"]);
        // A huge attribute value, quoted and unquoted.
        let value = "v".repeat(200_000);
        let quoted = events(&format!("<a href='{value}'>x</a>"));
        assert_eq!(quoted[0], format!("<a href={value}>"));
        let unquoted = events(&format!("<a HREF={value}>x</a>"));
        assert_eq!(unquoted[0], format!("<a HREF={value}>"));
        // Entities are passed through undecoded.
        assert_eq!(
            events("<a title=&quot;x&amp;>&lt;b&gt;</a>"),
            vec!["<a title=&quot;x&amp;>", "text:&lt;b&gt;", "</a>"]
        );
        // Unclosed tags and attributes end the input.
        assert_eq!(events("a<div class=\"never closed>text"), vec!["text:a"]);
        assert_eq!(events("<p =x/ / ='y' z>"), vec!["<p =x= ='y'= z=>"]);
        assert_eq!(events("<br/><img src=x/>"), vec!["<br >", "<img src=x/>"]);
        // Tag names end at form feed and carriage return too.
        assert_eq!(events("<b\x0Cx=1></b\r>"), vec!["<b x=1>", "</b>"]);
    }

    #[test]
    fn every_prefix_terminates() {
        let html = "<div a=1 b='2' c=\"3\"><!-- c --><script>x</script><a href=y>z</a></div>";
        for end in 0..=html.len() {
            if html.is_char_boundary(end) {
                let _ = events(&html[..end]);
            }
        }
    }
}
