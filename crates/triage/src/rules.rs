//! Detection rules: files of rules whose conditions are Common Expression
//! Language (CEL) expressions over the analysis output.
//!
//! A rule file is TOML with one `[[rule]]` table per rule:
//!
//! ```toml
//! [[rule]]
//! id = "lookalike-login-link"
//! description = "A sign-in request with a link to a lookalike domain"
//! category = "credential_harvesting"
//! weight = 0.85
//! expression = '''
//! message.urls.exists(u, size(u.lookalikes) > 0)
//!   && message.cues.exists(c, c.kind == "credential_request")
//! '''
//! locations = "message.urls.filter(u, size(u.lookalikes) > 0).map(u, u.effective)"
//!
//! [[rule.example]]
//! matches = true
//! message = '''
//! From: ...
//! '''
//! ```
//!
//! An example may carry `analysis_config` (the `[analysis]` table as TOML)
//! and `rule_settings` (the `[triage.rule_settings]` table as TOML) when the
//! rule depends on the organisation's configuration.
//!
//! The expression reads `message` (the analysis of the original, see
//! docs/analysis-schema.md), `report` (how it was reported) and `config`
//! (lists from the triage configuration, such as simulation headers). A rule
//! matches when its expression is `true`; an expression that fails at run
//! time (a missing key, a wrong type) does not match. `locations`, when
//! given, is a CEL expression that returns the strings the rule points to
//! (URLs, header values, attachment names, cues with their place): a
//! string, or a list of strings whose nested lists are flattened. Every
//! built-in rule has one.

use std::cell::{LazyCell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cel::common::types::{CelBool, CelString};
use cel::common::value::Val;
use cel::{Context, Env, ExecutionError, Program, Value};
use phishloop_model::Category;
use regex::Regex;
use rustc_hash::FxHashMap;

use crate::conjuncts::{Collections, Conjuncts};
use crate::direct::{MAX_LOCATIONS, Roots, Strings};
use crate::header_fields;
use crate::tree::Tree;
use crate::values::{self, Names};
use serde::Deserialize;

/// A rule as written in a rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSource {
    id: String,
    description: String,
    category: Category,
    /// Contribution to the score, from -1 (benign evidence) to 1. Either
    /// this or `severity`.
    weight: Option<f64>,
    /// `low` (0.3), `medium` (0.5), `high` (0.75) or `critical` (0.95).
    severity: Option<Severity>,
    /// `simulation` marks rules that recognise authorised phishing
    /// simulations.
    #[serde(default)]
    verdict: Option<RuleVerdict>,
    expression: toml::Spanned<String>,
    locations: Option<toml::Spanned<String>>,
    #[serde(default, rename = "example")]
    examples: Vec<Example>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    fn weight(self) -> f64 {
        match self {
            Severity::Low => 0.3,
            Severity::Medium => 0.5,
            Severity::High => 0.75,
            Severity::Critical => 0.95,
        }
    }
}

/// A verdict a rule forces when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleVerdict {
    Simulation,
}

/// An example message a rule must or must not match.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// Whether the rule must match the message.
    pub matches: bool,
    /// The message, as RFC 5322 text.
    pub message: String,
    /// Analysis configuration (the `[analysis]` table as TOML) to analyse
    /// the example with, when the rule depends on it.
    #[serde(default)]
    pub analysis_config: Option<String>,
    /// What the rule reads as `config` (the `[triage.rule_settings]` table
    /// as TOML, over the defaults), when the rule depends on it.
    #[serde(default)]
    pub rule_settings: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RuleSource>,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub category: Category,
    pub weight: f64,
    pub verdict: Option<RuleVerdict>,
    /// File the rule was read from.
    pub file: String,
    pub examples: Vec<Example>,
    expression: Program,
    /// The expression's conjuncts, which [`RuleSet::evaluate`] runs.
    conjuncts: Conjuncts,
    locations: Option<Program>,
    /// `locations` for direct evaluation, when all of it is supported.
    direct_locations: Option<Strings>,
    /// Whether the expression reads fields that the header block gives.
    reads_header_fields: bool,
}

impl Rule {
    /// Returns true when the rule's expression reads the sender, the
    /// Received chain, authentication results, header fields or parse
    /// defects, which input without a header block leaves empty.
    pub fn reads_header_fields(&self) -> bool {
        self.reads_header_fields
    }
}

