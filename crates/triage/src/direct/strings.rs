//! Direct evaluation of `locations` expressions: the strings a rule points
//! to, collected as [`crate::rules`] collects them from the interpreter's
//! result.
//!
//! The interpreter builds each `filter` and `map` result as a new list,
//! copies every item it visits and, for each map it selects a field from,
//! builds the `cel` crate's own map (see [`crate::values::SharedMap`]).
//! [`Strings`] covers the shapes of the built-in rules instead: string
//! values, list literals, `+` of lists, `?:` with list branches, and `map`
//! and `filter` over lists, nested and chained as `filter(...).map(...)`.
//! Their strings go straight into the output.
//!
//! An expression gives a result only when every part of it evaluates
//! directly. The interpreter fails the whole expression on any error, so
//! anything left open (an unsupported part, a missing field, a value of
//! another type) makes [`Strings::evaluate`] return `None`, and the
//! caller runs the interpreter instead.

use cel::IdedExpr;
use cel::common::ast::{Expr, LiteralValue, operators};

use super::{Node, Output, Roots, Scope, list_items, literal_value};
use crate::tree::Value;
use crate::values::Names;

/// Maximum number of strings kept per rule, for direct evaluation and for
/// the interpreter's result alike.
pub(crate) const MAX_LOCATIONS: usize = 10;

/// A `locations` expression compiled for direct evaluation.
#[derive(Debug)]
pub(crate) enum Strings {
    /// A string, a list of strings (at any depth) or a value of another
    /// type, which gives no string.
    Value(Node),
    /// A list literal.
    List(Vec<Strings>),
    /// `left + right`, where both must be lists.
    Concat(Box<Strings>, Box<Strings>),
    /// `condition ? then : otherwise`.
    Conditional(Node, Box<Strings>, Box<Strings>),
    /// `range.map(variable, body)`, `range.map(variable, predicate, body)`
    /// or `range.filter(variable, predicate)`, whose body is the variable.
    Comprehension(Box<Comprehension>),
}

#[derive(Debug)]
pub(crate) struct Comprehension {
    range: Items,
    /// The number of the variable's name in [`Names`].
    variable: u32,
    predicate: Option<Node>,
    body: Strings,
}

/// A list whose items a comprehension visits.
#[derive(Debug)]
enum Items {
    /// A list value, such as `message.urls`.
    Value(Node),
    /// A list literal of literals.
    Literals(Vec<LiteralValue>),
    /// `range.filter(variable, predicate)`.
    Filter { range: Box<Items>, variable: u32, predicate: Node },
}

/// Whether an evaluated [`Strings`] was a list, which `+` of lists needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    List,
    Other,
}

/// The parts of a `map` or `filter` macro, as the `cel` crate (0.15)
/// expands them: the accumulator starts as `[]`, the loop condition is
/// `true`, and each step appends `[body]`, guarded by the predicate when
/// there is one.
pub(super) struct Macro<'e> {
    pub(super) range: &'e IdedExpr,
    pub(super) variable: &'e str,
    pub(super) predicate: Option<&'e IdedExpr>,
    pub(super) body: &'e IdedExpr,
}

impl Strings {
    /// Compiles `expression`, or returns `None` when some part of it cannot
    /// be evaluated directly.
    pub(crate) fn compile(expression: &IdedExpr, names: &Names) -> Option<Strings> {
        if let Some(parts) = macro_parts(expression) {
            let predicate = match parts.predicate {
                Some(predicate) => Some(supported(predicate, names)?),
                None => None,
            };
            return Some(Strings::Comprehension(Box::new(Comprehension {
                range: Items::compile(parts.range, names)?,
                variable: names.number(parts.variable)?,
                predicate,
                body: Strings::compile(parts.body, names)?,
            })));
        }
        match &expression.expr {
            Expr::List(list) if list.optional_indices.is_empty() => {
                let elements = list.elements.iter().map(|element| Strings::compile(element, names));
                Some(Strings::List(elements.collect::<Option<Vec<_>>>()?))
            }
            Expr::Call(call) if call.target.is_none() => match (call.func_name.as_str(), call.args.as_slice()) {
                (operators::ADD, [left, right]) => {
                    let (left, right) = (Strings::compile(left, names)?, Strings::compile(right, names)?);
                    if left.is_list() || right.is_list() {
                        Some(Strings::Concat(Box::new(left), Box::new(right)))
                    } else {
                        supported(expression, names).map(Strings::Value)
                    }
                }
                (operators::CONDITIONAL, [condition, then, otherwise]) => {
                    let (then, otherwise) = (Strings::compile(then, names)?, Strings::compile(otherwise, names)?);
                    if then.is_list() || otherwise.is_list() {
                        Some(Strings::Conditional(supported(condition, names)?, Box::new(then), Box::new(otherwise)))
                    } else {
                        supported(expression, names).map(Strings::Value)
                    }
                }
                _ => supported(expression, names).map(Strings::Value),
            },
            _ => supported(expression, names).map(Strings::Value),
        }
    }

