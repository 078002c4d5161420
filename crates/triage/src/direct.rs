//! Direct evaluation of the expression shapes most rules are made of, on
//! a [`Tree`](crate::tree::Tree) of the same values the interpreter reads,
//! without the interpreter.
//!
//! The `cel` crate (0.15) spends much of a rule's time on bookkeeping per
//! item of `exists`: each item is bound in a new string-keyed scope, and
//! each field access joins its dotted name and looks it up scope by scope.
//! Rules mostly test fields of each URL, domain, attachment or cue, so
//! [`Node`] covers that subset: field paths, literals, lists of literals,
//! `!`, `&&`, `||`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `size` of lists
//! and maps, `+` of strings, `?:`, indexing a map by a string and a list
//! by an `int`, the string
//! methods `startsWith`, `contains`, `replace` and `matches`, and `exists`
//! and `all` over lists. [`Strings`] evaluates the `locations` expressions
//! of rules with these nodes.
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

use std::cmp::Ordering;
use std::sync::atomic::AtomicU32;

use cel::IdedExpr;
use cel::common::ast::{Expr, LiteralValue, operators};
use regex::Regex;

use crate::rules::regex_is_match;
use crate::tree::{Kind, Ref, Value};
use crate::values::{NO_NAME, Names};

mod strings;

pub(crate) use strings::{MAX_LOCATIONS, Strings};

/// An expression compiled for direct evaluation.
#[derive(Debug)]
pub(crate) enum Node {
    Literal(LiteralValue),
    /// A list of literals, such as `['fail', 'softfail']`, which
    /// only `in` reads.
    List(Vec<LiteralValue>),
    /// A variable followed by field selections: `u.flags.macros`. The
    /// variable and each field come with their number in [`Names`], and
    /// `root` is the position in [`ROOTS`] of a variable of that name.
    Path {
        variable: u32,
        root: Option<usize>,
        fields: Vec<Field>,
    },
    /// A field of a value other than a path, such as `m[0].address`, with
    /// the field's number in [`Names`].
    Select(Box<Node>, u32, String),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Equals(Box<Node>, Box<Node>),
    NotEquals(Box<Node>, Box<Node>),
    /// `left < right` or one of the other orderings, named by [`Comparison`].
    Compare(Comparison, Box<Node>, Box<Node>),
    In(Box<Node>, Box<Node>),
    /// `left + right` of two strings.
    Concat(Box<Node>, Box<Node>),
    /// `condition ? then : otherwise`.
    Conditional(Box<Node>, Box<Node>, Box<Node>),
    /// `map[key]` with a string key, or `list[index]` with an `int` index.
    Index(Box<Node>, Box<Node>),
    /// `size(x)` or `x.size()` of a list or a map.
    Size(Box<Node>),
    /// `size(range.filter(variable, predicate))` of a list.
    Count {
        range: Box<Node>,
        variable: u32,
        predicate: Box<Node>,
    },
    /// A string method with string arguments.
    Method {
        method: Method,
        target: Box<Node>,
        arguments: Vec<Node>,
    },
    /// `target.matches(pattern)` with a literal pattern, compiled once
    /// here in place of a lookup in the cache of
    /// [`crate::rules::regex_is_match`], which compiles it the same way.
    Matches {
        target: Box<Node>,
        pattern: Regex,
    },
    /// `range.exists(variable, body)`, or `range.all(...)` when `all`.
    Quantifier {
        range: Box<Node>,
        variable: u32,
        body: Box<Node>,
        all: bool,
    },
    /// Anything else; evaluates to `None`.
    Unsupported,
}

/// A field selected by a [`Node::Path`].
#[derive(Debug)]
pub(crate) struct Field {
    /// The number of `name` in [`Names`], or [`NO_NAME`].
    number: u32,
    name: String,
    /// The entry position where the field was found last, tried first
    /// on the next lookup. Maps of one struct type list their fields in
    /// the same order, so the hint is mostly right, and a wrong hint
    /// costs only the scan it tried to spare.
    hint: AtomicU32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    StartsWith,
    Contains,
    Matches,
    /// `replace(from, to)`, which replaces every occurrence.
    Replace,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Comparison {
    Less,
    LessEquals,
    Greater,
    GreaterEquals,
}

impl Comparison {
    fn holds(self, order: Ordering) -> bool {
        match self {
            Comparison::Less => order == Ordering::Less,
            Comparison::LessEquals => order != Ordering::Greater,
            Comparison::Greater => order == Ordering::Greater,
            Comparison::GreaterEquals => order != Ordering::Less,
        }
    }
}

/// A value during evaluation: a value of the tree or the expression, or a
/// string made by an operator.
enum Output<'a> {
    Value(Value<'a>),
    Text(String),
}

impl Output<'_> {
    fn get(&self) -> Value<'_> {
        match self {
            Output::Value(value) => *value,
            Output::Text(text) => Value::Text(text),
        }
    }
}