/// An error loading a rule set.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read rule file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("invalid rule file {path}: {reason}")]
    Syntax { path: String, reason: String },
    #[error(
        "{path}:{file_line}: rule {id}: {field} does not compile at line {line}, column {column} of the expression: {reason}"
    )]
    Compile {
        path: String,
        /// Line of the error in the rule file, counted from 1.
        file_line: usize,
        id: String,
        field: &'static str,
        line: isize,
        column: isize,
        reason: String,
    },
    #[error("{path}: rule {id}: {reason}")]
    Invalid { path: String, id: String, reason: String },
    #[error("rule id {id} is defined twice: in {first} and in {second}; rule ids must be unique")]
    Duplicate { id: String, first: String, second: String },
}

/// What a matching rule contributes to a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub rule: usize,
    pub locations: Vec<String>,
}

/// A set of compiled rules and the CEL environment they run in.
pub struct RuleSet {
    env: Arc<Env>,
    rules: Vec<Rule>,
    /// Every word the expressions contain: the only field names a rule can
    /// read. Fields of the analysis named otherwise are left out of what
    /// rules see, because CEL copies each list item a macro visits.
    names: Names,
    /// The collections that `exists` conjuncts iterate, sized once per
    /// message.
    collections: Collections,
    /// A number no other rule set of this process has, which ties
    /// [`Settings`] to the field numbers of `names`.
    id: u64,
}

/// The next [`RuleSet::id`].
static NEXT_RULE_SET: AtomicU64 = AtomicU64::new(0);

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("RuleSet").field("rules", &self.rules.len()).finish()
    }
}

/// The rule files built into phishloop, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("built-in/credential.toml", include_str!("../rules/credential.toml")),
    ("built-in/malware.toml", include_str!("../rules/malware.toml")),
    ("built-in/payment.toml", include_str!("../rules/payment.toml")),
    ("built-in/scams.toml", include_str!("../rules/scams.toml")),
    ("built-in/developer.toml", include_str!("../rules/developer.toml")),
    ("built-in/sender.toml", include_str!("../rules/sender.toml")),
    ("built-in/simulation.toml", include_str!("../rules/simulation.toml")),
    ("built-in/benign.toml", include_str!("../rules/benign.toml")),
];

impl RuleSet {
    /// Loads the built-in rules (unless `built_in` is false) and every
    /// `.toml` file in `folders`, in name order.
    ///
    /// # Errors
    ///
    /// Returns the first [`RuleError`]: an unreadable file, invalid TOML, a
    /// rule that does not compile (with its id and position), or a
    /// duplicate id.
    pub fn load(built_in: bool, folders: &[PathBuf]) -> Result<Self, RuleError> {
        let mut sources: Vec<(String, String)> = Vec::new();
        if built_in {
            sources.extend(BUILT_IN.iter().map(|(name, text)| (name.to_string(), text.to_string())));
        }
        for folder in folders {
            sources.extend(read_folder(folder)?);
        }
        RuleSet::from_sources(&sources)
    }

    /// Compiles rules from `(file name, TOML text)` pairs.
    ///
    /// # Errors
    ///
    /// See [`RuleSet::load`].
    pub fn from_sources(sources: &[(String, String)]) -> Result<Self, RuleError> {
        let env = Arc::new(environment());
        let mut rules: Vec<Rule> = Vec::new();
        let mut names = Names::default();
        let mut collections = Collections::default();
        for (path, text) in sources {
            let file: RuleFile = toml::from_str(text)
                .map_err(|error| RuleError::Syntax { path: path.clone(), reason: error.to_string() })?;
            for source in file.rule {
                for text in std::iter::once(&source.expression).chain(source.locations.as_ref()) {
                    for word in expression_words(text.get_ref()) {
                        names.insert(word);
                    }
                }
                let rule = compile(&env, &mut collections, &names, path, text, source)?;
                if let Some(existing) = rules.iter().find(|existing| existing.id == rule.id) {
                    return Err(RuleError::Duplicate {
                        id: rule.id,
                        first: existing.file.clone(),
                        second: path.clone(),
                    });
                }
                rules.push(rule);
            }
        }
        let id = NEXT_RULE_SET.fetch_add(1, Ordering::Relaxed);
        Ok(RuleSet { env, rules, names, collections, id })
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    #[cfg(test)]
    pub(crate) fn names(&self) -> &Names {
        &self.names
    }

    /// Evaluates every rule against the variables and returns the matches.
    /// When the analysis cannot be represented in CEL, no rule matches.
    ///
    /// Direct evaluation reads a [`Tree`] of the variables, kept per thread
    /// and refilled for each message. The CEL values and the context for
    /// the interpreter are built only when some conjunct or `locations`
    /// expression needs them.
    pub fn evaluate(&self, variables: &Variables<'_>) -> Vec<Hit> {
        TREE.with(|tree| match tree.try_borrow_mut() {
            Ok(mut tree) => self.evaluate_with(&mut tree, variables),
            // A nested call on this thread (none exists today) gets a tree
            // of its own instead of a panic.
            Err(_) => self.evaluate_with(&mut Tree::default(), variables),
        })
    }

    fn evaluate_with(&self, tree: &mut Tree, variables: &Variables<'_>) -> Vec<Hit> {
        tree.clear();
        let Ok((message, report)) = self.push_variables(tree, variables) else {
            return Vec::new();
        };
        let config = self.config_tree(variables);
        let (message, report) = (tree.root(message), tree.root(report));
        let roots = Roots::new(message, report, config.root(0));
        let sizes = self.collections.sizes(&[("message", message), ("report", report)]);
        let context: LazyContext<'_> = LazyCell::new(Box::new(|| self.interpreter_context(variables)));
        let mut known = vec![None; self.collections.conjunct_texts()];

        let mut hits = Vec::new();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.conjuncts.matches(&context, &roots, &sizes, &mut known) {
                let locations = match (&rule.locations, &rule.direct_locations) {
                    (None, _) => Vec::new(),
                    (Some(program), direct) => direct
                        .as_ref()
                        .and_then(|direct| direct.evaluate(&roots))
                        .unwrap_or_else(|| strings(program, &context)),
                };
                hits.push(Hit { rule: index, locations });
            }
        }
        hits
    }

