//! The analysis as one flat tree of nodes, for direct evaluation.
//!
//! [`crate::values`] builds the CEL values the interpreter reads: a
//! boxed value per field and a copied string per string, built and dropped
//! for every message. Direct evaluation needs none of that, so it reads a
//! [`Tree`] instead: all nodes in one `Vec` in depth-first order, each
//! with the index just past its subtree, and all strings in one `String`.
//! A tree is cleared and refilled for each message, so after the first few
//! messages building it allocates nothing.
//!
//! The tree contains the same entries as the CEL values: a map entry whose key
//! no rule names is left out unless it sits in one of
//! [`crate::values::DATA_MAPS`], and every serde kind maps to the same CEL
//! type. CEL timestamps and durations, which rules do not read directly,
//! become [`Kind::Opaque`] nodes, which direct evaluation leaves to the
//! interpreter.

use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

use cel::SerializationError;
use serde::ser::{self, Serialize};

use crate::values::{DATA_MAPS, NO_NAME, Names};

/// The serde names of the `cel` crate's (0.15) timestamp and duration
/// wrappers, which `cel::to_value` turns into timestamps and durations.
const CEL_WRAPPERS: [&str; 2] = ["$__cel_private_Timestamp", "$__cel_private_Duration"];

type Result<T> = std::result::Result<T, SerializationError>;

/// Nodes and their strings, reused from message to message.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    nodes: Vec<Slot>,
    /// The entries of every map, each the number of its key in [`Names`]
    /// and the index of its value, so that a field is found without
    /// walking the entries' subtrees.
    entries: Vec<(u32, u32)>,
    text: String,
    bytes: Vec<u8>,
}

/// One node: a value, its key when it is a map entry, and where its
/// subtree ends.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The number of a string key in [`Names`], or [`NO_NAME`].
    number: u32,
    key: Key,
    /// Index of the first node after this node's subtree, which is the next
    /// item of the enclosing list or map.
    end: u32,
    kind: Kind,
}

/// The key of a map entry.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    /// A list item or a root.
    None,
    /// A field name.
    Static(&'static str),
    /// A string key, at `start..end` of [`Tree::text`].
    Text(u32, u32),
    Int(i64),
    UInt(u64),
    Bool(bool),
    /// An entry that a later entry with the same key replaced.
    Removed,
}

/// The type and contents of a node.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    /// A string at `start..end` of [`Tree::text`].
    Text(u32, u32),
    /// Bytes at `start..end` of [`Tree::bytes`].
    Bytes(u32, u32),
    /// A list of `len` items, which follow the node.
    List(u32),
    /// A map, whose entries follow the node. `len` entries without
    /// [`Key::Removed`] ones are listed from `first` on in
    /// [`Tree::entries`].
    Map {
        first: u32,
        len: u32,
    },
    /// A value that direct evaluation does not read, such as a timestamp.
    Opaque,
}

/// A value during direct evaluation: a scalar, or a list, map or opaque
/// node of a tree. Strings and bytes borrow from the tree or the
/// expression.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Node(Ref<'a>),
}

/// A list, map or opaque node of a tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ref<'a> {
    tree: &'a Tree,
    index: u32,
}

impl Tree {
    pub(crate) fn clear(&mut self) {
        self.nodes.clear();
        self.entries.clear();
        self.text.clear();
        self.bytes.clear();
    }

    /// Appends `value` as a new root and returns its index, leaving out the
    /// map entries whose key is not in `names`, as
    /// [`crate::values::serialize`] does.
    ///
    /// # Errors
    ///
    /// Fails where `value` cannot be represented in CEL, such as a map key
    /// that is not a string, an integer or a boolean. The tree is then
    /// unchanged.
    pub(crate) fn push<T: Serialize + ?Sized>(&mut self, value: &T, names: &Names) -> Result<u32> {
        let mark = self.mark();
        let root = mark.0;
        match value.serialize(Builder { tree: self, names, keep_all: false }) {
            Ok(()) => Ok(root),
            Err(error) => {
                self.truncate(mark);
                Err(error)
            }
        }
    }

    /// Appends a converted CEL value as a new root, with every map key
    /// kept, and returns its index. Keys in `names` get their numbers, as
    /// [`crate::values::convert_all`] gives them.
    pub(crate) fn push_value(&mut self, value: &cel::Value, names: &Names) -> u32 {
        let root = self.mark().0;
        self.push_converted(value, names);
        root
    }