/// The names of the top-level variables, in the order of [`Roots`].
const ROOTS: [&str; 3] = ["message", "report", "config"];

/// The top-level variables (`message`, `report`, `config`) of one message.
pub(crate) struct Roots<'a> {
    values: [Value<'a>; 3],
}

/// The items that enclosing macros bind, innermost last, each with the
/// number of its variable's name in [`Names`].
type Scope<'a> = Vec<(u32, Value<'a>)>;

impl<'a> Roots<'a> {
    pub(crate) fn new(message: Value<'a>, report: Value<'a>, config: Value<'a>) -> Roots<'a> {
        Roots { values: [message, report, config] }
    }

    fn get(&self, root: Option<usize>) -> Option<Value<'a>> {
        Some(self.values[root?])
    }
}

impl Node {
    /// Compiles `expression`, with the field numbers of `names`. The result
    /// is [`Node::Unsupported`] where no part of it can be evaluated
    /// directly.
    pub(crate) fn compile(expression: &IdedExpr, names: &Names) -> Node {
        match &expression.expr {
            Expr::Literal(literal) => Node::Literal(literal.clone()),
            Expr::Ident(name) => {
                // `RuleSet` numbers every word of its expressions in `names`,
                // so this fails only for an expression compiled with other names.
                let Some(variable) = names.number(name) else {
                    return Node::Unsupported;
                };
                let root = ROOTS.iter().position(|root| root == name);
                Node::Path { variable, root, fields: Vec::new() }
            }
            Expr::Select(select) if !select.test => {
                let number = names.number(&select.field).unwrap_or(NO_NAME);
                match Node::compile(&select.operand, names) {
                    Node::Path { variable, root, mut fields } => {
                        fields.push(Field { number, name: select.field.clone(), hint: AtomicU32::new(0) });
                        Node::Path { variable, root, fields }
                    }
                    Node::Unsupported => Node::Unsupported,
                    operand => Node::Select(Box::new(operand), number, select.field.clone()),
                }
            }
            Expr::Call(call) => {
                let arguments = &call.args;
                let node = |index: usize| Box::new(Node::compile(&arguments[index], names));
                match (call.target.as_deref(), call.func_name.as_str(), arguments.len()) {
                    (None, operators::LOGICAL_NOT, 1) => Node::Not(node(0)),
                    (None, operators::LOGICAL_AND, 2) => Node::And(node(0), node(1)),
                    (None, operators::LOGICAL_OR, 2) => Node::Or(node(0), node(1)),
                    (None, operators::EQUALS, 2) => Node::Equals(node(0), node(1)),
                    (None, operators::NOT_EQUALS, 2) => Node::NotEquals(node(0), node(1)),
                    (None, operators::IN, 2) => Node::In(node(0), node(1)),
                    (None, operators::ADD, 2) => Node::Concat(node(0), node(1)),
                    (None, operators::CONDITIONAL, 3) => Node::Conditional(node(0), node(1), node(2)),
                    (None, operators::INDEX, 2) => Node::Index(node(0), node(1)),
                    (None, operators::LESS, 2) => Node::Compare(Comparison::Less, node(0), node(1)),
                    (None, operators::LESS_EQUALS, 2) => Node::Compare(Comparison::LessEquals, node(0), node(1)),
                    (None, operators::GREATER, 2) => Node::Compare(Comparison::Greater, node(0), node(1)),
                    (None, operators::GREATER_EQUALS, 2) => Node::Compare(Comparison::GreaterEquals, node(0), node(1)),
                    (None, "size", 1) => Node::size_of(&arguments[0], names),
                    (Some(target), "size", 0) => Node::size_of(target, names),
                    (Some(target), name, count) => {
                        if let ("matches", [pattern]) = (name, arguments.as_slice())
                            && let Expr::Literal(LiteralValue::String(pattern)) = &pattern.expr
                            && let Ok(pattern) = Regex::new(pattern.inner())
                        {
                            return Node::Matches { target: Box::new(Node::compile(target, names)), pattern };
                        }
                        let method = match (name, count) {
                            ("startsWith", 1) => Method::StartsWith,
                            ("contains", 1) => Method::Contains,
                            ("matches", 1) => Method::Matches,
                            ("replace", 2) => Method::Replace,
                            _ => return Node::Unsupported,
                        };
                        Node::Method {
                            method,
                            target: Box::new(Node::compile(target, names)),
                            arguments: arguments.iter().map(|argument| Node::compile(argument, names)).collect(),
                        }
                    }
                    _ => Node::Unsupported,
                }
            }
            Expr::List(list) if list.optional_indices.is_empty() => {
                let mut literals = Vec::with_capacity(list.elements.len());
                for element in &list.elements {
                    let Expr::Literal(literal) = &element.expr else {
                        return Node::Unsupported;
                    };
                    literals.push(literal.clone());
                }
                Node::List(literals)
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
                let Some(variable) = names.number(&comprehension.iter_var) else {
                    return Node::Unsupported;
                };
                Node::Quantifier {
                    range: Box::new(Node::compile(&comprehension.iter_range, names)),
                    variable,
                    body: Box::new(Node::compile(body, names)),
                    all,
                }
            }
            _ => Node::Unsupported,
        }
    }

