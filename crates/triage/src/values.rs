//! The analysis as CEL values, built for fast rule evaluation.
//!
//! The `cel` crate (0.15) copies every list item that `exists`, `all`,
//! `filter` or `map` visits, and a copy of a map copies all that it
//! contains. Its map hashes every key with SipHash on each lookup. Three
//! measures keep that cheap:
//!
//! - Fields that no rule names are left out. A field name is any word of
//!   any expression, so a rule always gets the fields it reads.
//! - Maps are shared: [`SharedMap`] holds its entries behind an [`Arc`],
//!   and a copy takes a reference instead of copying the entries.
//! - A [`SharedMap`] keeps its entries in a short list, each string key
//!   with its number in [`Names`]. The interpreter finds a field by
//!   comparing strings, without hashing.
//!
//! Direct evaluation does not read these values but a [`crate::tree::Tree`]
//! of the same entries, so they are built only for the interpreter.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel::common::traits::{Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt, Type,
};
use cel::common::value::{Builtin, BuiltinRef, CowVal, StaticVal, Val};
use cel::objects::Key;
use cel::{ExecutionError, Value};
use rustc_hash::FxHashMap;

mod serializer;

pub(crate) use serializer::to_val as serialize;

/// Fields whose keys are data rather than field names (`properties` of an
/// authentication result, keyed like `header.d`). They are kept whole.
pub(crate) const DATA_MAPS: &[&str] = &["properties"];

/// The number of a map key that is not in [`Names`], or not a string.
pub(crate) const NO_NAME: u32 = u32::MAX;

/// The words of all rule expressions: the only field names a rule can
/// read, each with a number that stays the same once given.
#[derive(Debug, Default)]
pub(crate) struct Names {
    numbers: FxHashMap<Box<str>, u32>,
}

impl Names {
    /// Adds `name` unless it is known, and returns its number.
    pub(crate) fn insert(&mut self, name: &str) -> u32 {
        if let Some(&number) = self.numbers.get(name) {
            return number;
        }
        let number = u32::try_from(self.numbers.len()).expect("fewer than 2^32 - 1 names");
        self.numbers.insert(name.into(), number);
        number
    }

    /// Returns the number of `name`, or `None` when no expression contains
    /// the word.
    pub(crate) fn number(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }
}

/// Converts `value` into a CEL value without the map entries whose key is
/// not in `names`. Keys that are not strings, and the contents of
/// [`DATA_MAPS`], are kept. Rules get their values from [`serialize`],
/// which builds the same values without the intermediate [`Value`].
#[cfg(test)]
pub(crate) fn to_val(value: &Value, names: &Names) -> Box<dyn Val> {
    convert(value, names, false)
}

/// Converts `value` with every key kept, numbering the keys that are in
/// `names`.
pub(crate) fn convert_all(value: &Value, names: &Names) -> Box<dyn Val> {
    convert(value, names, true)
}

/// Converts `value` like [`to_val`]. With `keep_all`, every key is kept, as
/// inside [`DATA_MAPS`].
fn convert(value: &Value, names: &Names, keep_all: bool) -> Box<dyn Val> {
    match value {
        Value::Map(map) => {
            let mut entries: Vec<Entry> = Vec::with_capacity(map.map.len());
            for (key, item) in map.map.iter() {
                let (number, key, item_keep_all) = match key {
                    Key::String(name) => {
                        let number = names.number(name.as_str());
                        if number.is_none() && !keep_all {
                            continue;
                        }
                        let key = CelMapKey::from(name.as_str().to_string());
                        (number.unwrap_or(NO_NAME), key, keep_all || DATA_MAPS.contains(&name.as_str()))
                    }
                    Key::Int(number) => (NO_NAME, CelMapKey::from(*number), keep_all),
                    Key::Uint(number) => (NO_NAME, CelMapKey::from(*number), keep_all),
                    Key::Bool(flag) => (NO_NAME, CelMapKey::from(*flag), keep_all),
                };
                entries.push((number, key, convert(item, names, item_keep_all)));
            }
            Box::new(SharedMap::new(entries))
        }
        Value::List(items) => {
            let items: Vec<Box<dyn Val>> = items.iter().map(|item| convert(item, names, keep_all)).collect();
            Box::new(CelList::from(items))
        }
        Value::String(text) => Box::new(CelString::from(text.as_str().to_string())),
        Value::Int(number) => Box::new(CelInt::from(*number)),
        Value::UInt(number) => Box::new(CelUInt::from(*number)),
        Value::Float(number) => Box::new(CelDouble::from(*number)),
        Value::Bool(flag) => Box::new(CelBool::from(*flag)),
        Value::Bytes(bytes) => Box::new(CelBytes::from(bytes.as_slice().to_vec())),
        Value::Null => Box::new(CelNull),
        // The analysis serialises to maps, lists and scalars only; anything
        // else goes through the crate's own conversion.
        other => Box::<dyn Val>::try_from(other.clone()).unwrap_or_else(|_| Box::new(CelNull)),
    }
}

