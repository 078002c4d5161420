//! A serde serializer that builds the CEL values rules see straight from
//! the analysis, without the intermediate [`cel::Value`] tree.
//!
//! It gives the same values as [`cel::to_value`] followed by
//! [`super::to_val`]: the same types for each serde kind, the same left-out
//! fields, and the same shared maps. A field that no rule names is skipped
//! before it is built, so its strings and lists are never copied.

use cel::SerializationError;
use cel::common::types::{CelBool, CelBytes, CelDouble, CelInt, CelList, CelMapKey, CelNull, CelString, CelUInt};
use cel::common::value::Val;
use serde::ser::{self, Serialize};

use super::{DATA_MAPS, Entry, NO_NAME, Names, SharedMap, convert};

type Result<T> = std::result::Result<T, SerializationError>;

/// Serializes `value` into a CEL value without the map entries whose key is
/// not in `names`, like [`super::to_val`] does for a converted value.
pub(crate) fn to_val<T: Serialize + ?Sized>(value: &T, names: &Names) -> Result<Box<dyn Val>> {
    value.serialize(Serializer { names, keep_all: false })
}

/// Builds one value. `keep_all` is true inside [`DATA_MAPS`], where every
/// key is kept.
#[derive(Clone, Copy)]
struct Serializer<'n> {
    names: &'n Names,
    keep_all: bool,
}

impl<'n> Serializer<'n> {
    /// Returns the number of `key` in [`Names`] and the serializer for the
    /// value under it, or `None` when the entry is left out.
    fn entry(self, key: &CelMapKey<'static>) -> Option<(u32, Serializer<'n>)> {
        let CelMapKey::String(name) = key else {
            return Some((NO_NAME, self));
        };
        let name: &str = name.inner();
        let number = self.names.number(name);
        if number.is_none() && !self.keep_all {
            return None;
        }
        let keep_all = self.keep_all || DATA_MAPS.contains(&name);
        Some((number.unwrap_or(NO_NAME), Serializer { names: self.names, keep_all }))
    }

    /// Starts a map with room for `capacity` entries.
    fn map(self, capacity: usize) -> MapBuilder<'n> {
        MapBuilder { serializer: self, entries: Vec::with_capacity(capacity), next: None }
    }

    fn list(self, capacity: usize) -> ListBuilder<'n> {
        ListBuilder { serializer: self, items: Vec::with_capacity(capacity) }
    }

    /// Wraps `value` in a one-entry map `{variant: value}`, as serde writes
    /// externally tagged enums.
    fn variant(self, variant: &'static str, value: Box<dyn Val>) -> Box<dyn Val> {
        let mut map = self.map(1);
        map.insert(static_key(variant), |_| Ok(value)).ok();
        map.finish()
    }
}

