//! A rule's expression split into its top-level conjuncts, evaluated
//! cheapest first.
//!
//! In CEL, `a && b` is `true` only when both sides are `true`: `false` on
//! either side gives `false`, and an error or a non-boolean on either side
//! gives `false` or an error. A rule matches only on `true`, so it matches
//! exactly when every conjunct is `true`, whatever the order of evaluation.
//! That allows two shortcuts, both decided per message:
//!
//! - Conjuncts without a macro run first, then `exists` over the smallest
//!   collections, so that a cheap `false` spares the costly conjuncts.
//! - `exists` over an empty list or map is `false`, so a rule with such a
//!   conjunct is skipped without running the interpreter.
//!
//! A conjunct of the shapes [`Node`] covers is evaluated directly on the
//! values first, and by the interpreter only where that leaves it open.

use cel::common::ast::{Expr, LiteralValue, operators};
use cel::{Env, IdedExpr, ParseErrors, Program, Value};

use crate::direct::{self, Node, Roots};
use crate::rules::LazyContext;
use crate::tree;
use crate::values::{NO_NAME, Names};
use rustc_hash::FxHashMap;

/// The conjuncts of one expression.
#[derive(Debug)]
pub(crate) struct Conjuncts {
    parts: Vec<Part>,
}

#[derive(Debug)]
struct Part {
    program: Program,
    cost: Cost,
    /// The conjunct for direct evaluation, unless no part of it is
    /// supported.
    direct: Option<Node>,
    /// The number of the conjunct's text in [`Collections::texts`].
    text: usize,
}

/// The cost of running a conjunct, as far as the expression shows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cost {
    /// No macro: field reads, comparisons and function calls only.
    Flat,
    /// `VARIABLE.PATH.exists(...)`: one step per item of the collection at
    /// the path, numbered in [`Collections`].
    Exists(usize),
    /// Any other expression with a macro.
    Unknown,
}

/// The collections that `exists` conjuncts iterate, each a variable
/// (`message` or `report`) and a path of fields below it.
#[derive(Debug, Default)]
pub(crate) struct Collections {
    paths: Vec<(String, Vec<String>)>,
    /// The text of every conjunct of the rule set, numbered, so that
    /// conjuncts written alike in several rules are evaluated once per
    /// message.
    texts: FxHashMap<String, usize>,
}