    /// Appends the analysis and the report to `tree`, leaving out the
    /// fields no expression names, and returns their indexes.
    fn push_variables(
        &self,
        tree: &mut Tree,
        variables: &Variables<'_>,
    ) -> Result<(u32, u32), cel::SerializationError> {
        let message = match variables.message {
            Some(message) => tree.push(message, &self.names)?,
            None => tree.push(&(), &self.names)?,
        };
        Ok((message, tree.push(variables.report, &self.names)?))
    }

    /// Builds the interpreter's context with the CEL values of the
    /// variables.
    fn interpreter_context(&self, variables: &Variables<'_>) -> Context<'_, '_> {
        let config = self.config(variables).clone_as_boxed();
        match self.values(variables) {
            Ok((message, report)) => self.context(message, report, config),
            // NOTE: the tree was built from the same values with the same
            // rules for map keys, so this conversion does not fail where
            // that one succeeded. Without `message` and `report`, every
            // expression that reads them fails and does not match.
            Err(_) => {
                let mut context = Context::with_env(Arc::clone(&self.env));
                context.add_variable_as_val("config", config);
                context
            }
        }
    }

    /// Evaluates one rule, reporting a run-time error instead of treating it
    /// as no match (for testing rules).
    ///
    /// # Errors
    ///
    /// Returns the CEL error message, or says which type the expression
    /// returned instead of a boolean.
    pub fn evaluate_one(&self, index: usize, variables: &Variables<'_>) -> Result<bool, String> {
        let (message, report) = self.values(variables).map_err(|error| error.to_string())?;
        let context = self.context(message, report, self.config(variables).clone_as_boxed());
        match self.rules[index].expression.execute(&context) {
            Ok(Value::Bool(matched)) => Ok(matched),
            Ok(other) => Err(format!("the expression returned {other:?}, not a boolean")),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Converts the analysis and the report into the CEL values rules read,
    /// once for all rules, leaving out the fields no expression names.
    fn values(&self, variables: &Variables<'_>) -> Result<MessageAndReport, cel::SerializationError> {
        let message = match variables.message {
            Some(message) => values::serialize(message, &self.names)?,
            None => values::serialize(&(), &self.names)?,
        };
        Ok((message, values::serialize(variables.report, &self.names)?))
    }

    /// Converts rule settings for [`Variables::with_shared_settings`]. The
    /// result is only for this rule set, because it carries the numbers
    /// this rule set gave to field names.
    pub fn settings(&self, config: &Value) -> Settings {
        Settings {
            value: Arc::from(values::convert_all(config, &self.names)),
            tree: Arc::new(self.convert_tree(config)),
            source: config.clone(),
            rule_set: self.id,
        }
    }

    /// Returns the rule settings of `variables` as a tree for direct
    /// evaluation, with the settings at index 0, converting them unless
    /// this rule set converted them already.
    fn config_tree(&self, variables: &Variables<'_>) -> Arc<Tree> {
        match &variables.config {
            Config::Converted(settings) if settings.rule_set == self.id => Arc::clone(&settings.tree),
            Config::Converted(settings) => Arc::new(self.convert_tree(&settings.source)),
            Config::Value(value) => Arc::new(self.convert_tree(value)),
        }
    }

    /// Converts rule settings into a tree whose root, at index 0, is the
    /// settings.
    fn convert_tree(&self, config: &Value) -> Tree {
        let mut tree = Tree::default();
        tree.push_value(config, &self.names);
        tree
    }

    /// Returns the rule settings of `variables` as rules read them,
    /// converting them unless this rule set converted them already.
    fn config(&self, variables: &Variables<'_>) -> Arc<dyn Val> {
        match &variables.config {
            Config::Converted(settings) if settings.rule_set == self.id => Arc::clone(&settings.value),
            Config::Converted(settings) => Arc::from(values::convert_all(&settings.source, &self.names)),
            Config::Value(value) => Arc::from(values::convert_all(value, &self.names)),
        }
    }

    fn context(&self, message: Box<dyn Val>, report: Box<dyn Val>, config: Box<dyn Val>) -> Context<'_, '_> {
        let mut context = Context::with_env(Arc::clone(&self.env));
        context.add_variable_as_val("message", message);
        context.add_variable_as_val("report", report);
        context.add_variable_as_val("config", config);
        context
    }
}

/// The analysis and the report as CEL values, in that order.
type MessageAndReport = (Box<dyn Val>, Box<dyn Val>);

/// The interpreter's context for one message, built on first use.
pub(crate) type LazyContext<'a> = LazyCell<Context<'a, 'a>, Box<dyn FnOnce() -> Context<'a, 'a> + 'a>>;

/// Splits an expression into words (runs of letters, digits and `_`),
/// which include every field name it selects and every string key it
/// indexes by.
fn expression_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|word| !word.is_empty())
}

