//! HTML: links, visible text and structural features, from one pass of a
//! WHATWG tokenizer (`html5gum`).
//!
//! A tokenizer, rather than a tree builder, is enough here: links live in
//! attributes, link text sits between `<a>` and `</a>`, and everything else
//! is counted. It also keeps HTML analysis fast, because phishing mail is
//! mostly HTML.

use std::convert::Infallible;

use html5gum::emitters::callback::{Callback, CallbackEmitter, CallbackEvent};
use html5gum::{Span, Tokenizer};
use phishloop_model::{HtmlSummary, UrlSourceKind};

/// Script text kept for URL and smuggling scans.
const MAX_SCRIPT_BYTES: usize = 1024 * 1024;
/// Link text kept per link.
const MAX_LINK_TEXT: usize = 512;

/// What one HTML document yields.
#[derive(Debug, Default)]
pub(crate) struct HtmlExtract {
    /// Visible text, link texts included, blocks separated by new lines.
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
    let mut state = State::default();
    {
        let mut emitter = CallbackEmitter::new(&mut state);
        emitter.naively_switch_states(true);
        for _ in Tokenizer::new_with_emitter(html, emitter) {}
    }
    state.finish(html)
}

#[derive(Debug, Default)]
struct State {
    output: HtmlExtract,
    tag: String,
    attribute: String,
    attributes: Vec<(String, String)>,
    /// Index in `output.links` of the open `<a>`, and its text so far.
    open_anchor: Option<(Option<usize>, String)>,
    in_script: bool,
    in_style: bool,
    in_title: bool,
    title: String,
    /// Names of open elements hidden by inline style, and whether each had
    /// text.
    hidden: Vec<(String, bool)>,
}

impl Callback<Infallible, ()> for &mut State {
    fn handle_event(&mut self, event: CallbackEvent<'_>, _span: Span<()>) -> Option<Infallible> {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                self.tag = String::from_utf8_lossy(name).into_owned();
                self.attributes.clear();
                self.attribute.clear();
            }
            CallbackEvent::AttributeName { name } => {
                self.attribute = String::from_utf8_lossy(name).into_owned();
                // Attributes with an empty value produce no value event.
                self.attributes.push((self.attribute.clone(), String::new()));
            }
            CallbackEvent::AttributeValue { value } => {
                if let Some(last) = self.attributes.last_mut()
                    && last.0 == self.attribute
                {
                    last.1 = String::from_utf8_lossy(value).into_owned();
                }
            }
            CallbackEvent::CloseStartTag { self_closing } => self.start_tag(self_closing),
            CallbackEvent::EndTag { name } => {
                let name = String::from_utf8_lossy(name).into_owned();
                self.end_tag(&name);
            }
            CallbackEvent::String { value } => self.text(&String::from_utf8_lossy(value)),
            CallbackEvent::Comment { .. } | CallbackEvent::Doctype { .. } | CallbackEvent::Error(_) => {}
        }
        None
    }
}

impl State {
    fn start_tag(&mut self, self_closing: bool) {
        let tag = std::mem::take(&mut self.tag);
        let attributes = std::mem::take(&mut self.attributes);
        let value =
            |name: &str| attributes.iter().find(|(attribute, _)| attribute == name).map(|(_, value)| value.as_str());
        let summary = &mut self.output.summary;

        match tag.as_str() {
            "a" | "area" => {
                let href = value("href");
                let index = href.and_then(|href| self.link(href, UrlSourceKind::HtmlHref));
                if tag == "a" {
                    self.output.summary.links += usize::from(href.is_some());
                    self.open_anchor = Some((index, String::new()));
                }
            }
            "form" => {
                summary.forms += 1;
                if let Some(action) = value("action") {
                    self.link(action, UrlSourceKind::HtmlFormAction);
                }
            }
            "input" | "button" => {
                if value("type").is_some_and(|kind| kind.eq_ignore_ascii_case("password")) {
                    summary.password_inputs += 1;
                }
                if let Some(action) = value("formaction") {
                    self.link(action, UrlSourceKind::HtmlFormAction);
                }
                if let Some(source) = value("src") {
                    self.link(source, UrlSourceKind::HtmlSrc);
                }
            }
            "meta" => {
                let refresh = value("http-equiv").is_some_and(|equiv| equiv.eq_ignore_ascii_case("refresh"));
                if refresh {
                    summary.meta_refresh = true;
                    if let Some(target) = value("content").and_then(refresh_target) {
                        self.link(&target, UrlSourceKind::HtmlMetaRefresh);
                    }
                }
            }
            "base" => summary.base_href = value("href").map(str::to_string),
            "script" => {
                summary.scripts += 1;
                self.in_script = !self_closing;
                if let Some(source) = value("src") {
                    self.link(source, UrlSourceKind::HtmlSrc);
                }
            }
            "style" => self.in_style = !self_closing,
            "title" => self.in_title = !self_closing,
            "iframe" | "frame" => {
                summary.iframes += 1;
                if let Some(source) = value("src") {
                    self.link(source, UrlSourceKind::HtmlSrc);
                }
            }
            "img" => {
                if let Some(source) = value("src") {
                    let lower = source.trim_start().to_ascii_lowercase();
                    if lower.starts_with("cid:") {
                        summary.cid_images += 1;
                    } else if lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//") {
                        summary.remote_images += 1;
                    }
                    self.link(source, UrlSourceKind::HtmlSrc);
                }
            }
            "link" => {
                if let Some(href) = value("href") {
                    self.link(href, UrlSourceKind::HtmlHref);
                }
            }
            _ => {
                if let Some(source) = value("src") {
                    self.link(source, UrlSourceKind::HtmlSrc);
                }
            }
        }

