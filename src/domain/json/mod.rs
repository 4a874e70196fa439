//! A small JSON value. App Context `custom` is replaced as a whole on every write, so the
//! fields this system does not own (e.g. `statusMessage`) must survive read-modify-write
//! untouched: they are carried in this type, in their original order.
//!
//! Values cross the wasm boundary as JSON text (`text`), typed values are written with a
//! serde `Serializer` (`ser`) and read back with [`FromJson`]: no serde-wasm-bindgen and no
//! float code in the bundles.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

pub mod ser;
pub mod text;

pub use ser::{to_text, SerError};

/// `v` as an integer if it is one within ±2^53 (where `f64` and JS numbers are exact).
/// Written without `f64::fract`/`abs`, which `core` lacks.
pub fn safe_integer(v: f64) -> Option<i64> {
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    ((-LIMIT..=LIMIT).contains(&v) && (v as i64) as f64 == v).then_some(v as i64)
}

/// Newtype-struct name by which `Json::Raw` tells the text serializer "write me verbatim".
pub const RAW_NUMBER: &str = "$friends_presence::RawNumber";

#[derive(Clone, Debug, PartialEq, Default)]
pub enum Json {
    #[default]
    Null,
    Bool(bool),
    /// An integer within ±2^53 (the numbers this system reads: counts, epoch ms, ids).
    Num(f64),
    /// Any other number (fraction, exponent, beyond 2^53), kept as its JSON text so a
    /// field this system does not own round-trips exactly; also an array or object nested
    /// past [`text::MAX_DEPTH`], kept as its text ([`Json::nested_too_deep`]).
    Raw(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(JsonObject),
}

/// Object with insertion order kept; lookups are linear (objects here have a handful of keys).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct JsonObject(pub Vec<(String, Json)>);

impl JsonObject {
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn set(&mut self, key: &str, value: Json) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A non-negative integral number (ids, counts, epoch milliseconds).
    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.get(key)? {
            Json::Num(n) => safe_integer(*n).filter(|i| *i >= 0).map(|i| i as u64),
            _ => None,
        }
    }
}

impl Json {
    /// Parses JSON text; malformed text is an error with a static reason, never a panic.
    pub fn parse(text: &str) -> Result<Json, &'static str> {
        text::parse(text)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        text::write(self, &mut out);
        out
    }

    pub fn str(s: &str) -> Json {
        Json::Str(s.to_owned())
    }

    pub fn num(n: u64) -> Json {
        Json::Num(n as f64)
    }

    /// Whether the value holds an array or object nested deeper than the parser reads
    /// ([`text::MAX_DEPTH`]: kept as text, never a raw number).
    pub fn nested_too_deep(&self) -> bool {
        match self {
            Json::Raw(text) => text.starts_with(['[', '{']),
            Json::Arr(items) => items.iter().any(Json::nested_too_deep),
            Json::Obj(obj) => obj.0.iter().any(|(_, v)| v.nested_too_deep()),
            _ => false,
        }
    }

    pub fn as_object(&self) -> Option<&JsonObject> {
        match self {
            Json::Obj(o) => Some(o),
            _ => None,
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            // Integral values go out as integers so JSON text has no ".0".
            Json::Num(n) if safe_integer(*n).is_some() => s.serialize_i64(*n as i64),
            Json::Num(n) => s.serialize_f64(*n),
            Json::Raw(text) => s.serialize_newtype_struct(RAW_NUMBER, text),
            Json::Str(v) => s.serialize_str(v),
            Json::Arr(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Obj(obj) => obj.serialize(s),
        }
    }
}

impl Serialize for JsonObject {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        Json::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        self.visit_f64(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        self.visit_f64(v as f64)
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        // Keeps the `Num` invariant for values that come through serde (native tests only).
        if safe_integer(v).is_some() {
            Ok(Json::Num(v))
        } else {
            Ok(Json::Raw(format!("{v}")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut obj = JsonObject::default();
        while let Some((k, v)) = map.next_entry::<String, Json>()? {
            obj.set(&k, v);
        }
        Ok(Json::Obj(obj))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JsonObject, D::Error> {
        match Json::deserialize(d)? {
            Json::Obj(o) => Ok(o),
            Json::Null => Ok(JsonObject::default()),
            _ => Err(de::Error::custom("expected an object")),
        }
    }
}

/// Reading a typed value back from JSON (KV values, fired work items). Hand-written per type
/// instead of serde's `Deserialize`: smaller in wasm, and every failure has a domain reason.
pub trait FromJson: Sized {
    fn from_json(v: &Json) -> Result<Self, &'static str>;
}

impl FromJson for Json {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        Ok(v.clone())
    }
}

impl FromJson for u64 {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        match v {
            Json::Num(n) => safe_integer(*n).filter(|i| *i >= 0).map(|i| i as u64).ok_or("expected a non-negative integer"),
            _ => Err("expected a non-negative integer"),
        }
    }
}

impl FromJson for String {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        match v {
            Json::Str(s) => Ok(s.clone()),
            _ => Err("expected a string"),
        }
    }
}

/// `null` is absent (read through `field_or(key, None)`).
impl<T: FromJson> FromJson for Option<T> {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        match v {
            Json::Null => Ok(None),
            v => T::from_json(v).map(Some),
        }
    }
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(v: &Json) -> Result<Self, &'static str> {
        match v {
            Json::Arr(items) => items.iter().map(T::from_json).collect(),
            _ => Err("expected an array"),
        }
    }
}

impl JsonObject {
    /// A field read with [`FromJson`]; a missing field is `default`.
    pub fn field_or<T: FromJson>(&self, key: &str, default: T) -> Result<T, &'static str> {
        match self.get(key) {
            None | Some(Json::Null) => Ok(default),
            Some(v) => T::from_json(v),
        }
    }

    pub fn field<T: FromJson>(&self, key: &str) -> Result<T, &'static str> {
        match self.get(key) {
            None => Err("a required field is missing"),
            Some(v) => T::from_json(v),
        }
    }
}
