//! Rendering messages from the embedded templates and an optional override
//! folder.

use std::path::{Component, Path, PathBuf};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use phishloop_model::{Decision, MessageAnalysis};
use serde::{Deserialize, Serialize};

use crate::context::{self, Audience, CaseSummary, Settings};
use crate::templates::{EMBEDDED, embedded_source};

/// The `[coaching]` table. Every key is optional and unknown keys are
/// errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoachingConfig {
    /// Folder of templates that replace the embedded ones of the same name.
    /// Files are read at every render, so edits apply at once.
    pub templates: Option<PathBuf>,
    /// The organisation's name, as `organization` in templates.
    pub organization: String,
    /// The name messages are signed with, as `team` in templates.
    pub team: String,
    /// Work one template may do (minijinja fuel units) before it is
    /// stopped, so an edited template cannot loop for long.
    pub fuel: u64,
}

impl Default for CoachingConfig {
    fn default() -> Self {
        CoachingConfig {
            templates: None,
            organization: "your organisation".to_string(),
            team: "The security team".to_string(),
            fuel: 100_000,
        }
    }
}

/// Errors in the coaching configuration.
#[derive(Debug, thiserror::Error)]
pub enum CoachingError {
    #[error("coaching template folder {0} is not a folder or cannot be read")]
    TemplateFolder(PathBuf),
}

/// One rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedMessage {
    /// One line, at most 200 characters.
    pub subject: String,
    pub text: String,
    /// HTML with every value escaped.
    pub html: String,
    /// The template names used for the subject, text and HTML.
    pub templates: Vec<String>,
    /// Override templates that failed; their embedded defaults were used.
    pub issues: Vec<TemplateIssue>,
}

/// A template that failed to compile or render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateIssue {
    /// The template that was rendered.
    pub template: String,
    /// Path of the file that contains the error, or `embedded:<name>`.
    pub file: String,
    /// Line of the error in that file, from 1.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Kind of message to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Acknowledgement,
    Outcome,
    Lesson,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Kind::Acknowledgement => "acknowledgement",
            Kind::Outcome => "outcome",
            Kind::Lesson => "lesson",
        }
    }
}

const PARTS: [&str; 3] = ["subject.txt", "body.txt", "body.html"];

/// Maximum subject length, in characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// Renders coaching messages.
#[derive(Debug)]
pub struct Coach {
    config: CoachingConfig,
    embedded: Environment<'static>,
}

impl Coach {
    /// Builds a coach.
    ///
    /// # Errors
    ///
    /// Returns [`CoachingError::TemplateFolder`] when `templates` is set but
    /// is not a readable folder.
    pub fn new(config: CoachingConfig) -> Result<Self, CoachingError> {
        if let Some(folder) = &config.templates
            && std::fs::read_dir(folder).is_err()
        {
            return Err(CoachingError::TemplateFolder(folder.clone()));
        }
        let embedded = environment(config.fuel, |name| Ok(embedded_source(name).map(str::to_string)));
        Ok(Coach { config, embedded })
    }

    /// Renders the acknowledgement sent to the reporter at intake, before a
    /// decision.
    pub fn acknowledgement(&self, message: Option<&MessageAnalysis>, case: &CaseSummary) -> RenderedMessage {
        let context = self.context(None, message, case, None);
        self.render(Kind::Acknowledgement, &["default".to_string()], &context)
    }

    /// Renders the outcome sent to the reporter after the decision.
    pub fn outcome(
        &self,
        decision: &Decision,
        message: Option<&MessageAnalysis>,
        case: &CaseSummary,
    ) -> RenderedMessage {
        let context = self.context(Some(decision), message, case, None);
        self.render(Kind::Outcome, &variants(decision), &context)
    }

    /// Renders a short lesson about this lure for a person who received or
    /// clicked it.
    pub fn lesson(
        &self,
        decision: &Decision,
        message: Option<&MessageAnalysis>,
        case: &CaseSummary,
        audience: Audience,
    ) -> RenderedMessage {
        let context = self.context(Some(decision), message, case, Some(audience));
        self.render(Kind::Lesson, &variants(decision), &context)
    }

    fn context(
        &self,
        decision: Option<&Decision>,
        message: Option<&MessageAnalysis>,
        case: &CaseSummary,
        audience: Option<Audience>,
    ) -> Value {
        let settings = Settings { organization: &self.config.organization, team: &self.config.team };
        Value::from_serialize(context::build(&settings, decision, message, case, audience))
    }