    fn push_converted(&mut self, value: &cel::Value, names: &Names) {
        use cel::Value as Cel;
        use cel::objects::Key as CelKey;
        let kind = match value {
            Cel::Null => Kind::Null,
            Cel::Bool(flag) => Kind::Bool(*flag),
            Cel::Int(number) => Kind::Int(*number),
            Cel::UInt(number) => Kind::UInt(*number),
            Cel::Float(number) => Kind::Double(*number),
            Cel::String(text) => self.text_kind(text),
            Cel::Bytes(bytes) => self.bytes_kind(bytes),
            Cel::List(items) => {
                let start = self.open(Kind::List(0));
                for item in items.iter() {
                    self.push_converted(item, names);
                }
                self.close(start);
                return;
            }
            Cel::Map(map) => {
                let start = self.open(Kind::Map { first: 0, len: 0 });
                for (key, item) in map.map.iter() {
                    let entry = self.mark().0;
                    self.push_converted(item, names);
                    let (number, key) = match key {
                        CelKey::String(name) => {
                            let (start, end) = self.push_text(name);
                            (names.number(name).unwrap_or(NO_NAME), Key::Text(start, end))
                        }
                        CelKey::Int(number) => (NO_NAME, Key::Int(*number)),
                        CelKey::Uint(number) => (NO_NAME, Key::UInt(*number)),
                        CelKey::Bool(flag) => (NO_NAME, Key::Bool(*flag)),
                    };
                    self.nodes[index(entry)].number = number;
                    self.nodes[index(entry)].key = key;
                }
                self.close(start);
                return;
            }
            _ => Kind::Opaque,
        };
        self.leaf(kind);
    }

    /// Returns the node at `index`, which [`Tree::push`] or
    /// [`Tree::push_value`] returned.
    pub(crate) fn root(&self, index: u32) -> Value<'_> {
        Ref { tree: self, index }.value()
    }

    /// Returns the current ends of nodes, text and bytes.
    fn mark(&self) -> (u32, usize, usize) {
        (position(self.nodes.len()), self.text.len(), self.bytes.len())
    }

    fn truncate(&mut self, (nodes, text, bytes): (u32, usize, usize)) {
        self.nodes.truncate(index(nodes));
        self.text.truncate(text);
        self.bytes.truncate(bytes);
    }

    fn leaf(&mut self, kind: Kind) {
        let end = position(self.nodes.len() + 1);
        self.nodes.push(Slot { number: NO_NAME, key: Key::None, end, kind });
    }

    /// Starts a list or a map, whose items follow, and returns its index
    /// for [`Tree::close`].
    fn open(&mut self, kind: Kind) -> u32 {
        let start = position(self.nodes.len());
        self.nodes.push(Slot { number: NO_NAME, key: Key::None, end: start, kind });
        start
    }

    /// Ends the list or map at `start`, counting its items and listing
    /// the entries of a map.
    fn close(&mut self, start: u32) {
        let end = position(self.nodes.len());
        let is_map = matches!(self.nodes[index(start)].kind, Kind::Map { .. });
        let first = position(self.entries.len());
        let mut count = 0;
        let mut child = start + 1;
        while child < end {
            let slot = &self.nodes[index(child)];
            if slot.key != Key::Removed {
                count += 1;
                if is_map {
                    self.entries.push((slot.number, child));
                }
            }
            child = slot.end;
        }
        let slot = &mut self.nodes[index(start)];
        slot.end = end;
        slot.kind = if is_map { Kind::Map { first, len: count } } else { Kind::List(count) };
    }

    fn text_kind(&mut self, text: &str) -> Kind {
        let (start, end) = self.push_text(text);
        Kind::Text(start, end)
    }

    /// Appends `text` to the strings and returns where it lies.
    fn push_text(&mut self, text: &str) -> (u32, u32) {
        let start = position(self.text.len());
        self.text.push_str(text);
        (start, position(self.text.len()))
    }

    fn bytes_kind(&mut self, bytes: &[u8]) -> Kind {
        let start = position(self.bytes.len());
        self.bytes.extend_from_slice(bytes);
        Kind::Bytes(start, position(self.bytes.len()))
    }

    fn text_at(&self, start: u32, end: u32) -> &str {
        &self.text[index(start)..index(end)]
    }

    fn key_text(&self, key: Key) -> Option<&str> {
        match key {
            Key::Static(name) => Some(name),
            Key::Text(start, end) => Some(self.text_at(start, end)),
            _ => None,
        }
    }
}

/// Converts a node index to `usize`, which can represent every `u32` on the
/// platforms phishloop builds for.
fn index(position: u32) -> usize {
    position as usize
}