        for (name, attribute_value) in &attributes {
            self.scan_other_attribute(&tag, name, attribute_value);
        }
        if is_block(&tag) {
            self.output.text.push('\n');
            self.output.text_outside_links.push('\n');
        }
        let hidden = value("style").is_some_and(is_hidden_style) || value("hidden").is_some();
        if hidden && !self_closing && !is_void(&tag) {
            self.hidden.push((tag, false));
        }
    }

    /// URLs in attributes not covered above: `srcset`, `background`,
    /// `poster`, `data-*`, and `url(...)` in inline style.
    fn scan_other_attribute(&mut self, tag: &str, name: &str, value: &str) {
        if value.contains("data:") {
            self.output.summary.data_uris += 1;
        }
        match name {
            "srcset" => {
                for candidate in value.split(',') {
                    if let Some(url) = candidate.split_whitespace().next() {
                        self.link(url, UrlSourceKind::HtmlSrc);
                    }
                }
            }
            "background" | "poster" | "data" | "cite" | "longdesc" | "action" if tag != "form" => {
                self.link(value, UrlSourceKind::HtmlAttribute);
            }
            "style" => {
                for url in css_urls(value) {
                    self.link(&url, UrlSourceKind::HtmlAttribute);
                }
            }
            _ if name.starts_with("data-") && looks_like_url(value) => {
                self.link(value, UrlSourceKind::HtmlAttribute);
            }
            _ => {}
        }
    }

    fn end_tag(&mut self, name: &str) {
        match name {
            "a" => self.close_anchor(),
            "script" => self.in_script = false,
            "style" => self.in_style = false,
            "title" => self.in_title = false,
            _ => {}
        }
        if self.hidden.last().is_some_and(|(hidden, _)| hidden == name)
            && let Some((_, had_text)) = self.hidden.pop()
        {
            self.output.summary.hidden_text_elements += usize::from(had_text);
        }
        if is_block(name) {
            self.output.text.push('\n');
            self.output.text_outside_links.push('\n');
        }
    }

    fn text(&mut self, text: &str) {
        if self.in_script {
            if self.output.script.len() < MAX_SCRIPT_BYTES {
                self.output.script.push_str(text);
                self.output.script.push('\n');
            }
            return;
        }
        if self.in_style {
            for url in css_urls(text) {
                self.link(&url, UrlSourceKind::HtmlAttribute);
            }
            return;
        }
        if self.in_title {
            self.title.push_str(text);
            return;
        }
        if let Some((_, had_text)) = self.hidden.last_mut() {
            *had_text |= !text.trim().is_empty();
        }

        self.output.text.push_str(text);
        match &mut self.open_anchor {
            Some((_, anchor_text)) => {
                if anchor_text.len() < MAX_LINK_TEXT {
                    anchor_text.push_str(text);
                }
            }
            None => self.output.text_outside_links.push_str(text),
        }
    }

    fn close_anchor(&mut self) {
        let Some((index, text)) = self.open_anchor.take() else {
            return;
        };
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if let (Some(index), false) = (index, text.is_empty())
            && let Some(link) = self.output.links.get_mut(index)
        {
            link.text = Some(text);
        }
    }

    /// Records an attribute URL; `mailto:` and `tel:` go to their own lists.
    /// Returns the link's index.
    fn link(&mut self, value: &str, kind: UrlSourceKind) -> Option<usize> {
        let value = value.trim();
        if value.is_empty() || value.starts_with('#') {
            return None;
        }
        let lower_prefix: String = value.chars().take(12).collect::<String>().to_ascii_lowercase();
        if let Some(address) = lower_prefix.strip_prefix("mailto:").map(|_| &value[7..]) {
            let address = address.split('?').next().unwrap_or_default().trim();
            if !address.is_empty() {
                self.output.mailto.push(address.to_string());
            }
            return None;
        }
        if lower_prefix.starts_with("tel:") {
            self.output.tel.push(value[4..].trim().to_string());
            return None;
        }
        if lower_prefix.starts_with("javascript:") || lower_prefix.starts_with("data:") {
            return None;
        }
        self.output.links.push(Link { url: value.to_string(), kind, text: None });
        Some(self.output.links.len() - 1)
    }

    fn finish(mut self, html: &str) -> HtmlExtract {
        self.close_anchor();
        let title = self.title.split_whitespace().collect::<Vec<_>>().join(" ");
        self.output.summary.title = (!title.is_empty()).then_some(title);
        self.output.summary.smuggling_markers = smuggling_markers(&self.output.script, html);
        self.output
    }
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