    /// Compiles `size(operand)`, counting without building the list when
    /// the operand is a `filter` macro.
    fn size_of(operand: &IdedExpr, names: &Names) -> Node {
        let Some(parts) = strings::macro_parts(operand) else {
            return Node::Size(Box::new(Node::compile(operand, names)));
        };
        let keeps_items = matches!(&parts.body.expr, Expr::Ident(name) if name == parts.variable);
        match (parts.predicate, names.number(parts.variable)) {
            (Some(predicate), Some(variable)) if keeps_items => Node::Count {
                range: Box::new(Node::compile(parts.range, names)),
                variable,
                predicate: Box::new(Node::compile(predicate, names)),
            },
            _ => Node::Unsupported,
        }
    }

    /// Returns whether every part of the node can be evaluated directly.
    pub(crate) fn is_supported(&self) -> bool {
        match self {
            Node::Literal(_) | Node::List(_) | Node::Path { .. } => true,
            Node::Not(operand) | Node::Size(operand) | Node::Select(operand, ..) => operand.is_supported(),
            Node::And(left, right)
            | Node::Or(left, right)
            | Node::Equals(left, right)
            | Node::NotEquals(left, right)
            | Node::Compare(_, left, right)
            | Node::In(left, right)
            | Node::Concat(left, right)
            | Node::Index(left, right) => left.is_supported() && right.is_supported(),
            Node::Conditional(condition, then, otherwise) => {
                condition.is_supported() && then.is_supported() && otherwise.is_supported()
            }
            Node::Method { target, arguments, .. } => target.is_supported() && arguments.iter().all(Node::is_supported),
            Node::Matches { target, .. } => target.is_supported(),
            Node::Quantifier { range, body, .. } => range.is_supported() && body.is_supported(),
            Node::Count { range, predicate, .. } => range.is_supported() && predicate.is_supported(),
            Node::Unsupported => false,
        }
    }

    /// Evaluates a boolean expression. `None` means the interpreter must
    /// decide.
    pub(crate) fn evaluate(&self, roots: &Roots<'_>) -> Option<bool> {
        let mut scope = Vec::new();
        self.test(roots, &mut scope)
    }