/// Converts a length to a node or text index.
///
/// # Panics
///
/// Panics beyond 4 GiB of text or 2^32 nodes, far above what the
/// analysis of one message holds.
fn position(length: usize) -> u32 {
    u32::try_from(length).expect("a tree has fewer than 2^32 nodes and bytes")
}

impl<'a> Ref<'a> {
    fn slot(self) -> &'a Slot {
        &self.tree.nodes[index(self.index)]
    }

    /// Returns the node as a value: a scalar, or itself for lists, maps
    /// and opaque nodes.
    fn value(self) -> Value<'a> {
        match self.slot().kind {
            Kind::Null => Value::Null,
            Kind::Bool(flag) => Value::Bool(flag),
            Kind::Int(number) => Value::Int(number),
            Kind::UInt(number) => Value::UInt(number),
            Kind::Double(number) => Value::Double(number),
            Kind::Text(start, end) => Value::Text(self.tree.text_at(start, end)),
            Kind::Bytes(start, end) => Value::Bytes(&self.tree.bytes[index(start)..index(end)]),
            Kind::List(_) | Kind::Map { .. } | Kind::Opaque => Value::Node(self),
        }
    }

    pub(crate) fn kind(self) -> Kind {
        self.slot().kind
    }

    /// Returns the items of a list in order, or `None` for any other node.
    pub(crate) fn items(self) -> Option<impl Iterator<Item = Value<'a>>> {
        if !matches!(self.kind(), Kind::List(_)) {
            return None;
        }
        let tree = self.tree;
        let end = self.slot().end;
        let mut next = self.index + 1;
        Some(std::iter::from_fn(move || {
            (next < end).then(|| {
                let item = Ref { tree, index: next };
                next = item.slot().end;
                item.value()
            })
        }))
    }

    /// Returns whether a list contains the string `text`, as `in` and
    /// `equals` of `cel` 0.15 decide: a string item equals it by content,
    /// and an item of another type does not. `None` where an opaque item
    /// comes before a match, or for a node that is no list.
    pub(crate) fn contains_text(self, text: &str) -> Option<bool> {
        if !matches!(self.kind(), Kind::List(_)) {
            return None;
        }
        let end = self.slot().end;
        let mut next = self.index + 1;
        while next < end {
            let slot = &self.tree.nodes[index(next)];
            match slot.kind {
                Kind::Text(start, finish) if self.tree.text_at(start, finish) == text => return Some(true),
                Kind::Opaque => return None,
                _ => {}
            }
            next = slot.end;
        }
        Some(false)
    }

    /// Returns the number of items of a list or entries of a map.
    pub(crate) fn len(self) -> Option<usize> {
        match self.kind() {
            Kind::List(len) | Kind::Map { len, .. } => Some(index(len)),
            _ => None,
        }
    }

    /// Returns the value of a map under the string key `name`, whose
    /// number in [`Names`] is `number` ([`NO_NAME`] to compare by string),
    /// or `None` for a missing key or a node that is no map.
    pub(crate) fn field(self, number: u32, name: &str) -> Option<Value<'a>> {
        let Kind::Map { first, len } = self.kind() else {
            return None;
        };
        let tree = self.tree;
        let entries = tree.entries.get(index(first)..index(first) + index(len))?;
        let found = if number == NO_NAME {
            entries.iter().find(|(_, entry)| tree.key_text(tree.nodes[index(*entry)].key) == Some(name))
        } else {
            entries.iter().find(|(known, _)| *known == number)
        };
        found.map(|(_, entry)| Ref { tree, index: *entry }.value())
    }
}

impl<'a> Ref<'a> {
    /// Returns the value of a map under the string key `name` like
    /// [`Ref::field`], trying the entry at position `hint` first and
    /// storing the position where the key was found.
    pub(crate) fn field_at(self, number: u32, name: &str, hint: &AtomicU32) -> Option<Value<'a>> {
        let Kind::Map { first, len } = self.kind() else {
            return None;
        };
        if number == NO_NAME {
            return self.field(number, name);
        }
        let tree = self.tree;
        let entries = tree.entries.get(index(first)..index(first) + index(len))?;
        let guess = index(hint.load(Relaxed));
        if let Some(&(known, entry)) = entries.get(guess)
            && known == number
        {
            return Some(Ref { tree, index: entry }.value());
        }
        let found = entries.iter().position(|(known, _)| *known == number)?;
        hint.store(position(found), Relaxed);
        Some(Ref { tree, index: entries[found].1 }.value())
    }
}

