//! The page templates, compiled into the binary and rendered with
//! minijinja. Templates whose names end in `.html` escape every value
//! unless a view marks it as safe HTML, which only the sanitised message
//! and the server-built SVG charts are.

use std::sync::LazyLock;

use minijinja::{Environment, Value, context};
use serde::Serialize;

use super::WebError;
use crate::error::ServiceError;

const TEMPLATES: [(&str, &str); 11] = [
    ("base.html", include_str!("templates/base.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("queue.html", include_str!("templates/queue.html")),
    ("case.html", include_str!("templates/case.html")),
    ("message.html", include_str!("templates/message.html")),
    ("campaign.html", include_str!("templates/campaign.html")),
    ("dashboard.html", include_str!("templates/dashboard.html")),
    ("coaching.html", include_str!("templates/coaching.html")),
    ("macros.html", include_str!("templates/macros.html")),
    ("account.html", include_str!("templates/account.html")),
];

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(error) = environment.add_template(name, source) {
            // A broken template is a bug of this build; the unit test below catches it first.
            tracing::error!(template = name, %error, "template does not compile");
        }
    }
    environment
});

/// Renders template `name` with `context`.
pub(crate) fn render(name: &str, context: impl Serialize) -> Result<String, WebError> {
    let template = ENVIRONMENT
        .get_template(name)
        .map_err(|error| WebError::Internal(ServiceError::Config(format!("template {name}: {error}"))))?;
    template
        .render(context)
        .map_err(|error| WebError::Internal(ServiceError::Config(format!("rendering {name} failed: {error:#}"))))
}

/// Renders the error page; falls back to plain text if even that fails.
pub(crate) fn render_error(status: u16, title: &str, message: &str) -> String {
    render("error.html", context! { status, title, message })
        .unwrap_or_else(|_| format!("{status} {title}: {}", super::view::escape_text(message)))
}

/// Marks server-built HTML (sanitised message, SVG charts) as safe to insert.
pub(crate) fn safe_html(html: String) -> Value {
    Value::from_safe_string(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(ENVIRONMENT.get_template(name).is_ok(), "{name}: {:?}", ENVIRONMENT.get_template(name).err());
        }
    }

    #[test]
    fn values_are_escaped() {
        let page = render_error(400, "Invalid request", "<script>alert(1)</script>");

        assert!(page.contains("&lt;script&gt;"), "{page}");
        assert!(!page.contains("<script>alert"), "{page}");
    }
}