impl<'n> ser::Serializer for Serializer<'n> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;
    type SerializeSeq = ListBuilder<'n>;
    type SerializeTuple = ListBuilder<'n>;
    type SerializeTupleStruct = ListBuilder<'n>;
    type SerializeTupleVariant = VariantBuilder<'n, ListBuilder<'n>>;
    type SerializeMap = MapBuilder<'n>;
    type SerializeStruct = MapBuilder<'n>;
    type SerializeStructVariant = VariantBuilder<'n, MapBuilder<'n>>;

    fn serialize_bool(self, v: bool) -> Result<Self::Ok> {
        Ok(Box::new(CelBool::from(v)))
    }

    fn serialize_i8(self, v: i8) -> Result<Self::Ok> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<Self::Ok> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<Self::Ok> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<Self::Ok> {
        Ok(Box::new(CelInt::from(v)))
    }

    fn serialize_u8(self, v: u8) -> Result<Self::Ok> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<Self::Ok> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<Self::Ok> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<Self::Ok> {
        Ok(Box::new(CelUInt::from(v)))
    }

    fn serialize_f32(self, v: f32) -> Result<Self::Ok> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<Self::Ok> {
        Ok(Box::new(CelDouble::from(v)))
    }

    fn serialize_char(self, v: char) -> Result<Self::Ok> {
        self.serialize_str(&v.to_string())
    }

    fn serialize_str(self, v: &str) -> Result<Self::Ok> {
        Ok(Box::new(CelString::from(v.to_string())))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Self::Ok> {
        Ok(Box::new(CelBytes::from(v.to_vec())))
    }

    fn serialize_none(self) -> Result<Self::Ok> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Self::Ok> {
        Ok(Box::new(CelNull))
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Self::Ok> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<Self::Ok> {
        self.serialize_str(variant)
    }

    /// Goes through the `cel` crate's own conversion, which turns its
    /// timestamp and duration wrappers into CEL timestamps and durations.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<Self::Ok> {
        Ok(convert(&cel::to_value(value)?, self.names, self.keep_all))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Self::Ok> {
        let mut map = self.map(1);
        map.insert(static_key(variant), |serializer| value.serialize(serializer))?;
        Ok(map.finish())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq> {
        Ok(self.list(len.unwrap_or(0)))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        Ok(self.list(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct> {
        Ok(self.list(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        let inner = self.entry(&static_key(variant)).map_or(self, |(_, inner)| inner).list(len);
        Ok(VariantBuilder { outer: self, variant, inner })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap> {
        Ok(self.map(len.unwrap_or(0)))
    }

    /// Reserves room for every field, although fields that no rule names
    /// are left out, because that costs fewer instructions than growing
    /// the list several times.
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeStruct> {
        Ok(self.map(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        let inner = self.entry(&static_key(variant)).map_or(self, |(_, inner)| inner).map(len);
        Ok(VariantBuilder { outer: self, variant, inner })
    }
}

pub(crate) struct ListBuilder<'n> {
    serializer: Serializer<'n>,
    items: Vec<Box<dyn Val>>,
}

impl ListBuilder<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items.push(value.serialize(self.serializer)?);
        Ok(())
    }

    fn finish(self) -> Box<dyn Val> {
        Box::new(CelList::from(self.items))
    }
}

pub(crate) struct MapBuilder<'n> {
    serializer: Serializer<'n>,
    entries: Vec<Entry>,
    /// The key given by `serialize_key`, waiting for its value.
    next: Option<CelMapKey<'static>>,
}

impl MapBuilder<'_> {
    /// Adds the entry under `key`, building its value with `build` unless
    /// the key is left out. The key must not be in the map yet.
    fn insert(
        &mut self,
        key: CelMapKey<'static>,
        build: impl FnOnce(Serializer<'_>) -> Result<Box<dyn Val>>,
    ) -> Result<()> {
        if let Some((number, serializer)) = self.serializer.entry(&key) {
            let value = build(serializer)?;
            self.entries.push((number, key, value));
        }
        Ok(())
    }

    /// Like [`MapBuilder::insert`], for a key that may repeat one given
    /// before: the later value replaces the earlier one, as in a hash map.
    fn replace(
        &mut self,
        key: CelMapKey<'static>,
        build: impl FnOnce(Serializer<'_>) -> Result<Box<dyn Val>>,
    ) -> Result<()> {
        self.entries.retain(|(_, known, _)| *known != key);
        self.insert(key, build)
    }

    fn finish(self) -> Box<dyn Val> {
        Box::new(SharedMap::new(self.entries))
    }
}

/// An externally tagged enum variant with fields: `{variant: fields}`.
pub(crate) struct VariantBuilder<'n, B> {
    outer: Serializer<'n>,
    variant: &'static str,
    inner: B,
}

impl<'n> ser::SerializeSeq for ListBuilder<'n> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Self::Ok> {
        Ok(self.finish())
    }
}

impl<'n> ser::SerializeTuple for ListBuilder<'n> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Self::Ok> {
        Ok(self.finish())
    }
}

impl<'n> ser::SerializeTupleStruct for ListBuilder<'n> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Self::Ok> {
        Ok(self.finish())
    }
}

impl<'n> ser::SerializeTupleVariant for VariantBuilder<'n, ListBuilder<'n>> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.inner.push(value)
    }

    fn end(self) -> Result<Self::Ok> {
        Ok(self.outer.variant(self.variant, self.inner.finish()))
    }
}

impl<'n> ser::SerializeMap for MapBuilder<'n> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        let serializer = Serializer { names: self.serializer.names, keep_all: true };
        self.next = Some(map_key(key.serialize(serializer)?)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .next
            .take()
            .ok_or_else(|| SerializationError::InvalidKey("serialize_value called before serialize_key".to_string()))?;
        self.replace(key, |serializer| value.serialize(serializer))
    }

    fn end(self) -> Result<Self::Ok> {
        Ok(self.finish())
    }
}

impl<'n> ser::SerializeStruct for MapBuilder<'n> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.insert(static_key(key), |serializer| value.serialize(serializer))
    }

    fn end(self) -> Result<Self::Ok> {
        Ok(self.finish())
    }
}

impl<'n> ser::SerializeStructVariant for VariantBuilder<'n, MapBuilder<'n>> {
    type Ok = Box<dyn Val>;
    type Error = SerializationError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.inner.insert(static_key(key), |serializer| value.serialize(serializer))
    }

    fn end(self) -> Result<Self::Ok> {
        Ok(self.outer.variant(self.variant, self.inner.finish()))
    }
}

/// Returns a map key for a field or variant name that borrows the name
/// instead of copying it, because every message repeats the same names.
fn static_key(name: &'static str) -> CelMapKey<'static> {
    CelMapKey::String(CelString::from(name))
}

/// Turns a serialized key into a map key: a string, an integer or a
/// boolean, as CEL allows.
fn map_key(key: Box<dyn Val>) -> Result<CelMapKey<'static>> {
    if let Some(text) = key.downcast_ref::<CelString>() {
        return Ok(CelMapKey::from(text.inner().to_string()));
    }
    if let Some(number) = key.downcast_ref::<CelInt>() {
        return Ok(CelMapKey::from(*number.inner()));
    }
    if let Some(number) = key.downcast_ref::<CelUInt>() {
        return Ok(CelMapKey::from(*number.inner()));
    }
    if let Some(flag) = key.downcast_ref::<CelBool>() {
        return Ok(CelMapKey::from(*flag.inner()));
    }
    Err(SerializationError::InvalidKey(format!("a map key of type {} is not allowed in CEL", key.get_type().name())))
}
