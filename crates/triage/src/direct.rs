//! Direct evaluation of the expression shapes most rules are made of, on
//! the same CEL values the interpreter reads, without the interpreter.
//!
//! The `cel` crate (0.15) spends much of a rule's time on bookkeeping per
//! item of `exists`: each item is bound in a new string-keyed scope, and
//! each field access joins its dotted name and looks it up scope by scope.
//! Rules mostly test fields of each URL, domain, attachment or cue, so
//! [`Node`] covers that subset: field paths, literals, `!`, `&&`, `||`,
//! `==`, `!=`, `in`, the string methods `startsWith`, `contains`,
//! `replace` and `matches`, and `exists` and `all` over lists.
//!
//! Methods are those of the rules' environment (see
//! [`crate::rules::environment`]): `replace` of the strings extension and
//! `matches` with the cached patterns of [`regex_is_match`].
//!
//! A node gives a result only where the interpreter would give the same
//! value without an error. Anything else (an unsupported expression, a
//! missing field, a value of another type) yields `None`, and the caller
//! runs the interpreter instead, so a rule's outcome never depends on
//! which of the two ran.

use cel::common::ast::{Expr, LiteralValue, operators};
use cel::common::types::{CelBool, CelString};
use cel::common::value::{BuiltinRef, CowVal, Val};
use cel::{Context, IdedExpr};

use crate::rules::regex_is_match;