/// Builds one value at the end of a tree. `keep_all` is true inside
/// [`DATA_MAPS`], where every key is kept.
struct Builder<'t, 'n> {
    tree: &'t mut Tree,
    names: &'n Names,
    keep_all: bool,
}

impl<'t, 'n> Builder<'t, 'n> {
    /// Returns the number of a string key and whether its entry is kept
    /// and keeps all keys below it.
    fn entry(&self, name: &str) -> Option<(u32, bool)> {
        let number = self.names.number(name);
        if number.is_none() && !self.keep_all {
            return None;
        }
        Some((number.unwrap_or(NO_NAME), self.keep_all || DATA_MAPS.contains(&name)))
    }

    fn leaf(self, kind: Kind) -> Result<()> {
        self.tree.leaf(kind);
        Ok(())
    }

    fn list(self) -> Collection<'t, 'n> {
        let start = self.tree.open(Kind::List(0));
        Collection { builder: self, start, variant: None }
    }

    fn map(self) -> Collection<'t, 'n> {
        let start = self.tree.open(Kind::Map { first: 0, len: 0 });
        Collection { builder: self, start, variant: None }
    }

    /// Starts `{variant: collection}` for an externally tagged enum, and
    /// the collection inside, which `open` starts.
    fn variant(self, variant: &'static str, open: impl FnOnce(&mut Tree) -> u32) -> Collection<'t, 'n> {
        let outer = self.tree.open(Kind::Map { first: 0, len: 0 });
        let (keep_all, number) = match self.entry(variant) {
            Some((number, keep_all)) => (keep_all, Some(number)),
            None => (self.keep_all, None),
        };
        let start = open(self.tree);
        let builder = Builder { tree: self.tree, names: self.names, keep_all };
        Collection { builder, start, variant: Some(Variant { outer, name: variant, number }) }
    }

    /// Adds a map entry: builds its value unless the key is left out, then
    /// sets the key on it.
    fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<()> {
        let Some((number, keep_all)) = self.entry(name) else {
            return Ok(());
        };
        let entry = self.tree.mark().0;
        value.serialize(Builder { tree: self.tree, names: self.names, keep_all })?;
        let slot = &mut self.tree.nodes[index(entry)];
        slot.number = number;
        slot.key = Key::Static(name);
        Ok(())
    }
}

/// A list or map under construction.
struct Collection<'t, 'n> {
    /// Builds the items, with the `keep_all` of the collection.
    builder: Builder<'t, 'n>,
    start: u32,
    variant: Option<Variant>,
}

/// The map `{name: collection}` around the collection of an enum variant.
struct Variant {
    outer: u32,
    name: &'static str,
    /// The number of the variant's name, or `None` when the entry is left
    /// out, which leaves the outer map empty.
    number: Option<u32>,
}

impl Collection<'_, '_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let builder = &mut self.builder;
        value.serialize(Builder { tree: builder.tree, names: builder.names, keep_all: builder.keep_all })
    }

    fn end(self) -> Result<()> {
        let tree = self.builder.tree;
        tree.close(self.start);
        if let Some(variant) = self.variant {
            match variant.number {
                Some(number) => {
                    let slot = &mut tree.nodes[index(self.start)];
                    slot.number = number;
                    slot.key = Key::Static(variant.name);
                }
                // The strings of the dropped entry stay in the buffers,
                // unused until the tree is cleared.
                None => tree.nodes.truncate(index(variant.outer) + 1),
            }
            tree.close(variant.outer);
        }
        Ok(())
    }
}

/// A map built from serde's `serialize_key` and `serialize_value` calls,
/// whose keys may repeat: a later value replaces an earlier one, as in a
/// hash map.
struct Map<'t, 'n> {
    collection: Collection<'t, 'n>,
    /// The key given by `serialize_key`, its number and the `keep_all` of
    /// its value, or `None` when the entry is left out.
    next: Option<Option<(Key, u32, bool)>>,
}