    /// Returns whether the expression always gives a list, when it gives
    /// a value at all.
    fn is_list(&self) -> bool {
        match self {
            Strings::List(_) | Strings::Concat(..) | Strings::Comprehension(_) => true,
            Strings::Conditional(_, then, otherwise) => then.is_list() && otherwise.is_list(),
            Strings::Value(_) => false,
        }
    }

    /// Returns the strings of the expression's result in order, flattened,
    /// without duplicates and cut at [`MAX_LOCATIONS`], or `None` where the
    /// interpreter must decide.
    pub(crate) fn evaluate(&self, roots: &Roots<'_>) -> Option<Vec<String>> {
        let mut output = Vec::new();
        let mut scope = Vec::new();
        self.emit(roots, &mut scope, &mut output)?;
        Some(output)
    }

    fn emit<'a>(&'a self, roots: &Roots<'a>, scope: &mut Scope<'a>, output: &mut Vec<String>) -> Option<Shape> {
        match self {
            Strings::Value(node) => match node.value(roots, scope)? {
                Output::Text(text) => {
                    push(output, &text);
                    Some(Shape::Other)
                }
                Output::Value(value) => Some(emit_value(value, output)),
            },
            Strings::List(elements) => {
                for element in elements {
                    element.emit(roots, scope, output)?;
                }
                Some(Shape::List)
            }
            Strings::Concat(left, right) => {
                let shapes = (left.emit(roots, scope, output)?, right.emit(roots, scope, output)?);
                (shapes == (Shape::List, Shape::List)).then_some(Shape::List)
            }
            Strings::Conditional(condition, then, otherwise) => {
                if condition.test(roots, scope)? {
                    then.emit(roots, scope, output)
                } else {
                    otherwise.emit(roots, scope, output)
                }
            }
            Strings::Comprehension(comprehension) => {
                let Comprehension { range, variable, predicate, body } = &**comprehension;
                for item in range.items(roots, scope)? {
                    scope.push((*variable, item));
                    let emitted = match predicate {
                        Some(predicate) => holds(predicate, roots, scope).and_then(|holds| {
                            if holds { body.emit(roots, scope, output).map(|_| ()) } else { Some(()) }
                        }),
                        None => body.emit(roots, scope, output).map(|_| ()),
                    };
                    scope.pop();
                    emitted?;
                }
                Some(Shape::List)
            }
        }
    }
}

impl Items {
    fn compile(expression: &IdedExpr, names: &Names) -> Option<Items> {
        if let Some(parts) = macro_parts(expression) {
            let is_variable = matches!(&parts.body.expr, Expr::Ident(name) if name == parts.variable);
            return match parts.predicate {
                Some(predicate) if is_variable => Some(Items::Filter {
                    range: Box::new(Items::compile(parts.range, names)?),
                    variable: names.number(parts.variable)?,
                    predicate: supported(predicate, names)?,
                }),
                _ => None,
            };
        }
        match supported(expression, names)? {
            Node::List(literals) => Some(Items::Literals(literals)),
            node => Some(Items::Value(node)),
        }
    }

    /// Returns the items in order, or `None` where the range is no list or
    /// a predicate is left open.
    fn items<'a>(&'a self, roots: &Roots<'a>, scope: &mut Scope<'a>) -> Option<Vec<Value<'a>>> {
        match self {
            Items::Value(node) => {
                let Output::Value(value) = node.value(roots, scope)? else {
                    return None;
                };
                Some(list_items(value)?.collect())
            }
            Items::Literals(literals) => Some(literals.iter().map(literal_value).collect()),
            Items::Filter { range, variable, predicate } => {
                let mut kept = Vec::new();
                for item in range.items(roots, scope)? {
                    scope.push((*variable, item));
                    let result = holds(predicate, roots, scope);
                    scope.pop();
                    if result? {
                        kept.push(item);
                    }
                }
                Some(kept)
            }
        }
    }
}