/// An expression compiled for direct evaluation.
#[derive(Debug)]
pub(crate) enum Node {
    Literal(LiteralValue),
    /// A variable followed by field selections: `u.flags.macros`.
    Path {
        variable: String,
        fields: Vec<String>,
    },
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Equals(Box<Node>, Box<Node>),
    NotEquals(Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
    /// A string method with string arguments.
    Method {
        method: Method,
        target: Box<Node>,
        arguments: Vec<Node>,
    },
    /// `range.exists(variable, body)`, or `range.all(...)` when `all`.
    Quantifier {
        range: Box<Node>,
        variable: String,
        body: Box<Node>,
        all: bool,
    },
    /// Anything else; evaluates to `None`.
    Unsupported,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    StartsWith,
    Contains,
    Matches,
    /// `replace(from, to)`, which replaces every occurrence.
    Replace,
}

/// A value during evaluation: borrowed from the CEL values or the
/// expression, or made by an operator.
enum Output<'a> {
    Bool(bool),
    Text(String),
    Value(&'a dyn Val),
}

/// The top-level variables (`message`, `report`, `config`) of one message.
pub(crate) struct Roots<'a> {
    values: Vec<(&'static str, CowVal<'a, 'a>)>,
}

impl<'a> Roots<'a> {
    pub(crate) fn of(context: &'a Context<'_, 'a>) -> Roots<'a> {
        let values = ["message", "report", "config"]
            .into_iter()
            .filter_map(|name| context.get_variable(name).map(|value| (name, value)))
            .collect();
        Roots { values }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&dyn Val> {
        self.values.iter().find(|(root, _)| *root == name).map(|(_, value)| value.as_ref())
    }
}

impl Node {
    /// Compiles `expression`. The result is [`Node::Unsupported`] where
    /// no part of it can be evaluated directly.
    pub(crate) fn compile(expression: &IdedExpr) -> Node {
        match &expression.expr {
            Expr::Literal(literal) => Node::Literal(literal.clone()),
            Expr::Ident(name) => Node::Path { variable: name.clone(), fields: Vec::new() },
            Expr::Select(select) if !select.test => match Node::compile(&select.operand) {
                Node::Path { variable, mut fields } => {
                    fields.push(select.field.clone());
                    Node::Path { variable, fields }
                }
                _ => Node::Unsupported,
            },
            Expr::Call(call) => {
                let arguments = &call.args;
                let node = |index: usize| Box::new(Node::compile(&arguments[index]));
                match (call.target.as_deref(), call.func_name.as_str(), arguments.len()) {
                    (None, operators::LOGICAL_NOT, 1) => Node::Not(node(0)),
                    (None, operators::LOGICAL_AND, 2) => Node::And(node(0), node(1)),
                    (None, operators::LOGICAL_OR, 2) => Node::Or(node(0), node(1)),
                    (None, operators::EQUALS, 2) => Node::Equals(node(0), node(1)),
                    (None, operators::NOT_EQUALS, 2) => Node::NotEquals(node(0), node(1)),
                    (None, operators::IN, 2) => Node::In(node(0), node(1)),
                    (Some(target), name, count) => {
                        let method = match (name, count) {
                            ("startsWith", 1) => Method::StartsWith,
                            ("contains", 1) => Method::Contains,
                            ("matches", 1) => Method::Matches,
                            ("replace", 2) => Method::Replace,
                            _ => return Node::Unsupported,
                        };
                        Node::Method {
                            method,
                            target: Box::new(Node::compile(target)),
                            arguments: arguments.iter().map(Node::compile).collect(),
                        }
                    }
                    _ => Node::Unsupported,
                }
            }
            Expr::Comprehension(comprehension) => {
                let accumulator = comprehension.accu_var.as_str();
                let Expr::Literal(LiteralValue::Boolean(initial)) = &comprehension.accu_init.expr else {
                    return Node::Unsupported;
                };
                let all = *initial.inner();
                let fold = if all { operators::LOGICAL_AND } else { operators::LOGICAL_OR };
                let is_accumulator =
                    |expression: &IdedExpr| matches!(&expression.expr, Expr::Ident(name) if name == accumulator);
                let body = match &comprehension.loop_step.expr {
                    Expr::Call(call)
                        if call.func_name == fold
                            && call.target.is_none()
                            && call.args.len() == 2
                            && is_accumulator(&call.args[0]) =>
                    {
                        &call.args[1]
                    }
                    _ => return Node::Unsupported,
                };
                if comprehension.iter_var2.is_some() || !is_accumulator(&comprehension.result) {
                    return Node::Unsupported;
                }
                Node::Quantifier {
                    range: Box::new(Node::compile(&comprehension.iter_range)),
                    variable: comprehension.iter_var.clone(),
                    body: Box::new(Node::compile(body)),
                    all,
                }
            }
            _ => Node::Unsupported,
        }
    }

    /// Evaluates a boolean expression. `None` means the interpreter must
    /// decide.
    pub(crate) fn evaluate(&self, roots: &Roots<'_>) -> Option<bool> {
        let mut scope = Vec::new();
        boolean(&self.value(roots, &mut scope)?)
    }

    fn value<'a>(&'a self, roots: &'a Roots<'_>, scope: &mut Vec<(&'a str, &'a dyn Val)>) -> Option<Output<'a>> {
        match self {
            Node::Literal(literal) => match literal.to_val() {
                CowVal::Borrowed(value) => Some(Output::Value(value)),
                CowVal::Owned(_) => None,
            },
            Node::Path { variable, fields } => {
                let mut value = scope
                    .iter()
                    .rev()
                    .find(|(name, _)| name == variable)
                    .map(|(_, value)| *value)
                    .or_else(|| roots.get(variable))?;
                for field in fields {
                    value = select(value, field)?;
                }
                Some(Output::Value(value))
            }
            Node::Not(operand) => Some(Output::Bool(!boolean(&operand.value(roots, scope)?)?)),
            Node::And(left, right) => {
                if boolean(&left.value(roots, scope)?)? {
                    Some(Output::Bool(boolean(&right.value(roots, scope)?)?))
                } else {
                    Some(Output::Bool(false))
                }
            }
            Node::Or(left, right) => {
                if boolean(&left.value(roots, scope)?)? {
                    Some(Output::Bool(true))
                } else {
                    Some(Output::Bool(boolean(&right.value(roots, scope)?)?))
                }
            }
            Node::Equals(left, right) => {
                let (left, right) = (left.value(roots, scope)?, right.value(roots, scope)?);
                Some(Output::Bool(with_val(&left, |left| with_val(&right, |right| left.equals(right)))))
            }
            Node::NotEquals(left, right) => {
                let (left, right) = (left.value(roots, scope)?, right.value(roots, scope)?);
                Some(Output::Bool(!with_val(&left, |left| with_val(&right, |right| left.equals(right)))))
            }
            Node::In(item, container) => {
                let item = item.value(roots, scope)?;
                let Output::Value(container) = container.value(roots, scope)? else {
                    return None;
                };
                let found = with_val(&item, |item| container.as_container()?.contains(item).ok())?;
                Some(Output::Bool(found))
            }
            Node::Method { method, target, arguments } => {
                let target = target.value(roots, scope)?;
                let mut texts = Vec::with_capacity(arguments.len());
                for argument in arguments {
                    texts.push(argument.value(roots, scope)?);
                }
                let target = text(&target)?;
                let argument = |index: usize| text(&texts[index]);
                match method {
                    Method::StartsWith => Some(Output::Bool(target.starts_with(argument(0)?))),
                    Method::Contains => Some(Output::Bool(target.contains(argument(0)?))),
                    Method::Matches => Some(Output::Bool(regex_is_match(target, argument(0)?).ok()?)),
                    Method::Replace => Some(Output::Text(target.replace(argument(0)?, argument(1)?))),
                }
            }
            Node::Quantifier { range, variable, body, all } => {
                let Output::Value(range) = range.value(roots, scope)? else {
                    return None;
                };
                let BuiltinRef::List(list) = range.as_builtin() else {
                    return None;
                };
                for item in list.inner() {
                    scope.push((variable.as_str(), item.as_ref()));
                    let result = body.value(roots, scope).and_then(|output| boolean(&output));
                    scope.pop();
                    // `exists` stops at the first `true` and `all` at the first
                    // `false`. An undecided item leaves the result to the
                    // interpreter.
                    if result? != *all {
                        return Some(Output::Bool(!*all));
                    }
                }
                Some(Output::Bool(*all))
            }
            Node::Unsupported => None,
        }
    }
}

/// Returns the field `name` of a map, borrowed, or `None` where CEL fails
/// (no map, no such key) or would hand out a copy.
pub(crate) fn select<'a>(value: &'a dyn Val, name: &str) -> Option<&'a dyn Val> {
    if !matches!(value.as_builtin(), BuiltinRef::Map(_)) {
        return None;
    }
    match value.as_indexer()?.get(&CelString::from(name)).ok()? {
        CowVal::Borrowed(field) => Some(field),
        CowVal::Owned(_) => None,
    }
}