/// The variables rules read: the analysis and the report, converted when
/// the rules run, and the rule settings.
#[derive(Debug, Clone)]
pub struct Variables<'a> {
    message: Option<&'a phishloop_model::MessageAnalysis>,
    report: &'a phishloop_model::Report,
    config: Config,
}

/// The rule settings, as given or already converted by a rule set.
#[derive(Debug, Clone)]
enum Config {
    Value(Value),
    Converted(Settings),
}

/// The rule settings as the CEL value rules read as `config`, converted
/// once by [`RuleSet::settings`] and shared by every message.
#[derive(Debug, Clone)]
pub struct Settings {
    value: Arc<dyn Val>,
    /// The settings for direct evaluation, at index 0.
    tree: Arc<Tree>,
    /// The settings as given, for another rule set to convert.
    source: Value,
    /// [`RuleSet::id`] of the rule set whose field numbers the value has.
    rule_set: u64,
}

impl<'a> Variables<'a> {
    /// Collects analysis output and configuration for rules.
    ///
    /// # Errors
    ///
    /// Fails only if the configuration cannot be represented in CEL.
    pub fn new(
        message: Option<&'a phishloop_model::MessageAnalysis>,
        report: &'a phishloop_model::Report,
        config: &impl serde::Serialize,
    ) -> Result<Self, cel::SerializationError> {
        Ok(Variables::with_settings(message, report, cel::to_value(config)?))
    }

    /// Like [`Variables::new`], with the configuration already converted.
    pub fn with_settings(
        message: Option<&'a phishloop_model::MessageAnalysis>,
        report: &'a phishloop_model::Report,
        config: Value,
    ) -> Self {
        Variables { message, report, config: Config::Value(config) }
    }

    /// Like [`Variables::new`], with the configuration converted by
    /// [`RuleSet::settings`] once, outside the loop over messages.
    pub fn with_shared_settings(
        message: Option<&'a phishloop_model::MessageAnalysis>,
        report: &'a phishloop_model::Report,
        config: Settings,
    ) -> Self {
        Variables { message, report, config: Config::Converted(config) }
    }
}

/// Builds the CEL standard environment with the strings extension (`lowerAscii`,
/// `indexOf`, `replace`, `split` and others), and with `matches` backed by a cache of
/// compiled patterns. The `cel` crate's own `matches` compiles its pattern
/// on every call, which made one rule over all header fields cost more than
/// the whole analysis of the message.
pub(crate) fn environment() -> Env {
    let mut env = Env::stdlib();
    cel::extensions::strings(&mut env).expect("the strings extension adds names the standard library lacks");
    cel::add_overload!(&mut env, fn regex_matches: (CelString, CelString) -> Result<CelBool>, name = "matches", id = "matches")
        .expect("matches is not in the standard library without the regex feature");
    cel::add_member_overload!(&mut env, fn regex_matches: (CelString, CelString) -> Result<CelBool>, name = "matches")
        .expect("matches is not in the standard library without the regex feature");
    env
}