/// One entry of a [`SharedMap`]: the number of its key in [`Names`]
/// ([`NO_NAME`] for other keys), the key and the value.
type Entry = (u32, CelMapKey<'static>, Box<dyn Val>);

/// A CEL map whose copies share their entries.
///
/// It reports itself as a built-in map, so functions, `in`, `size`,
/// equality and field selection treat it as one. Only an operation that
/// takes a map by value copies the entries.
///
/// Lookups by string key and `in` scan the entries. Operations that need
/// the `cel` crate's own map (equality, iteration, keys of other types,
/// conversion to [`Value`]) get one built from the entries on first use.
#[derive(Debug)]
pub(crate) struct SharedMap(Arc<Entries>);

#[derive(Debug)]
struct Entries {
    /// Unique keys, in the order they were serialized.
    items: Vec<Entry>,
    builtin: OnceLock<CelMap<'static>>,
}

impl SharedMap {
    /// Wraps `items`, whose keys must be unique.
    fn new(items: Vec<Entry>) -> SharedMap {
        SharedMap(Arc::new(Entries { items, builtin: OnceLock::new() }))
    }

    /// Returns the value under the string key `name`, whose number in
    /// [`Names`] is `number` ([`NO_NAME`] when it has none).
    pub(crate) fn field(&self, number: u32, name: &str) -> Option<&(dyn Val + 'static)> {
        let found = if number == NO_NAME {
            self.0.items.iter().find(|(_, key, _)| is_string_key(key, name))
        } else {
            self.0.items.iter().find(|(known, _, _)| *known == number)
        };
        found.map(|(_, _, value)| value.as_ref())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.items.len()
    }

    /// Returns the entries as the `cel` crate's map, built on first use.
    fn map(&self) -> &CelMap<'static> {
        self.0.builtin.get_or_init(|| {
            let entries: HashMap<CelMapKey<'static>, Box<dyn Val>> =
                self.0.items.iter().map(|(_, key, value)| (key.clone(), value.clone())).collect();
            CelMap::from(entries)
        })
    }

    /// Returns the entries as the `cel` crate's map, taking them when no
    /// other copy shares them.
    fn into_map(self) -> CelMap<'static> {
        match Arc::try_unwrap(self.0) {
            Ok(entries) => match entries.builtin.into_inner() {
                Some(map) => map,
                None => CelMap::from(
                    entries.items.into_iter().map(|(_, key, value)| (key, value)).collect::<HashMap<_, _>>(),
                ),
            },
            Err(shared) => SharedMap(shared).map().clone(),
        }
    }
}

fn is_string_key(key: &CelMapKey<'static>, name: &str) -> bool {
    matches!(key, CelMapKey::String(text) if text.inner() == name)
}