    fn render(&self, kind: Kind, variants: &[String], context: &Value) -> RenderedMessage {
        let custom = self.config.templates.as_deref().map(|folder| self.custom_environment(folder));
        let mut issues = Vec::new();
        let mut templates = Vec::new();
        let mut parts = Vec::new();

        for part in PARTS {
            let names: Vec<String> = variants.iter().map(|v| format!("{}/{v}.{part}", kind.folder())).collect();
            let (name, output) = self.render_part(custom.as_ref(), &names, context, &mut issues);
            templates.push(name);
            parts.push(output);
        }

        let [subject, text, html] = <[String; 3]>::try_from(parts).unwrap_or_default();
        RenderedMessage { subject: one_line(&subject), text: finish_text(&text), html, templates, issues }
    }

    /// Renders the most specific template that exists, with the override
    /// folder first; when that fails, the most specific embedded one.
    fn render_part(
        &self,
        custom: Option<&Environment<'static>>,
        names: &[String],
        context: &Value,
        issues: &mut Vec<TemplateIssue>,
    ) -> (String, String) {
        if let (Some(custom), Some(folder)) = (custom, self.config.templates.as_deref()) {
            let found = names.iter().find(|name| {
                override_path(folder, name).is_some_and(|p| p.is_file()) || embedded_source(name).is_some()
            });
            if let Some(name) = found {
                match custom.get_template(name).and_then(|template| template.render(context)) {
                    Ok(output) => return (name.clone(), output),
                    Err(error) => issues.push(issue(name, &error, Some(folder))),
                }
            }
        }

        let Some(name) = names.iter().find(|name| embedded_source(name).is_some()) else {
            return (String::new(), String::new());
        };
        match self.embedded.get_template(name).and_then(|template| template.render(context)) {
            Ok(output) => (name.clone(), output),
            Err(error) => {
                // NOTE: only a bug in an embedded template gets here; tests
                // render every embedded template for every verdict.
                issues.push(issue(name, &error, None));
                (name.clone(), String::new())
            }
        }
    }

    fn custom_environment(&self, folder: &Path) -> Environment<'static> {
        let folder = folder.to_path_buf();
        environment(self.config.fuel, move |name| {
            if let Some(path) = override_path(&folder, name).filter(|path| path.is_file()) {
                return std::fs::read_to_string(&path).map(Some).map_err(|error| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("failed to read {}: {error}", path.display()),
                    )
                });
            }
            Ok(embedded_source(name).map(str::to_string))
        })
    }
}

/// Template variants from the most specific to the fallback.
fn variants(decision: &Decision) -> Vec<String> {
    let verdict = Value::from_serialize(decision.verdict);
    let category = Value::from_serialize(decision.category);
    let verdict = verdict.as_str().unwrap_or_default();
    let category = category.as_str().unwrap_or_default();
    vec![format!("{verdict}.{category}"), verdict.to_string(), "default".to_string()]
}

fn environment<F>(fuel: u64, loader: F) -> Environment<'static>
where
    F: Fn(&str) -> Result<Option<String>, minijinja::Error> + Send + Sync + 'static,
{
    let mut env = Environment::new();
    env.set_loader(loader);
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(fuel));
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

/// Returns the file for a template name inside the override folder, or
/// `None` for a name that would leave the folder.
fn override_path(folder: &Path, name: &str) -> Option<PathBuf> {
    let relative = Path::new(name);
    let inside = relative.components().all(|component| matches!(component, Component::Normal(_)));
    (inside && !name.contains('\\')).then(|| folder.join(relative))
}

fn issue(name: &str, error: &minijinja::Error, folder: Option<&Path>) -> TemplateIssue {
    let failing = error.name().unwrap_or(name);
    let file = match folder.and_then(|folder| override_path(folder, failing)).filter(|path| path.is_file()) {
        Some(path) => path.display().to_string(),
        None => format!("embedded:{failing}"),
    };
    let message = match error.detail() {
        Some(detail) => format!("{}: {detail}", error.kind()),
        None => error.kind().to_string(),
    };
    let issue = TemplateIssue { template: name.to_string(), file, line: error.line(), message };
    tracing::warn!(template = %issue.template, "coaching template failed, using the embedded default: {issue}");
    issue
}

/// Collapses a rendered subject to one line, so that it cannot add header
/// lines, and cuts it to 200 characters.
fn one_line(subject: &str) -> String {
    let words: Vec<&str> =
        subject.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect();
    words.join(" ").chars().take(MAX_SUBJECT_CHARS).collect()
}

fn finish_text(text: &str) -> String {
    let mut text = text.trim().to_string();
    text.push('\n');
    text
}

/// Names of every embedded template, for listing and tests.
pub fn embedded_template_names() -> Vec<&'static str> {
    EMBEDDED.iter().map(|(name, _)| *name).collect()
}