/// Maximum of compiled patterns kept per thread. Rules and configuration
/// contain a few dozen.
/// Patterns built at run time from message content could grow the cache
/// without end, so it is emptied when full.
const PATTERN_CACHE_LIMIT: usize = 1024;

thread_local! {
    /// The tree of the message whose rules run on this thread, kept so
    /// that the next message reuses its buffers.
    static TREE: RefCell<Tree> = RefCell::new(Tree::default());
    static PATTERNS: RefCell<FxHashMap<Box<str>, Result<Regex, String>>> = RefCell::new(FxHashMap::default());
}

fn regex_matches(text: &CelString<'_>, pattern: &CelString<'_>) -> Result<CelBool, ExecutionError> {
    regex_is_match(text.inner(), pattern.inner()).map(CelBool::from).map_err(|reason| ExecutionError::FunctionError {
        function: "matches".to_string(),
        message: format!("{:?} is not a valid regular expression: {reason}", pattern.inner()),
    })
}

/// Returns whether `pattern` matches somewhere in `text`, compiling the
/// pattern on its first use in this thread, or why the pattern is invalid.
pub(crate) fn regex_is_match(text: &str, pattern: &str) -> Result<bool, String> {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let compiled = match cache.get(pattern) {
            Some(compiled) => compiled,
            None => {
                if cache.len() >= PATTERN_CACHE_LIMIT {
                    cache.clear();
                }
                let compiled = Regex::new(pattern).map_err(|error| error.to_string());
                cache.entry(pattern.into()).or_insert(compiled)
            }
        };
        match compiled {
            Ok(regex) => Ok(regex.is_match(text)),
            Err(reason) => Err(reason.clone()),
        }
    })
}

#[cfg(test)]
fn matches(program: &Program, context: &Context<'_, '_>) -> bool {
    matches!(program.execute(context), Ok(Value::Bool(true)))
}

/// The strings a `locations` expression returns: one string, or a list of
/// strings and lists of strings, flattened in order. Duplicates and items
/// that are no strings are dropped, and at most [`MAX_LOCATIONS`] are kept.
fn strings(program: &Program, context: &Context<'_, '_>) -> Vec<String> {
    let mut output = Vec::new();
    if let Ok(value) = program.execute(context) {
        collect_strings(&value, &mut output);
    }
    output
}

fn collect_strings(value: &Value, output: &mut Vec<String>) {
    match value {
        Value::List(items) => {
            for item in items.iter() {
                collect_strings(item, output);
            }
        }
        Value::String(text) if output.len() < MAX_LOCATIONS && !output.contains(&**text) => {
            output.push(text.to_string());
        }
        _ => {}
    }
}

fn compile(
    env: &Env,
    collections: &mut Collections,
    names: &Names,
    path: &str,
    file_text: &str,
    source: RuleSource,
) -> Result<Rule, RuleError> {
    let invalid = |reason: String| RuleError::Invalid { path: path.to_string(), id: source.id.clone(), reason };
    if source.id.trim().is_empty() || !source.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid(format!("invalid id {:?}: use letters, digits, - and _", source.id)));
    }
    let weight = match (source.weight, source.severity) {
        (Some(weight), None) if (-1.0..=1.0).contains(&weight) => weight,
        (Some(weight), None) => return Err(invalid(format!("weight {weight} is outside -1 to 1"))),
        (None, Some(severity)) => severity.weight(),
        (Some(_), Some(_)) => return Err(invalid("give either weight or severity, not both".to_string())),
        (None, None) => return Err(invalid("a weight or a severity is required".to_string())),
    };
    let field = |name: &'static str, text: &toml::Spanned<String>| Field {
        path,
        id: &source.id,
        name,
        first_line: first_content_line(file_text, text.span().start),
    };
    let expression = compile_expression(env, field("expression", &source.expression), source.expression.get_ref())?;
    let conjuncts = Conjuncts::new(env, source.expression.get_ref(), &expression, collections, names)
        .map_err(|errors| invalid(format!("expression does not compile: {errors}")))?;
    let locations = match &source.locations {
        Some(text) => Some(compile_expression(env, field("locations", text), text.get_ref())?),
        None => None,
    };
    let direct_locations = locations.as_ref().and_then(|program| Strings::compile(program.expression(), names));
    let reads_header_fields = header_fields::reads_header_fields(expression.expression());
    Ok(Rule {
        id: source.id,
        description: source.description,
        category: source.category,
        weight,
        verdict: source.verdict,
        file: path.to_string(),
        examples: source.examples,
        expression,
        reads_header_fields,
        conjuncts,
        locations,
        direct_locations,
    })
}