impl Val for SharedMap {
    fn get_type(&self) -> &Type {
        <CelMap<'static> as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        <CelMap<'static> as Val>::cel_type()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn into_indexer<'v>(self: Box<Self>) -> Option<Box<dyn Indexer + 'v>>
    where
        Self: 'v,
    {
        Box::new(self.into_map()).into_indexer()
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        self.map().as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        Some(self)
    }

    /// Compares as the `cel` crate's map does, without building one for a
    /// value that is no map (such as `null`).
    fn equals(&self, other: &dyn Val) -> bool {
        matches!(other.as_builtin(), BuiltinRef::Map(_)) && self.map().equals(other)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(SharedMap(Arc::clone(&self.0)))
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    // NOTE: the interpreter (cel 0.15) calls this on every value it selects
    // a field from, to look for an optional, so each map it reads gets its
    // `cel` map built.
    fn as_builtin<'b, 'v>(&'b self) -> BuiltinRef<'b, 'v>
    where
        Self: 'v,
    {
        BuiltinRef::Map(self.map())
    }

    fn into_builtin<'v>(self: Box<Self>) -> Option<Builtin<'v>>
    where
        Self: 'v,
    {
        Some(Builtin::Map(self.into_map()))
    }
}

impl StaticVal for SharedMap {}

/// Looks string keys up in the entries, and any other key in the `cel`
/// crate's map, which also matches numbers across `int` and `uint`.
impl Indexer for SharedMap {
    fn get<'b, 'v>(&'b self, key: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let Some(name) = key.downcast_ref::<CelString>() else {
            return self.map().get(key);
        };
        match self.field(NO_NAME, name.inner()) {
            Some(value) => Ok(CowVal::Borrowed(value)),
            None => Err(ExecutionError::NoSuchKey(Arc::new(name.inner().to_string()))),
        }
    }

    fn steal<'v>(self: Box<Self>, key: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.get(key).map(CowVal::into_owned)
    }
}

impl Container for SharedMap {
    fn contains(&self, key: &dyn Val) -> Result<bool, ExecutionError> {
        match key.downcast_ref::<CelString>() {
            Some(name) => Ok(self.field(NO_NAME, name.inner()).is_some()),
            None => self.map().contains(key),
        }
    }
}

impl Sizer for SharedMap {
    fn size(&self) -> CelInt {
        CelInt::from(i64::try_from(self.len()).unwrap_or(i64::MAX))
    }
}

impl Zeroer for SharedMap {
    fn is_zero_value(&self) -> bool {
        self.0.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cel::{Context, Env};

    fn names(words: &[&str]) -> Names {
        let mut names = Names::default();
        for word in words {
            names.insert(word);
        }
        names
    }

    fn evaluate(expression: &str, message: &serde_json::Value, words: &[&str]) -> Value {
        let env = Arc::new(Env::stdlib());
        let program = env.compile(expression).expect("compiles");
        let mut context = Context::with_env(env);
        let value = cel::to_value(message).expect("converts");
        context.add_variable_as_val("message", to_val(&value, &names(words)));
        program.execute(&context).expect("runs")
    }

    #[test]
    fn shared_maps_behave_as_maps() {
        let message = serde_json::json!({
            "urls": [{"host": "a.example", "flags": {"ip": false}}, {"host": "b.example", "flags": {"ip": true}}],
            "properties": {"header.d": "example.net"},
        });
        let words = ["urls", "host", "flags", "ip", "properties"];
        let cases = [
            ("message.urls.exists(u, u.host == 'b.example' && u.flags.ip)", Value::Bool(true)),
            ("message.urls.filter(u, !u.flags.ip).map(u, u.host)", Value::from(vec![Value::from("a.example")])),
            ("size(message.urls[0])", Value::Int(2)),
            ("'host' in message.urls[1]", Value::Bool(true)),
            ("has(message.urls[0].flags)", Value::Bool(true)),
            ("message.urls[0] == message.urls[0]", Value::Bool(true)),
            ("message.urls[0] == message.urls[1]", Value::Bool(false)),
            ("message.urls[0].flags == {'ip': false}", Value::Bool(true)),
            ("message.properties['header.d']", Value::from("example.net")),
        ];
        for (expression, expected) in cases {
            assert_eq!(evaluate(expression, &message, &words), expected, "{expression}");
        }
    }

    #[test]
    fn fields_no_rule_names_are_left_out() {
        let message = serde_json::json!({"subject": "hello", "excerpt": "long text"});
        assert_eq!(evaluate("has(message.subject)", &message, &["subject"]), Value::Bool(true));
        assert_eq!(evaluate("has(message.excerpt)", &message, &["subject"]), Value::Bool(false));
    }

    /// The serializer must build what converting through [`Value`] builds,
    /// field for field, on real analyses: the examples of the built-in
    /// rules, with the names of all built-in expressions.
    #[test]
    fn serializer_matches_conversion() {
        let rules = crate::rules::RuleSet::load(true, &[]).expect("built-in rules compile");
        let analyzer =
            phishloop_analysis::Analyzer::new(phishloop_analysis::Config::default(), phishloop_analysis::Mode::Auto)
                .expect("default analysis configuration");
        let mut compared = 0;
        for rule in rules.rules() {
            for example in &rule.examples {
                let records = analyzer.analyze_input(Some("example"), example.message.as_bytes()).expect("analyses");
                for record in &records {
                    let converted = cel::to_value(record).expect("converts");
                    let expected = Value::try_from(to_val(&converted, rules.names()).as_ref()).expect("back");
                    let built = serialize(record, rules.names()).expect("serializes");
                    let actual = Value::try_from(built.as_ref()).expect("back");
                    assert_eq!(actual, expected, "example of rule {}", rule.id);
                    compared += 1;
                }
            }
        }
        assert!(compared > 50, "{compared} analyses compared");
    }

    #[test]
    fn serializer_matches_conversion_of_enums() {
        #[derive(serde::Serialize)]
        enum Shape {
            Unit,
            Newtype(u8),
            Tuple(i32, String),
            Fields { side: f64, hidden: bool },
        }
        #[derive(serde::Serialize)]
        struct Sample {
            shapes: Vec<Shape>,
            properties: HashMap<String, String>,
            counts: HashMap<u32, bool>,
            missing: Option<String>,
            hidden: &'static str,
        }
        let sample = Sample {
            shapes: vec![
                Shape::Unit,
                Shape::Newtype(3),
                Shape::Tuple(-1, "x".to_string()),
                Shape::Fields { side: 1.5, hidden: true },
            ],
            properties: HashMap::from([("header.d".to_string(), "example.net".to_string())]),
            counts: HashMap::from([(7, true)]),
            missing: None,
            hidden: "left out",
        };
        let words = names(&["shapes", "Newtype", "Tuple", "Fields", "side", "properties", "counts", "missing"]);
        let expected = Value::try_from(to_val(&cel::to_value(&sample).expect("converts"), &words).as_ref());
        let actual = Value::try_from(serialize(&sample, &words).expect("serializes").as_ref());
        assert_eq!(actual, expected);
    }

    #[test]
    fn data_maps_keep_every_key() {
        let message = serde_json::json!({"properties": {"smtp.mailfrom": "a@example.net", "header.d": "example.net"}});
        assert_eq!(evaluate("size(message.properties)", &message, &["properties"]), Value::Int(2));
    }
}