impl Collections {
    /// Returns the size of each collection in `variables` (by variable
    /// name), or `None` where the path does not lead to a list or a map.
    pub(crate) fn sizes(&self, variables: &[(&str, tree::Value<'_>)]) -> Vec<Option<usize>> {
        self.paths
            .iter()
            .map(|(variable, path)| {
                let (_, root) = variables.iter().find(|(name, _)| name == variable)?;
                size_at(*root, path)
            })
            .collect()
    }

    /// Returns the number of distinct conjunct texts, the length of the
    /// results that [`Conjuncts::matches`] shares between rules.
    pub(crate) fn conjunct_texts(&self) -> usize {
        self.texts.len()
    }

    fn text_number(&mut self, text: &str) -> usize {
        let next = self.texts.len();
        *self.texts.entry(text.to_string()).or_insert(next)
    }

    fn index_of(&mut self, variable: &str, path: &[&str]) -> usize {
        let found = self.paths.iter().position(|(name, known)| name == variable && known.iter().eq(path.iter()));
        found.unwrap_or_else(|| {
            self.paths.push((variable.to_string(), path.iter().map(|field| field.to_string()).collect()));
            self.paths.len() - 1
        })
    }
}

impl Conjuncts {
    /// Splits `text`, compiled as `whole`, into its top-level conjuncts.
    /// An expression that is no conjunction, or whose split does not match
    /// its syntax tree, stays one part. `names` numbers the field names for
    /// direct evaluation.
    ///
    /// # Errors
    ///
    /// Fails only where `text` itself does not compile.
    pub(crate) fn new(
        env: &Env,
        text: &str,
        whole: &Program,
        collections: &mut Collections,
        names: &Names,
    ) -> Result<Conjuncts, ParseErrors> {
        let pieces = split_text(text);
        let leaves = count_conjuncts(whole.expression());
        let programs: Option<Vec<Program>> = if pieces.len() > 1 && pieces.len() == leaves {
            pieces.iter().map(|piece| env.compile(piece).ok()).collect()
        } else {
            None
        };
        let (programs, texts) = match programs {
            Some(programs) => (programs, pieces),
            None => (vec![env.compile(text)?], vec![text.trim()]),
        };
        let parts = programs
            .into_iter()
            .zip(texts)
            .map(|(program, text)| {
                let cost = cost_of(program.expression(), collections);
                let direct = match Node::compile(program.expression(), names) {
                    Node::Unsupported => None,
                    node => Some(node),
                };
                Part { program, cost, direct, text: collections.text_number(text) }
            })
            .collect();
        Ok(Conjuncts { parts })
    }

    /// Returns whether every conjunct is `true`, given the sizes of
    /// [`Collections`] in this message and the variables of `context` as
    /// `roots`. `known` contains the result of each conjunct text evaluated
    /// for this message so far, indexed by its number in [`Collections`],
    /// and gets the results of this call.
    pub(crate) fn matches(
        &self,
        context: &LazyContext<'_>,
        roots: &Roots<'_>,
        sizes: &[Option<usize>],
        known: &mut [Option<bool>],
    ) -> bool {
        // The rank and index of each part, on the stack for most rules.
        const INLINE: usize = 16;
        let mut inline = [(0usize, 0usize); INLINE];
        let mut heap = Vec::new();
        let order: &mut [(usize, usize)] = if self.parts.len() <= INLINE {
            &mut inline[..self.parts.len()]
        } else {
            heap.resize(self.parts.len(), (0, 0));
            &mut heap
        };
        for (slot, (index, part)) in order.iter_mut().zip(self.parts.iter().enumerate()) {
            let rank = match part.cost {
                Cost::Flat => 0,
                Cost::Exists(collection) => match sizes[collection] {
                    Some(0) => return false,
                    Some(size) => 1 + size,
                    None => usize::MAX,
                },
                Cost::Unknown => usize::MAX,
            };
            *slot = (rank, index);
        }
        // A stable sort, so parts of equal rank keep their written order.
        order.sort_by_key(|(rank, _)| *rank);
        order.iter().all(|&(_, index)| {
            let part = &self.parts[index];
            *known[part.text].get_or_insert_with(|| part.matches(context, roots))
        })
    }

    /// Returns the result of each conjunct's direct evaluation and of the
    /// interpreter, for tests that compare the two.
    #[cfg(test)]
    pub(crate) fn compare_direct(
        &self,
        context: &cel::Context<'_, '_>,
        roots: &Roots<'_>,
    ) -> Vec<(Option<bool>, bool)> {
        self.parts
            .iter()
            .filter_map(|part| {
                let direct = part.direct.as_ref()?.evaluate(roots);
                Some((direct, matches!(part.program.execute(context), Ok(Value::Bool(true)))))
            })
            .collect()
    }
}

impl Part {
    fn matches(&self, context: &LazyContext<'_>, roots: &Roots<'_>) -> bool {
        match self.direct.as_ref().and_then(|node| node.evaluate(roots)) {
            Some(result) => result,
            None => matches!(self.program.execute(context), Ok(Value::Bool(true))),
        }
    }
}

/// Splits at each `&&` outside brackets and string literals. Returns the
/// whole text as one piece when a `||` or a `?` sits at the top level,
/// because both bind looser than `&&`.
fn split_text(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut pieces = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let mut index = 0;

    while index < bytes.len() {
        let rest = &bytes[index..];
        if let Some(quote) = [&b"'''"[..], b"\"\"\"", b"'", b"\""].into_iter().find(|quote| rest.starts_with(quote)) {
            index = end_of_string(bytes, index + quote.len(), quote, is_raw(bytes, index));
            continue;
        }
        match bytes[index] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'&' if depth == 0 && rest.starts_with(b"&&") => {
                pieces.push(text[start..index].trim());
                start = index + 2;
                index += 2;
                continue;
            }
            b'|' | b'?' if depth == 0 => return vec![text.trim()],
            _ => {}
        }
        index += 1;
    }
    pieces.push(text[start..].trim());
    pieces
}

/// Returns whether the string literal whose quote is at `quote` is raw
/// (`r'...'`, `rb'...'`, `br'...'`), where a backslash escapes nothing.
fn is_raw(bytes: &[u8], quote: usize) -> bool {
    let prefix_start = bytes[..quote]
        .iter()
        .rposition(|byte| !matches!(byte, b'r' | b'R' | b'b' | b'B'))
        .map_or(0, |position| position + 1);
    let prefix = &bytes[prefix_start..quote];
    let after_identifier =
        prefix_start > 0 && (bytes[prefix_start - 1] == b'_' || bytes[prefix_start - 1].is_ascii_alphanumeric());
    prefix.len() <= 2 && !after_identifier && prefix.iter().any(|byte| matches!(byte, b'r' | b'R'))
}

/// Returns the index just past the closing `quote` of a string literal
/// whose content starts at `index`, skipping backslash escapes unless the
/// literal is `raw`.
fn end_of_string(bytes: &[u8], mut index: usize, quote: &[u8], raw: bool) -> usize {
    while index < bytes.len() {
        if bytes[index] == b'\\' && !raw {
            index += 2;
            continue;
        }
        if bytes[index..].starts_with(quote) {
            return index + quote.len();
        }
        index += 1;
    }
    bytes.len()
}

/// Counts the operands of the `&&` chain at the root of `expression`.
fn count_conjuncts(expression: &IdedExpr) -> usize {
    match &expression.expr {
        Expr::Call(call) if call.func_name == operators::LOGICAL_AND && call.target.is_none() => {
            call.args.iter().map(count_conjuncts).sum()
        }
        _ => 1,
    }
}

fn cost_of(expression: &IdedExpr, collections: &mut Collections) -> Cost {
    if !has_macro(expression) {
        return Cost::Flat;
    }
    let Expr::Comprehension(comprehension) = &expression.expr else {
        return Cost::Unknown;
    };
    let accumulator = comprehension.accu_var.as_str();
    let is_accumulator = |expression: &IdedExpr| matches!(&expression.expr, Expr::Ident(name) if name == accumulator);
    let starts_false =
        matches!(&comprehension.accu_init.expr, Expr::Literal(LiteralValue::Boolean(value)) if !*value.inner());
    let folds_with_or = matches!(&comprehension.loop_step.expr, Expr::Call(call)
        if call.func_name == operators::LOGICAL_OR && call.target.is_none() && call.args.first().is_some_and(is_accumulator));
    let is_exists =
        starts_false && folds_with_or && is_accumulator(&comprehension.result) && comprehension.iter_var2.is_none();
    match (is_exists, select_path(&comprehension.iter_range)) {
        (true, Some((variable, path))) if variable == "message" || variable == "report" => {
            Cost::Exists(collections.index_of(variable, &path))
        }
        _ => Cost::Unknown,
    }
}

/// Returns whether `expression` contains a comprehension (a macro such as
/// `exists`, `all`, `filter` or `map`).
fn has_macro(expression: &IdedExpr) -> bool {
    match &expression.expr {
        Expr::Comprehension(_) => true,
        Expr::Call(call) => call.target.as_deref().is_some_and(has_macro) || call.args.iter().any(has_macro),
        Expr::Select(select) => has_macro(&select.operand),
        Expr::List(list) => list.elements.iter().any(has_macro),
        // Map and struct literals do not occur in rule conjuncts often
        // enough to inspect; counting them as macros only costs ordering.
        Expr::Map(_) | Expr::Struct(_) => true,
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => false,
    }
}

/// Splits `variable.field.field` into the variable and the fields.
fn select_path(expression: &IdedExpr) -> Option<(&str, Vec<&str>)> {
    let mut fields = Vec::new();
    let mut current = expression;
    loop {
        match &current.expr {
            Expr::Ident(name) => {
                fields.reverse();
                return Some((name.as_str(), fields));
            }
            Expr::Select(select) if !select.test => {
                fields.push(select.field.as_str());
                current = &select.operand;
            }
            _ => return None,
        }
    }
}

/// Returns the number of items of the list or map at `path` below `root`,
/// or `None` when a field is missing or the value is of another type.
fn size_at(root: tree::Value<'_>, path: &[String]) -> Option<usize> {
    let mut value = root;
    for field in path {
        value = direct::select(value, NO_NAME, field)?;
    }
    match value {
        tree::Value::Node(node) => node.len(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_text_at_top_level_and() {
        let cases: &[(&str, &[&str])] = &[
            ("a && b", &["a", "b"]),
            ("a.exists(x, x && y) && 'p && q' && c", &["a.exists(x, x && y)", "'p && q'", "c"]),
            ("a && b || c", &["a && b || c"]),
            ("a && b ? c : d", &["a && b ? c : d"]),
            ("(a || b) && c", &["(a || b)", "c"]),
            ("x.matches(r'\\\\d&&') && y", &["x.matches(r'\\\\d&&')", "y"]),
            ("'''a && b''' == z", &["'''a && b''' == z"]),
            ("x == r'\\' && y", &["x == r'\\'", "y"]),
            ("x == '\\' && y' && z", &["x == '\\' && y'", "z"]),
        ];
        for (text, expected) in cases {
            assert_eq!(split_text(text), *expected, "{text}");
        }
    }

    #[test]
    fn exists_over_empty_list_skips_rule() {
        let env = Env::stdlib();
        let text = "message.urls.exists(u, u == 'a') && message.flag";
        let whole = env.compile(text).expect("compiles");
        let mut collections = Collections::default();
        let conjuncts = Conjuncts::new(&env, text, &whole, &mut collections, &Names::default()).expect("splits");
        assert_eq!(conjuncts.parts.len(), 2);
        assert_eq!(conjuncts.parts[0].cost, Cost::Exists(0));
        assert_eq!(conjuncts.parts[1].cost, Cost::Flat);

        let context: LazyContext<'_> = std::cell::LazyCell::new(Box::new(cel::Context::default));
        let roots = Roots::new(tree::Value::Null, tree::Value::Null, tree::Value::Null);
        let mut known = vec![None; collections.conjunct_texts()];
        assert!(!conjuncts.matches(&context, &roots, &[Some(0)], &mut known), "an empty collection cannot match");
    }
}