/// Where an expression sits: its rule file, rule and field, and the file
/// line of the expression's first line.
struct Field<'a> {
    path: &'a str,
    id: &'a str,
    name: &'static str,
    first_line: usize,
}

fn compile_expression(env: &Env, field: Field<'_>, text: &str) -> Result<Program, RuleError> {
    env.compile(text).map_err(|errors| {
        let first = errors.errors.first();
        let line = first.map_or(1, |error| error.pos.0);
        RuleError::Compile {
            path: field.path.to_string(),
            file_line: field.first_line + usize::try_from(line.max(1) - 1).unwrap_or(0),
            id: field.id.to_string(),
            field: field.name,
            line,
            column: first.map_or(0, |error| error.pos.1),
            reason: first.map_or_else(|| errors.to_string(), |error| error.msg.clone()),
        }
    })
}

/// Returns the file line (from 1) of the first line of a TOML string whose
/// literal starts at byte `start`. A multi-line string (`'''` or `"""`)
/// drops a newline right after its opening quotes, so its content starts
/// on the next line.
fn first_content_line(file_text: &str, start: usize) -> usize {
    let before = file_text.get(..start).unwrap_or(file_text);
    let quote_line = before.matches('\n').count() + 1;
    let literal = file_text.get(start..).unwrap_or_default();
    let multi_line = literal.starts_with("'''") || literal.starts_with("\"\"\"");
    let opens_with_newline = literal.get(3..).is_some_and(|rest| rest.starts_with('\n') || rest.starts_with("\r\n"));
    if multi_line && opens_with_newline { quote_line + 1 } else { quote_line }
}

