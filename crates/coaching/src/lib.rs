//! Coaching: the messages phishloop sends to the people involved in a
//! report.
//!
//! A [`Coach`] renders three messages from minijinja templates: the
//! acknowledgement a reporter gets at intake, the outcome after the
//! decision, and a short lesson about the lure for people who received or
//! clicked it. Each message has a subject, a plain-text body and an HTML
//! body. Templates are embedded and can be replaced one by one from an
//! override folder; an override that fails is reported with its file and
//! line, and the embedded default is used instead.
//!
//! Every URL, domain and address from the reported message reaches the
//! templates defanged (`hxxps://example-phish[.]net/`), and the HTML body
//! escapes every value. Nothing here sends mail.

mod context;
mod defang;
mod render;
mod templates;

pub use context::{Audience, CaseSummary, Impact, Person};
pub use defang::{defang_address, defang_domain, defang_links_in, defang_text, defang_url};
pub use render::{Coach, CoachingConfig, CoachingError, RenderedMessage, TemplateIssue, embedded_template_names};