    /// Evaluates a node that must give a boolean, as conditions and the
    /// bodies of macros must. Operators that give booleans are evaluated
    /// here without building an [`Output`], which the other nodes need.
    fn test<'a>(&'a self, roots: &Roots<'a>, scope: &mut Scope<'a>) -> Option<bool> {
        match self {
            Node::Path { variable, root, fields } => boolean(path(*variable, *root, fields, roots, scope)?),
            Node::Not(operand) => Some(!operand.test(roots, scope)?),
            Node::And(left, right) => {
                if left.test(roots, scope)? {
                    right.test(roots, scope)
                } else {
                    Some(false)
                }
            }
            Node::Or(left, right) => {
                if left.test(roots, scope)? {
                    Some(true)
                } else {
                    right.test(roots, scope)
                }
            }
            Node::Equals(left, right) => {
                let (left, right) = (left.operand(roots, scope)?, right.operand(roots, scope)?);
                equals(left.get(), right.get())
            }
            Node::NotEquals(left, right) => {
                let (left, right) = (left.operand(roots, scope)?, right.operand(roots, scope)?);
                Some(!equals(left.get(), right.get())?)
            }
            Node::Compare(comparison, left, right) => {
                let (left, right) = (left.operand(roots, scope)?, right.operand(roots, scope)?);
                Some(comparison.holds(order(left.get(), right.get())?))
            }
            Node::In(item, container) if matches!(**container, Node::List(_)) => {
                let Node::List(literals) = &**container else {
                    return None;
                };
                let item = item.operand(roots, scope)?;
                // As a list's `contains`: each element's `equals`, in order.
                for literal in literals {
                    if equals(literal_value(literal), item.get())? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            Node::In(item, container) => {
                let item = item.operand(roots, scope)?;
                let Output::Value(Value::Node(container)) = container.operand(roots, scope)? else {
                    return None;
                };
                contains(container, item.get())
            }
            Node::Quantifier { range, variable, body, all } => {
                let Output::Value(range) = range.operand(roots, scope)? else {
                    return None;
                };
                for item in list_items(range)? {
                    scope.push((*variable, item));
                    let result = body.test(roots, scope);
                    scope.pop();
                    // `exists` stops at the first `true` and `all` at the first
                    // `false`. An undecided item leaves the result to the
                    // interpreter.
                    if result? != *all {
                        return Some(!*all);
                    }
                }
                Some(*all)
            }
            _ => boolean(self.value(roots, scope)?.get()),
        }
    }

    /// Evaluates a node like [`Node::value`], resolving literals and paths,
    /// the most frequent operands, without a call.
    #[inline]
    fn operand<'a>(&'a self, roots: &Roots<'a>, scope: &mut Scope<'a>) -> Option<Output<'a>> {
        match self {
            Node::Literal(literal) => Some(Output::Value(literal_value(literal))),
            Node::Path { variable, root, fields } => Some(Output::Value(path(*variable, *root, fields, roots, scope)?)),
            _ => self.value(roots, scope),
        }
    }

    fn value<'a>(&'a self, roots: &Roots<'a>, scope: &mut Scope<'a>) -> Option<Output<'a>> {
        let value = match self {
            Node::Literal(literal) => literal_value(literal),
            Node::Path { variable, root, fields } => path(*variable, *root, fields, roots, scope)?,
            Node::Select(operand, number, field) => {
                let Output::Value(value) = operand.value(roots, scope)? else {
                    return None;
                };
                select(value, *number, field)?
            }
            Node::Not(_)
            | Node::And(..)
            | Node::Or(..)
            | Node::Equals(..)
            | Node::NotEquals(..)
            | Node::Compare(..)
            | Node::In(..)
            | Node::Quantifier { .. } => Value::Bool(self.test(roots, scope)?),
            Node::Concat(left, right) => {
                // The interpreter adds strings only to strings; other types
                // (numbers, lists) are left to it.
                let (left, right) = (left.value(roots, scope)?, right.value(roots, scope)?);
                let (Value::Text(left), Value::Text(right)) = (left.get(), right.get()) else {
                    return None;
                };
                let mut joined = String::with_capacity(left.len() + right.len());
                joined.push_str(left);
                joined.push_str(right);
                return Some(Output::Text(joined));
            }
            Node::Conditional(condition, then, otherwise) => {
                return if condition.test(roots, scope)? {
                    then.value(roots, scope)
                } else {
                    otherwise.value(roots, scope)
                };
            }
            Node::Index(container, key) => {
                let Output::Value(container) = container.value(roots, scope)? else {
                    return None;
                };
                match key.value(roots, scope)?.get() {
                    Value::Text(name) => select(container, NO_NAME, name)?,
                    // A list by an `int` within its bounds.
                    Value::Int(position) => list_items(container)?.nth(usize::try_from(position).ok()?)?,
                    _ => return None,
                }
            }
            Node::Size(operand) => {
                // `size` has overloads for other types (strings, bytes). Only
                // lists and maps are taken here, whose overloads return the
                // count of items.
                let Output::Value(Value::Node(node)) = operand.value(roots, scope)? else {
                    return None;
                };
                Value::Int(i64::try_from(node.len()?).ok()?)
            }
            Node::Count { range, variable, predicate } => {
                let Output::Value(range) = range.value(roots, scope)? else {
                    return None;
                };
                let mut count = 0;
                for item in list_items(range)? {
                    scope.push((*variable, item));
                    let result = predicate.test(roots, scope);
                    scope.pop();
                    count += i64::from(result?);
                }
                Value::Int(count)
            }
            Node::Matches { target, pattern } => {
                let target = target.operand(roots, scope)?;
                let Value::Text(text) = target.get() else {
                    return None;
                };
                Value::Bool(pattern.is_match(text))
            }
            Node::Method { method, target, arguments } => {
                // The methods take one or two arguments, kept on the stack.
                let target = target.value(roots, scope)?;
                let [first, second] = match arguments.as_slice() {
                    [first] => [Some(first.value(roots, scope)?), None],
                    [first, second] => [Some(first.value(roots, scope)?), Some(second.value(roots, scope)?)],
                    _ => return None,
                };
                let Value::Text(target) = target.get() else {
                    return None;
                };
                let argument = |index: usize| match [&first, &second][index].as_ref()?.get() {
                    Value::Text(text) => Some(text),
                    _ => None,
                };
                match method {
                    Method::StartsWith => Value::Bool(target.starts_with(argument(0)?)),
                    Method::Contains => Value::Bool(target.contains(argument(0)?)),
                    Method::Matches => Value::Bool(regex_is_match(target, argument(0)?).ok()?),
                    Method::Replace => return Some(Output::Text(target.replace(argument(0)?, argument(1)?))),
                }
            }
            Node::List(_) | Node::Unsupported => return None,
        };
        Some(Output::Value(value))
    }
}