/// Splits a `map` or `filter` macro into its parts, or returns `None` for
/// any other expression.
pub(super) fn macro_parts(expression: &IdedExpr) -> Option<Macro<'_>> {
    let Expr::Comprehension(comprehension) = &expression.expr else {
        return None;
    };
    let accumulator = comprehension.accu_var.as_str();
    let is_accumulator = |expression: &IdedExpr| matches!(&expression.expr, Expr::Ident(name) if name == accumulator);
    let starts_empty = matches!(&comprehension.accu_init.expr, Expr::List(list) if list.elements.is_empty());
    let always_continues =
        matches!(&comprehension.loop_cond.expr, Expr::Literal(LiteralValue::Boolean(value)) if *value.inner());
    if !starts_empty || !always_continues || !is_accumulator(&comprehension.result) || comprehension.iter_var2.is_some()
    {
        return None;
    }
    let (predicate, body) = match &comprehension.loop_step.expr {
        Expr::Call(call) if call.func_name == operators::CONDITIONAL && call.target.is_none() => {
            match call.args.as_slice() {
                [predicate, step, otherwise] if is_accumulator(otherwise) => {
                    (Some(predicate), appended_item(step, accumulator)?)
                }
                _ => return None,
            }
        }
        _ => (None, appended_item(&comprehension.loop_step, accumulator)?),
    };
    Some(Macro { range: &comprehension.iter_range, variable: &comprehension.iter_var, predicate, body })
}

/// Returns `body` of a step `accumulator + [body]`.
fn appended_item<'e>(step: &'e IdedExpr, accumulator: &str) -> Option<&'e IdedExpr> {
    let Expr::Call(call) = &step.expr else {
        return None;
    };
    let [first, item] = call.args.as_slice() else {
        return None;
    };
    let adds_to_accumulator = matches!(&first.expr, Expr::Ident(name) if name == accumulator);
    if call.func_name != operators::ADD || call.target.is_some() || !adds_to_accumulator {
        return None;
    }
    match &item.expr {
        Expr::List(list) if list.elements.len() == 1 && list.optional_indices.is_empty() => Some(&list.elements[0]),
        _ => None,
    }
}

/// Compiles `expression` as a [`Node`], unless some part of it is
/// unsupported.
fn supported(expression: &IdedExpr, names: &Names) -> Option<Node> {
    let node = Node::compile(expression, names);
    node.is_supported().then_some(node)
}

/// Evaluates a predicate, which must give a boolean, as the interpreter's
/// guarded step requires.
fn holds<'a>(predicate: &'a Node, roots: &Roots<'a>, scope: &mut Scope<'a>) -> Option<bool> {
    predicate.test(roots, scope)
}

/// Emits the strings of `value`: itself when it is a string, its items at
/// any depth when it is a list, nothing otherwise.
fn emit_value(value: Value<'_>, output: &mut Vec<String>) -> Shape {
    if let Value::Text(text) = value {
        push(output, text);
        return Shape::Other;
    }
    match list_items(value) {
        Some(items) => {
            for item in items {
                emit_value(item, output);
            }
            Shape::List
        }
        None => Shape::Other,
    }
}