/// `url(...)` values in CSS.
fn css_urls(css: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let lower = css.to_ascii_lowercase();
    let mut start = 0;
    while let Some(offset) = lower[start..].find("url(") {
        let open = start + offset + 4;
        let Some(close) = css[open..].find(')') else {
            break;
        };
        let value = css[open..open + close].trim().trim_matches(|c| c == '\'' || c == '"');
        if looks_like_url(value) {
            urls.push(value.to_string());
        }
        start = open + close;
    }
    urls
}

fn looks_like_url(value: &str) -> bool {
    let lower = value.trim_start().get(..8).unwrap_or(value).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
}

fn is_hidden_style(style: &str) -> bool {
    let compact: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    compact.contains("display:none")
        || compact.contains("visibility:hidden")
        || compact.contains("font-size:0;")
        || compact.ends_with("font-size:0")
        || compact.contains("font-size:0px")
        || compact.contains("opacity:0;")
        || compact.ends_with("opacity:0")
        || compact.contains("max-height:0")
}

fn is_block(tag: &str) -> bool {
    matches!(
        tag,
        "p" | "div"
            | "br"
            | "tr"
            | "li"
            | "ul"
            | "ol"
            | "table"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "blockquote"
            | "section"
            | "article"
            | "header"
            | "footer"
            | "td"
            | "th"
            | "hr"
            | "center"
            | "pre"
    )
}

fn is_void(tag: &str) -> bool {
    matches!(
        tag,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "source"
            | "track"
            | "wbr"
    )
}

/// HTML smuggling: script that builds a file in the browser and starts its
/// download. A marker of building a payload and a marker of delivering it
/// must both be present, since either alone is common in ordinary pages.
fn smuggling_markers(script: &str, html: &str) -> Vec<String> {
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

    let script_lower = script.to_ascii_lowercase();
    let html_lower;
    let haystack = if script_lower.is_empty() {
        html_lower = html.get(..html.len().min(MAX_SCRIPT_BYTES)).unwrap_or_default().to_ascii_lowercase();
        &html_lower
    } else {
        &script_lower
    };
    let build: Vec<&str> = BUILD.iter().copied().filter(|marker| haystack.contains(marker)).collect();
    let deliver: Vec<&str> = DELIVER.iter().copied().filter(|marker| haystack.contains(marker)).collect();
    if build.is_empty() || deliver.is_empty() {
        return Vec::new();
    }
    let mut markers: Vec<String> = build.into_iter().chain(deliver).map(|marker| marker.trim().to_string()).collect();
    markers.dedup();
    markers
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
    fn entities_in_attributes_are_decoded() {
        let extract = extract("<a href=\"https://a.example/?x=1&amp;y=2\">x</a>");
        assert_eq!(extract.links[0].url, "https://a.example/?x=1&y=2");
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
    }

    #[test]
    fn hidden_text_is_counted() {
        let extract =
            extract("<div style=\"display: none\">secret words</div><span style='font-size:0px'></span><p>shown</p>");
        assert_eq!(extract.summary.hidden_text_elements, 1);
    }

    #[test]
    fn malformed_html_does_not_panic() {
        for html in
            ["<a href=", "<a href='x", "<<<>>>", "<script>", "</a></a><a>", "<a href=\"https://x.example\">text"]
        {
            let _ = extract(html);
        }
    }
}
