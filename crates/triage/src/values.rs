//! The analysis as CEL values, built for fast rule evaluation.
//!
//! The `cel` crate (0.15) copies every list item that `exists`, `all`,
//! `filter` or `map` visits, and a copy of a map copies all that it
//! contains. Two measures keep that cheap:
//!
//! - Fields that no rule names are left out. A field name is any word of
//!   any expression, so a rule always gets the fields it reads.
//! - Maps are shared: [`SharedMap`] holds its entries behind an [`Arc`],
//!   and a copy takes a reference instead of copying the entries.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cel::Value;
use cel::common::traits::{Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    CelBool, CelBytes, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt, Type,
};
use cel::common::value::{Builtin, BuiltinRef, Val};
use cel::objects::Key;

mod serializer;

pub(crate) use serializer::to_val as serialize;

/// Fields whose keys are data rather than field names (`properties` of an
/// authentication result, keyed like `header.d`). They are kept whole.
const DATA_MAPS: &[&str] = &["properties"];

/// Converts `value` into a CEL value without the map entries whose key is
/// not in `names`. Keys that are not strings, and the contents of
/// [`DATA_MAPS`], are kept. Rules get their values from [`serialize`],
/// which builds the same values without the intermediate [`Value`].
#[cfg(test)]
pub(crate) fn to_val(value: &Value, names: &HashSet<String>) -> Box<dyn Val> {
    convert(value, Some(names))
}

fn convert(value: &Value, names: Option<&HashSet<String>>) -> Box<dyn Val> {
    match value {
        Value::Map(map) => {
            let mut entries: HashMap<CelMapKey<'static>, Box<dyn Val>> = HashMap::with_capacity(map.map.len());
            for (key, item) in map.map.iter() {
                let (key, item_names) = match key {
                    Key::String(name) => {
                        if names.is_some_and(|names| !names.contains(name.as_str())) {
                            continue;
                        }
                        let item_names = if DATA_MAPS.contains(&name.as_str()) { None } else { names };
                        (CelMapKey::from(name.as_str().to_string()), item_names)
                    }
                    Key::Int(number) => (CelMapKey::from(*number), names),
                    Key::Uint(number) => (CelMapKey::from(*number), names),
                    Key::Bool(flag) => (CelMapKey::from(*flag), names),
                };
                entries.insert(key, convert(item, item_names));
            }
            Box::new(SharedMap(Arc::new(CelMap::from(entries))))
        }
        Value::List(items) => {
            let items: Vec<Box<dyn Val>> = items.iter().map(|item| convert(item, names)).collect();
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

/// A CEL map whose copies share their entries.
///
/// It reports itself as a built-in map, so functions, `in`, `size`,
/// equality and field selection treat it as one. Only an operation that
/// takes a map by value copies the entries.
#[derive(Debug)]
struct SharedMap(Arc<CelMap<'static>>);

impl Val for SharedMap {
    fn get_type(&self) -> &Type {
        self.0.get_type()
    }

    fn cel_type() -> &'static Type {
        <CelMap<'static> as Val>::cel_type()
    }

    fn as_container(&self) -> Option<&dyn Container> {
        self.0.as_container()
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        self.0.as_indexer()
    }

    fn into_indexer<'v>(self: Box<Self>) -> Option<Box<dyn Indexer + 'v>>
    where
        Self: 'v,
    {
        Box::new(Arc::unwrap_or_clone(self.0)).into_indexer()
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        self.0.as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        self.0.as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        self.0.as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        self.0.equals(other)
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(SharedMap(Arc::clone(&self.0)))
    }

    fn as_builtin<'b, 'v>(&'b self) -> BuiltinRef<'b, 'v>
    where
        Self: 'v,
    {
        BuiltinRef::Map(&self.0)
    }

    fn into_builtin<'v>(self: Box<Self>) -> Option<Builtin<'v>>
    where
        Self: 'v,
    {
        Some(Builtin::Map(Arc::unwrap_or_clone(self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cel::{Context, Env};

    fn names(words: &[&str]) -> HashSet<String> {
        words.iter().map(|word| word.to_string()).collect()
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