/// Returns the value of `variable.fields...`: the innermost item bound to
/// the variable by an enclosing macro, else the root variable of that
/// name.
fn path<'a>(
    variable: u32,
    root: Option<usize>,
    fields: &[Field],
    roots: &Roots<'a>,
    scope: &Scope<'a>,
) -> Option<Value<'a>> {
    let mut value = match scope.iter().rev().find(|(name, _)| *name == variable) {
        Some((_, value)) => *value,
        None => roots.get(root)?,
    };
    for field in fields {
        let Value::Node(node) = value else {
            return None;
        };
        value = node.field_at(field.number, &field.name, &field.hint)?;
    }
    Some(value)
}

/// Returns a literal of the expression as a value.
fn literal_value(literal: &LiteralValue) -> Value<'_> {
    match literal {
        LiteralValue::Boolean(flag) => Value::Bool(*flag.inner()),
        LiteralValue::Bytes(bytes) => Value::Bytes(bytes.inner()),
        LiteralValue::Double(number) => Value::Double(*number.inner()),
        LiteralValue::Int(number) => Value::Int(*number.inner()),
        LiteralValue::Null => Value::Null,
        LiteralValue::String(text) => Value::Text(text.inner()),
        LiteralValue::UInt(number) => Value::UInt(*number.inner()),
    }
}

/// Returns the items of a list, or `None` for any other value. A map gives
/// `None` too, because the interpreter would iterate its keys in its own
/// order.
pub(crate) fn list_items(value: Value<'_>) -> Option<impl Iterator<Item = Value<'_>>> {
    match value {
        Value::Node(node) => node.items(),
        _ => None,
    }
}

/// Returns the field `name` of a map, or `None` where CEL fails (no map,
/// no such key). `number` is the number of `name` in [`Names`], or
/// [`NO_NAME`] to compare by string.
pub(crate) fn select<'a>(value: Value<'a>, number: u32, name: &str) -> Option<Value<'a>> {
    match value {
        Value::Node(node) => node.field(number, name),
        _ => None,
    }
}

fn boolean(value: Value<'_>) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(flag),
        _ => None,
    }
}