/// Adds `text` unless it is there already or the output is full.
fn push(output: &mut Vec<String>, text: &str) {
    if output.len() < MAX_LOCATIONS && !output.iter().any(|known| known == text) {
        output.push(text.to_string());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use cel::{Context, Value};

    use super::*;

    /// Returns the strings of `expression` over `message` directly and
    /// through the interpreter, flattened as rules flatten them (`None`
    /// when the interpreter fails). As in rules, the interpreter reads the
    /// serializer's shared maps and direct evaluation a tree.
    fn both(expression: &str, message: &serde_json::Value) -> (Option<Vec<String>>, Option<Vec<String>>) {
        let env = Arc::new(crate::rules::environment());
        let program = env.compile(expression).expect("compiles");
        let mut names = Names::default();
        let text = format!("{expression} {message} config simulation_headers");
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            names.insert(word);
        }
        let config = serde_json::json!({"simulation_headers": ["x-phishtest", "x-gophish-contact"]});
        let mut context = Context::with_env(env);
        context.add_variable_as_val("message", crate::values::serialize(message, &names).expect("serializes"));
        context.add_variable_as_val("config", crate::values::serialize(&config, &names).expect("serializes"));
        let interpreted = program.execute(&context).ok().map(|value| {
            let mut output = Vec::new();
            flatten(&value, &mut output);
            output
        });
        let compiled = Strings::compile(program.expression(), &names).expect("supported shape");
        let mut tree = crate::tree::Tree::default();
        let message = tree.push(message, &names).expect("serializes");
        let config = tree.push(&config, &names).expect("serializes");
        let roots = Roots::new(tree.root(message), crate::tree::Value::Null, tree.root(config));
        (compiled.evaluate(&roots), interpreted)
    }

    /// Flattens as `rules::collect_strings` does.
    fn flatten(value: &Value, output: &mut Vec<String>) {
        match value {
            Value::List(items) => items.iter().for_each(|item| flatten(item, output)),
            Value::String(text) => push(output, text),
            _ => {}
        }
    }

    fn message() -> serde_json::Value {
        serde_json::json!({
            "urls": [
                {"effective": "https://a.example/x", "shortener": true, "host": "a.example", "sources": [{"kind": "text"}]},
                {"effective": "https://b.example/y", "shortener": false, "host": null, "sources": []},
                {"effective": "https://a.example/x", "shortener": true, "host": "a.example", "sources": [{"kind": "qr_code"}]},
            ],
            "headers": {
                "from": [{"address": "a@example.net", "name": null}, {"address": null, "name": "B"}],
                "reply_to": [],
                "names": ["from", "x-phishtest"],
            },
            "attachments": [{"filename": null, "part": "1.2", "flags": {"macros": true}}],
            "authentication": {"headers": [
                {"header": "Authentication-Results", "trusted": true, "results": [
                    {"method": "dmarc", "result": "fail", "properties": {"header.from": "example.net"}},
                    {"method": "spf", "result": "pass", "properties": {}},
                ]},
            ]},
            "count": 3,
            "many": (0..15).map(|index| format!("item {index}")).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn locations_agree_with_interpreter() {
        let cases = [
            "message.urls.filter(u, u.shortener).map(u, u.effective)",
            "message.urls.map(u, u.effective)",
            "message.urls.map(u, u.shortener, u.effective)",
            "message.urls.filter(u, u.sources.exists(s, s.kind == 'qr_code')).map(u, 'QR code ' + u.effective)",
            "message.headers.from.filter(m, m.address != null).map(m, 'From: ' + m.address)",
            "message.headers.reply_to.map(m, m.address)",
            "[message.headers.from[0].address]",
            "[message.headers.from[1].address]",
            "message.attachments.map(a, a.filename != null ? a.filename : a.part)",
            "message.authentication.headers.filter(h, h.trusted).map(h, h.results.filter(r, r.method == 'dmarc')\
             .map(r, h.header + ': dmarc=' + r.result + ('header.from' in r.properties ? ' from=' + r.properties['header.from'] : '')))",
            "message.urls.filter(u, u.shortener).map(u, u.effective) + message.headers.names",
            "size(message.urls) > 1 ? message.urls.map(u, u.effective) : ['none']",
            "size(message.urls) > 5 ? message.urls.map(u, u.effective) : ['none']",
            "config.simulation_headers.filter(h, h in message.headers.names)",
            "['x-phishtest', 'x-other'].filter(n, n in message.headers.names).map(n, 'header ' + n)",
            "message.urls.filter(u, u.shortener)",
            "message.urls.map(u, [u.effective, [u.host]])",
            "message.many",
            "message.many.map(m, m + '!')",
            "message.urls[0].effective",
            "'a' + 'b'",
            "message.count",
            "[]",
        ];
        for expression in cases {
            let (direct, interpreted) = both(expression, &message());
            assert!(direct.is_some(), "{expression}: not evaluated directly");
            assert_eq!(direct, interpreted, "{expression}");
        }
    }

    /// Where the interpreter fails or the values are of another type, the
    /// direct result is left open, so that the interpreter decides.
    #[test]
    fn locations_left_open_where_interpreter_fails() {
        let cases = [
            "message.headers.from.map(m, 'From: ' + m.address)",
            "message.urls.filter(u, u.missing).map(u, u.effective)",
            "message.urls.filter(u, u.host).map(u, u.effective)",
            "message.urls.map(u, u.host.startsWith('a') ? u.effective : 'x')",
            "message.missing.map(u, u.effective)",
            "message.count.map(u, u)",
            "message.headers.map(k, k)",
            "message.urls.map(u, u.effective) + 'text'",
            "message.urls.map(u, u.effective) + message.count",
            "[message.headers.from[5].address]",
            "[message.headers.from[-1].address]",
            "message.authentication.headers.map(h, h.results.map(r, r.properties['header.d']))",
            "message.count > 1 ? message.urls.map(u, u.effective) : 'none'",
        ];
        for expression in cases {
            let (direct, interpreted) = both(expression, &message());
            if let Some(direct) = &direct {
                assert_eq!(Some(direct), interpreted.as_ref(), "{expression}");
            }
            if interpreted.is_none() {
                assert_eq!(direct, None, "{expression}: the interpreter fails");
            }
        }
    }

    #[test]
    fn locations_keep_at_most_ten_distinct_strings() {
        let (direct, interpreted) = both("message.many + message.many.map(m, m)", &message());
        let direct = direct.expect("evaluated directly");
        assert_eq!(direct.len(), MAX_LOCATIONS);
        assert_eq!(direct[0], "item 0");
        assert_eq!(Some(direct), interpreted);
    }

    #[test]
    fn unsupported_shapes_do_not_compile() {
        let env = crate::rules::environment();
        let names = Names::default();
        for expression in
            ["message.urls.map(u, u.effective).filter(e, e != '')", "message.names.join(', ')", "[1, 2].map(x, x * 2)"]
        {
            let program = env.compile(expression).expect("compiles");
            assert!(Strings::compile(program.expression(), &names).is_none(), "{expression}");
        }
    }
}