fn boolean(output: &Output<'_>) -> Option<bool> {
    match output {
        Output::Bool(value) => Some(*value),
        Output::Value(value) => value.downcast_ref::<CelBool>().map(|value| *value.inner()),
        Output::Text(_) => None,
    }
}

fn text<'o>(output: &'o Output<'_>) -> Option<&'o str> {
    match output {
        Output::Text(text) => Some(text),
        Output::Value(value) => value.downcast_ref::<CelString>().map(|text| text.inner()),
        Output::Bool(_) => None,
    }
}

/// Calls `action` with `output` as a CEL value, so that equality and `in`
/// use the `cel` crate's own comparison.
fn with_val<R>(output: &Output<'_>, action: impl FnOnce(&dyn Val) -> R) -> R {
    match output {
        Output::Bool(value) => action(&CelBool::from(*value)),
        Output::Text(text) => action(&CelString::from(text.as_str())),
        Output::Value(value) => action(*value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cel::Value;
    use std::sync::Arc;

    /// Evaluates `expression` both ways over `message`, with the functions
    /// rules have.
    fn both(expression: &str, message: serde_json::Value) -> (Option<bool>, Value) {
        let env = Arc::new(crate::rules::environment());
        let program = env.compile(expression).expect("compiles");
        let mut context = Context::with_env(env);
        context.add_variable_from_value("message", cel::to_value(message).expect("converts"));
        let interpreted = program.execute(&context).unwrap_or(Value::Null);
        let roots = Roots::of(&context);
        (Node::compile(program.expression()).evaluate(&roots), interpreted)
    }

    #[test]
    fn direct_agrees_with_interpreter() {
        let message = serde_json::json!({
            "urls": [
                {"scheme": "https", "host": "a.example", "ip": false, "deceptive": null,
                 "sources": [{"kind": "html_href"}]},
                {"scheme": "ms-msdt", "host": null, "ip": true, "deceptive": {"shown": "b.example"},
                 "sources": [{"kind": "qr_code"}, {"kind": "text"}]},
            ],
            "roles": ["from", "url"],
            "count": 3,
        });
        let cases = [
            "message.urls.exists(u, u.ip)",
            "message.urls.all(u, u.ip)",
            "message.urls.exists(u, u.deceptive != null)",
            "message.urls.exists(u, u.sources.exists(s, s.kind == 'qr_code') && u.scheme.startsWith('http'))",
            "message.urls.exists(u, u.scheme.startsWith('ms-') || u.scheme == 'search')",
            "message.urls.exists(u, !u.ip && u.host.contains('a.ex'))",
            "message.urls.exists(u, u.host.replace('a.', 'b.') == 'b.example')",
            "'url' in message.roles && !('dkim' in message.roles)",
            "message.urls.exists(u, u.missing)",
            "message.urls.exists(u, u.host.startsWith('a'))",
            "message.count == 3",
        ];
        for expression in cases {
            let (direct, interpreted) = both(expression, message.clone());
            if let Some(direct) = direct {
                assert_eq!(Value::Bool(direct), interpreted, "{expression}");
            }
        }
    }

    #[test]
    fn undecided_where_interpreter_fails() {
        let message = serde_json::json!({"urls": [{"host": null}, {"host": "a.example"}]});
        for expression in ["message.urls.exists(u, u.missing)", "message.urls.exists(u, u.host.startsWith('a'))"] {
            assert_eq!(both(expression, message.clone()).0, None, "{expression}");
        }
        let (direct, _) = both("message.urls.exists(u, u.host == 'a.example')", message);
        assert_eq!(direct, Some(true));
    }
}