/// Returns whether `left == right` in CEL (`cel` 0.15): numbers compare
/// across `int`, `uint` and `double`, and values of other different types
/// are unequal. `None` leaves equality of two lists or maps, and anything
/// with an opaque value, to the interpreter.
fn equals(left: Value<'_>, right: Value<'_>) -> Option<bool> {
    let is_opaque = |value: Value<'_>| matches!(value, Value::Node(node) if matches!(node.kind(), Kind::Opaque));
    if is_opaque(left) || is_opaque(right) {
        return None;
    }
    Some(match (left, right) {
        (Value::Node(_), Value::Node(_)) => return None,
        (Value::Null, Value::Null) => true,
        (Value::Bool(left), Value::Bool(right)) => left == right,
        (Value::Text(left), Value::Text(right)) => left == right,
        (Value::Bytes(left), Value::Bytes(right)) => left == right,
        (left, right) => compare_numbers(left, right).is_some_and(|order| order == Ordering::Equal),
    })
}

/// Returns the order of two values as the `cel` crate's comparers give
/// it: numbers across `int`, `uint` and `double`, strings, bytes and
/// booleans. `None` where the interpreter fails.
fn order(left: Value<'_>, right: Value<'_>) -> Option<Ordering> {
    match (left, right) {
        (Value::Text(left), Value::Text(right)) => Some(left.cmp(right)),
        (Value::Bytes(left), Value::Bytes(right)) => Some(left.cmp(right)),
        (Value::Bool(left), Value::Bool(right)) => Some(left.cmp(&right)),
        (left, right) => compare_numbers(left, right),
    }
}

/// Orders two numbers as `cel` 0.15 does: exactly between `int` and
/// `uint`, and through `f64` with a `double`. `None` for NaN or values
/// that are no numbers.
fn compare_numbers(left: Value<'_>, right: Value<'_>) -> Option<Ordering> {
    match (left, right) {
        (Value::Int(left), Value::Int(right)) => Some(left.cmp(&right)),
        (Value::UInt(left), Value::UInt(right)) => Some(left.cmp(&right)),
        (Value::Int(left), Value::UInt(right)) => {
            Some(u64::try_from(left).map_or(Ordering::Less, |left| left.cmp(&right)))
        }
        (Value::UInt(left), Value::Int(right)) => {
            Some(i64::try_from(left).map_or(Ordering::Greater, |left| left.cmp(&right)))
        }
        (Value::Double(left), Value::Double(right)) => left.partial_cmp(&right),
        #[allow(clippy::cast_precision_loss, reason = "CEL compares through f64 as well")]
        (Value::Double(left), Value::Int(right)) => left.partial_cmp(&(right as f64)),
        #[allow(clippy::cast_precision_loss, reason = "CEL compares through f64 as well")]
        (Value::Double(left), Value::UInt(right)) => left.partial_cmp(&(right as f64)),
        #[allow(clippy::cast_precision_loss, reason = "CEL compares through f64 as well")]
        (Value::Int(left), Value::Double(right)) => (left as f64).partial_cmp(&right),
        #[allow(clippy::cast_precision_loss, reason = "CEL compares through f64 as well")]
        (Value::UInt(left), Value::Double(right)) => (left as f64).partial_cmp(&right),
        _ => None,
    }
}