fn read_folder(folder: &Path) -> Result<Vec<(String, String)>, RuleError> {
    let read_error = |path: &Path, error: std::io::Error| RuleError::Read {
        path: path.display().to_string(),
        reason: error.to_string(),
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|error| read_error(folder, error))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|error| read_error(&path, error))?;
            Ok((path.display().to_string(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> Result<RuleSet, RuleError> {
        RuleSet::from_sources(&[("test.toml".to_string(), text.to_string())])
    }

    #[test]
    fn syntax_error_names_rule_and_position() {
        let text = "[[rule]]\nid = \"broken-rule\"\ndescription = \"x\"\ncategory = \"none\"\nweight = 0.5\nexpression = \"message.urls.exists(u, u.host == )\"\n";
        let error = set(text).expect_err("does not compile");
        let message = error.to_string();
        assert!(message.contains("broken-rule"), "{message}");
        assert!(message.contains("line 1, column"), "{message}");
        match error {
            RuleError::Compile { id, line, column, .. } => {
                assert_eq!(id, "broken-rule");
                assert_eq!(line, 1);
                assert!(column > 20, "column {column}");
            }
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn weight_or_severity_required() {
        let text = "[[rule]]\nid = \"r\"\ndescription = \"x\"\ncategory = \"none\"\nexpression = \"true\"\n";
        assert!(set(text).expect_err("no weight").to_string().contains("weight or a severity"));
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let rule =
            "[[rule]]\nid = \"same\"\ndescription = \"x\"\ncategory = \"none\"\nweight = 0.1\nexpression = \"true\"\n";
        let error = RuleSet::from_sources(&[
            ("a.toml".to_string(), rule.to_string()),
            ("b.toml".to_string(), rule.to_string()),
        ])
        .expect_err("duplicate");
        assert!(error.to_string().contains("defined twice"), "{error}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text =
            "[[rule]]\nid = \"r\"\ndescription = \"x\"\ncategory = \"none\"\nweight = 0.1\nexpresion = \"true\"\n";
        assert!(set(text).is_err());
    }

    /// Running the conjuncts cheapest first must match exactly when the
    /// whole expression is `true`, on the examples of every built-in rule.
    #[test]
    fn conjuncts_agree_with_whole_expression() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules compile");
        let settings = cel::to_value(crate::RuleSettings::default()).expect("converts");
        let mut matched = 0;
        for record in &example_records(&rules) {
            let variables = Variables::with_settings(record.message.as_ref(), &record.report, settings.clone());
            let (tree, indexes) = variables_tree(&rules, &variables);
            let roots = tree_roots(&tree, indexes);
            let sizes =
                rules.collections.sizes(&[("message", tree.root(indexes[0])), ("report", tree.root(indexes[1]))]);
            let (message, report) = rules.values(&variables).expect("converts");
            let config = rules.config(&variables).clone_as_boxed();
            let context = rules.context(message, report, config);
            let context: LazyContext<'_> = LazyCell::new(Box::new(move || context));
            // One set of results for all rules, as in `evaluate`, so that
            // conjuncts shared between rules are checked as well.
            let mut known = vec![None; rules.collections.conjunct_texts()];
            for rule in rules.rules() {
                let whole = matches(&rule.expression, &context);
                assert_eq!(rule.conjuncts.matches(&context, &roots, &sizes, &mut known), whole, "rule {}", rule.id);
                matched += usize::from(whole);
            }
        }
        assert!(matched > 50, "{matched} matches");
    }

    /// Direct evaluation must agree with the interpreter wherever it gives
    /// a result, on every conjunct of every built-in rule and example.
    #[test]
    fn direct_evaluation_agrees_with_interpreter() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules compile");
        let settings = cel::to_value(crate::RuleSettings::default()).expect("converts");
        let mut decided = 0;
        let mut matched = 0;
        for record in &example_records(&rules) {
            let context = interpreter_context(&rules, record, settings.clone());
            let variables = Variables::with_settings(record.message.as_ref(), &record.report, settings.clone());
            let (tree, indexes) = variables_tree(&rules, &variables);
            let roots = tree_roots(&tree, indexes);
            for rule in rules.rules() {
                for (direct, interpreted) in rule.conjuncts.compare_direct(&context, &roots) {
                    let Some(direct) = direct else {
                        continue;
                    };
                    assert_eq!(direct, interpreted, "rule {}", rule.id);
                    decided += 1;
                    matched += usize::from(direct);
                }
            }
        }
        assert!(decided > 1000, "{decided} conjuncts evaluated directly");
        assert!(matched > 50, "{matched} conjuncts true");
    }

    /// Analyses the example messages of every rule in `rules` with the
    /// default analysis configuration.
    fn example_records(rules: &RuleSet) -> Vec<phishloop_model::AnalysisRecord> {
        let analyzer =
            phishloop_analysis::Analyzer::new(phishloop_analysis::Config::default(), phishloop_analysis::Mode::Auto)
                .expect("default analysis configuration");
        let mut records = Vec::new();
        for example in rules.rules().iter().flat_map(|rule| &rule.examples) {
            records.extend(analyzer.analyze_input(Some("example"), example.message.as_bytes()).expect("analyses"));
        }
        records
    }

    /// Builds the interpreter's context for `record`, as rules see it.
    fn interpreter_context<'r>(
        rules: &'r RuleSet,
        record: &phishloop_model::AnalysisRecord,
        settings: Value,
    ) -> Context<'r, 'r> {
        let variables = Variables::with_settings(record.message.as_ref(), &record.report, settings);
        let (message, report) = rules.values(&variables).expect("converts");
        rules.context(message, report, rules.config(&variables).clone_as_boxed())
    }

    /// Builds the tree that direct evaluation reads for `variables`, with
    /// the analysis, the report and the rule settings as roots, and returns
    /// it with the index of each root in that order.
    fn variables_tree(rules: &RuleSet, variables: &Variables<'_>) -> (Tree, [u32; 3]) {
        let mut tree = Tree::default();
        let (message, report) = rules.push_variables(&mut tree, variables).expect("converts");
        let Config::Value(config) = &variables.config else {
            panic!("tests give the rule settings as a value");
        };
        let config = tree.push_value(config, &rules.names);
        (tree, [message, report, config])
    }

    fn tree_roots(tree: &Tree, [message, report, config]: [u32; 3]) -> Roots<'_> {
        Roots::new(tree.root(message), tree.root(report), tree.root(config))
    }

    /// Direct evaluation of `locations` must give the interpreter's strings
    /// wherever it gives a result, for every built-in rule on every
    /// example, whether the rule matches it or not.
    #[test]
    fn direct_locations_agree_with_interpreter() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules compile");
        let settings = cel::to_value(crate::RuleSettings::default()).expect("converts");
        let mut decided = 0;
        let mut nonempty = 0;
        for record in &example_records(&rules) {
            let context = interpreter_context(&rules, record, settings.clone());
            let variables = Variables::with_settings(record.message.as_ref(), &record.report, settings.clone());
            let (tree, indexes) = variables_tree(&rules, &variables);
            let roots = tree_roots(&tree, indexes);
            for rule in rules.rules() {
                let (Some(program), Some(direct)) = (&rule.locations, &rule.direct_locations) else {
                    continue;
                };
                let Some(direct) = direct.evaluate(&roots) else {
                    continue;
                };
                assert_eq!(direct, strings(program, &context), "rule {}", rule.id);
                decided += 1;
                nonempty += usize::from(!direct.is_empty());
            }
        }
        assert!(decided > 5000, "{decided} locations evaluated directly");
        assert!(nonempty > 100, "{nonempty} locations with strings");
    }

    /// Nearly every built-in `locations` expression is of a shape that
    /// direct evaluation covers.
    #[test]
    fn built_in_locations_compile_for_direct_evaluation() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules compile");
        let interpreted: Vec<&str> = rules
            .rules()
            .iter()
            .filter(|rule| rule.locations.is_some() && rule.direct_locations.is_none())
            .map(|rule| rule.id.as_str())
            .collect();
        assert!(interpreted.len() <= 2, "locations left to the interpreter: {interpreted:?}");
    }

    /// Analyses an example with its own analysis configuration and rule
    /// settings, as `phishloop rules test` does, and returns the hits of
    /// every rule.
    fn example_hits(rules: &RuleSet, example: &Example) -> Vec<Hit> {
        let analysis_config: phishloop_analysis::Config = match &example.analysis_config {
            Some(text) => toml::from_str(text).expect("valid analysis_config"),
            None => phishloop_analysis::Config::default(),
        };
        let analyzer = phishloop_analysis::Analyzer::new(analysis_config, phishloop_analysis::Mode::Auto)
            .expect("valid analysis configuration");
        let mut settings: crate::RuleSettings = match &example.rule_settings {
            Some(text) => toml::from_str(text).expect("valid rule_settings"),
            None => crate::RuleSettings::default(),
        };
        settings.normalize();
        let records = analyzer.analyze_input(Some("example"), example.message.as_bytes()).expect("analyses");
        let record = records.first().expect("the example gives a message");
        let variables = Variables::new(record.message.as_ref(), &record.report, &settings).expect("converts");
        rules.evaluate(&variables)
    }

    #[test]
    fn every_built_in_rule_has_locations() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules compile");
        let missing: Vec<&str> =
            rules.rules().iter().filter(|rule| rule.locations.is_none()).map(|rule| rule.id.as_str()).collect();
        assert_eq!(missing, Vec::<&str>::new(), "rules without a locations expression");
    }

    /// Every matching example must point to at least one part of the
    /// message, so that no evidence of a built-in rule comes without a
    /// location.
    #[test]
    fn matching_examples_yield_locations() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules compile");
        let mut checked = 0;
        for (index, rule) in rules.rules().iter().enumerate() {
            for (number, example) in rule.examples.iter().enumerate().filter(|(_, example)| example.matches) {
                let hits = example_hits(&rules, example);
                let hit = hits.iter().find(|hit| hit.rule == index);
                let hit = hit.unwrap_or_else(|| panic!("rule {} does not match its example {}", rule.id, number + 1));
                assert!(!hit.locations.is_empty(), "rule {} gives no location for its example {}", rule.id, number + 1);
                checked += 1;
            }
        }
        assert!(checked >= rules.rules().len(), "{checked} matching examples checked");
    }

    #[test]
    fn locations_flatten_nested_lists() {
        let text = "[[rule]]\nid = \"r\"\ndescription = \"x\"\ncategory = \"none\"\nweight = 0.1\nexpression = \"true\"\nlocations = \"['a', ['b', 'a'], [['c']], 1]\"\n";
        let rules = set(text).expect("compiles");
        let example = Example {
            matches: true,
            message: "From: a@example.net\nSubject: x\n\ntext\n".to_string(),
            analysis_config: None,
            rule_settings: None,
        };
        let hits = example_hits(&rules, &example);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].locations, vec!["a", "b", "c"]);
    }

    #[test]
    fn built_in_rules_compile() {
        let rules = RuleSet::load(true, &[]).expect("built-in rules compile");
        assert!(rules.rules().len() >= 30, "{} rules", rules.rules().len());
    }
}