impl<'t, 'n> ser::Serializer for Builder<'t, 'n> {
    type Ok = ();
    type Error = SerializationError;
    type SerializeSeq = Collection<'t, 'n>;
    type SerializeTuple = Collection<'t, 'n>;
    type SerializeTupleStruct = Collection<'t, 'n>;
    type SerializeTupleVariant = Collection<'t, 'n>;
    type SerializeMap = Map<'t, 'n>;
    type SerializeStruct = Collection<'t, 'n>;
    type SerializeStructVariant = Collection<'t, 'n>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.leaf(Kind::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<()> {
        self.leaf(Kind::Int(v))
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        self.leaf(Kind::UInt(v))
    }

    fn serialize_f32(self, v: f32) -> Result<()> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<()> {
        self.leaf(Kind::Double(v))
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        let kind = self.tree.text_kind(v);
        self.leaf(kind)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        let kind = self.tree.bytes_kind(v);
        self.leaf(kind)
    }

    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        self.leaf(Kind::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<()> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<()> {
        if CEL_WRAPPERS.contains(&name) {
            return self.leaf(Kind::Opaque);
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        let mut map = self.map();
        map.builder.field(variant, value)?;
        map.end()
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Ok(self.list())
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Ok(self.list())
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeTupleStruct> {
        Ok(self.list())
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Ok(self.variant(variant, |tree| tree.open(Kind::List(0))))
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Ok(Map { collection: self.map(), next: None })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Ok(self.map())
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Ok(self.variant(variant, |tree| tree.open(Kind::Map { first: 0, len: 0 })))
    }
}

impl ser::SerializeSeq for Collection<'_, '_> {
    type Ok = ();
    type Error = SerializationError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.item(value)
    }

    fn end(self) -> Result<()> {
        Collection::end(self)
    }
}

impl ser::SerializeTuple for Collection<'_, '_> {
    type Ok = ();
    type Error = SerializationError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.item(value)
    }

    fn end(self) -> Result<()> {
        Collection::end(self)
    }
}

impl ser::SerializeTupleStruct for Collection<'_, '_> {
    type Ok = ();
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.item(value)
    }

    fn end(self) -> Result<()> {
        Collection::end(self)
    }
}

impl ser::SerializeTupleVariant for Collection<'_, '_> {
    type Ok = ();
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.item(value)
    }

    fn end(self) -> Result<()> {
        Collection::end(self)
    }
}

impl ser::SerializeStruct for Collection<'_, '_> {
    type Ok = ();
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.builder.field(key, value)
    }

    fn end(self) -> Result<()> {
        Collection::end(self)
    }
}

impl ser::SerializeStructVariant for Collection<'_, '_> {
    type Ok = ();
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.builder.field(key, value)
    }

    fn end(self) -> Result<()> {
        Collection::end(self)
    }
}

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = SerializationError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let names = self.collection.builder.names;
        let keep_all = self.collection.builder.keep_all;
        let tree = &mut *self.collection.builder.tree;
        let mark = tree.mark();
        key.serialize(Builder { tree: &mut *tree, names, keep_all: true })?;
        let kind = if tree.nodes.len() == index(mark.0) + 1 { tree.nodes.pop().map(|slot| slot.kind) } else { None };
        self.next = Some(match kind {
            Some(Kind::Text(start, end)) => {
                let name = tree.text_at(start, end);
                let number = names.number(name);
                let keeps_all_below = keep_all || DATA_MAPS.contains(&name);
                if number.is_none() && !keep_all {
                    tree.text.truncate(mark.1);
                    None
                } else {
                    Some((Key::Text(start, end), number.unwrap_or(NO_NAME), keeps_all_below))
                }
            }
            Some(Kind::Int(number)) => Some((Key::Int(number), NO_NAME, keep_all)),
            Some(Kind::UInt(number)) => Some((Key::UInt(number), NO_NAME, keep_all)),
            Some(Kind::Bool(flag)) => Some((Key::Bool(flag), NO_NAME, keep_all)),
            _ => {
                tree.truncate(mark);
                return Err(SerializationError::InvalidKey(
                    "a map key must be a string, an integer or a boolean in CEL".to_string(),
                ));
            }
        });
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let next = self
            .next
            .take()
            .ok_or_else(|| SerializationError::InvalidKey("serialize_value called before serialize_key".to_string()))?;
        let Some((key, number, keep_all)) = next else {
            return Ok(());
        };

        let builder = &mut self.collection.builder;
        let tree = &mut *builder.tree;
        // Removes an earlier entry with the same key.
        let mut child = self.collection.start + 1;
        let end = position(tree.nodes.len());
        while child < end {
            let slot = &tree.nodes[index(child)];
            let same = match (slot.key, key) {
                (Key::Static(_) | Key::Text(..), Key::Text(..)) => tree.key_text(slot.key) == tree.key_text(key),
                (known, key) => known == key,
            };
            let next = slot.end;
            if same {
                tree.nodes[index(child)].key = Key::Removed;
            }
            child = next;
        }

        let entry = position(tree.nodes.len());
        value.serialize(Builder { tree, names: builder.names, keep_all })?;
        let slot = &mut tree.nodes[index(entry)];
        slot.number = number;
        slot.key = key;
        Ok(())
    }

    fn end(self) -> Result<()> {
        self.collection.end()
    }
}