/// Returns whether `item in container`: an item of a list equal to it,
/// or a string key of a map. `None` for other keys and other values,
/// which the interpreter decides.
fn contains(container: Ref<'_>, item: Value<'_>) -> Option<bool> {
    match container.kind() {
        Kind::List(_) if matches!(item, Value::Text(_)) => {
            let Value::Text(text) = item else {
                return None;
            };
            container.contains_text(text)
        }
        Kind::List(_) => {
            for element in container.items()? {
                if equals(element, item)? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Kind::Map { .. } => match item {
            Value::Text(name) => Some(container.field(NO_NAME, name).is_some()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cel::{Context, Value};
    use std::sync::Arc;

    /// Evaluates `expression` over `message` both ways, with the functions
    /// rules have: directly on a tree, and by the interpreter on the `cel`
    /// crate's maps and again on the shared maps of
    /// [`crate::values::serialize`], which must give the same results.
    fn both(expression: &str, message: serde_json::Value) -> (Option<bool>, Value) {
        let env = Arc::new(crate::rules::environment());
        let program = env.compile(expression).expect("compiles");
        // Every key of the message is a name, so that the serializer keeps
        // all fields, as the conversion for the interpreter does.
        let mut names = Names::default();
        let text = format!("{expression} {message}");
        for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            names.insert(word);
        }
        let node = Node::compile(program.expression(), &names);

        let mut context = Context::with_env(Arc::clone(&env));
        context.add_variable_from_value("message", cel::to_value(&message).expect("converts"));
        let interpreted = program.execute(&context).unwrap_or(Value::Null);
        let mut tree = crate::tree::Tree::default();
        let root = tree.push(&message, &names).expect("serializes");
        let null = crate::tree::Value::Null;
        let direct = node.evaluate(&Roots::new(tree.root(root), null, null));

        let mut shared = Context::with_env(env);
        let serialized = crate::values::serialize(&message, &names).expect("serializes");
        shared.add_variable_as_val("message", serialized);
        let interpreted_shared = program.execute(&shared).unwrap_or(Value::Null);
        assert_eq!(interpreted_shared, interpreted, "{expression}: interpreter on shared maps");
        (direct, interpreted)
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
            "flags": {"ip": true, "header.d": "example.net"},
        });
        let cases = [
            "message.urls.exists(u, u.ip)",
            "message.urls.all(u, u.ip)",
            "message.urls.exists(u, u.deceptive != null)",
            "message.urls.exists(u, u.sources.exists(s, s.kind == 'qr_code') && u.scheme.startsWith('http'))",
            "message.urls.exists(u, u.scheme.startsWith('ms-') || u.scheme == 'search')",
            "message.urls.exists(u, !u.ip && u.host.contains('a.ex'))",
            "message.urls.exists(u, u.host.replace('a.', 'b.') == 'b.example')",
            "message.urls.exists(u, u.scheme.matches('^ms-')) && !message.urls.all(u, u.scheme.matches('(?i)^HTTPS$'))",
            "message.urls.exists(u, u.scheme.matches('('))",
            "'url' in message.roles && !('dkim' in message.roles)",
            "message.urls.exists(u, u.missing)",
            "message.urls.exists(u, u.host.startsWith('a'))",
            "message.count == 3",
            "'ip' in message.flags && !('dkim' in message.flags)",
            "message.flags.ip == true && message.flags != null",
            "message.urls.exists(u, u.deceptive == {'shown': 'b.example'})",
            "size(message.urls) > 1 && size(message.urls) <= 2 && message.urls.size() == 2",
            "size(message.flags) >= 1 && size(message.roles) < 3",
            "message.count > 2 && message.count >= 3 && 1 < message.count",
            "message.count > 2.5",
            "message.count < 'x'",
            "size(message.urls[0].scheme) == 5",
            "message.urls.exists(u, u.scheme in ['http', 'ms-msdt'] && !(u.scheme in ['https', 1, null]))",
            "message.urls.exists(u, size(u.sources) > 1)",
            "3 in [1, 2u, 3.0]",
            "size(message.urls.filter(u, u.ip)) == 1 && message.urls.filter(u, !u.ip).size() == 1",
            "size(message.urls.filter(u, u.sources.exists(s, s.kind == 'text'))) >= 1",
            "size(message.roles.filter(r, r == 'url')) == 1 && size(message.roles.filter(r, r == 'x')) == 0",
            "size(message.urls.filter(u, u.host)) == 0",
            "size(message.flags.filter(k, k == 'ip')) == 1",
            "size(message.urls.map(u, u.ip)) == 2",
            "message.urls[0].scheme == 'https' && message.roles[1] == 'url'",
            "message.flags['header.d'] == 'example.net' && message.flags['missing'] == 'x'",
            "message.roles[2] == 'x' || message.roles[-1] == 'x'",
            "message.urls[0].host + '/' == 'a.example/' && message.urls[0].scheme + 1 == 'x'",
            "(message.count > 2 ? message.urls[0] : message.urls[1]).scheme == 'https'",
            "(message.count > 2 ? 'a' : 1) == 'a' && (message.urls ? 'a' : 'b') == 'a'",
            "message.urls.exists(u, message.urls.exists(u, u.ip) && u.scheme == 'https')",
            "message.urls.exists(message, message.ip)",
            "size(message.urls.filter(message, message.ip)) == 1",
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
