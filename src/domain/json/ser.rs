//! `serde::Serialize` → JSON text, for messages and KV values. Errors are static strings and
//! floats are refused: nothing this system writes is fractional, and formatting floats would
//! pull ≈ 15 KB of `core::fmt` into every wasm bundle.

#[allow(unused_imports)]
use crate::prelude::*;
use core::fmt;

use serde::ser::{self, Serialize};

use super::text::{write_i64, write_str};
use crate::domain::channels::push_u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SerError(pub &'static str);

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::ser::StdError for SerError {}

impl ser::Error for SerError {
    // The message is dropped on purpose: formatting it could reach float `Display`.
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        SerError("a value could not be serialized")
    }
}

/// Compact JSON text of `value`.
pub fn to_text<T: Serialize + ?Sized>(value: &T) -> Result<String, SerError> {
    let mut w = Writer { out: String::new() };
    let done = value.serialize(&mut w);
    w.finish(done)
}

struct Writer {
    out: String,
}

impl Writer {
    /// The non-generic end of [`to_text`] (one copy, whatever the value's type).
    #[inline(never)]
    fn finish(self, done: Result<(), SerError>) -> Result<String, SerError> {
        done.map(|()| self.out)
    }

    fn float(&mut self, v: f64) -> Result<(), SerError> {
        let n = super::safe_integer(v).ok_or(SerError("fractional numbers are not serialized"))?;
        write_i64(n, &mut self.out);
        Ok(())
    }
}

/// Arrays and objects: `first` decides whether a comma goes before the next item.
pub struct Compound<'a> {
    w: &'a mut Writer,
    first: bool,
    close: char,
}

impl Compound<'_> {
    fn comma(&mut self) {
        if !self.first {
            self.w.out.push(',');
        }
        self.first = false;
    }

    fn key(&mut self, key: &str) {
        self.comma();
        write_str(key, &mut self.w.out);
        self.w.out.push(':');
    }

    fn end(self) -> Result<(), SerError> {
        self.w.out.push(self.close);
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Writer {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), SerError> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), SerError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), SerError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), SerError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), SerError> {
        write_i64(v, &mut self.out);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), SerError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), SerError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), SerError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), SerError> {
        push_u64(&mut self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), SerError> {
        self.float(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), SerError> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), SerError> {
        let mut buf = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut buf))
    }
    fn serialize_str(self, v: &str) -> Result<(), SerError> {
        write_str(v, &mut self.out);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), SerError> {
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for b in v {
            ser::SerializeSeq::serialize_element(&mut seq, b)?;
        }
        seq.end()
    }
    fn serialize_none(self) -> Result<(), SerError> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), SerError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), SerError> {
        self.out.push_str("null");
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), SerError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), SerError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> Result<(), SerError> {
        if name == super::RAW_NUMBER {
            return v.serialize(RawWriter(self));
        }
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), SerError> {
        self.out.push('{');
        write_str(variant, &mut self.out);
        self.out.push(':');
        v.serialize(&mut *self)?;
        self.out.push('}');
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, SerError> {
        self.out.push('[');
        Ok(Compound { w: self, first: true, close: ']' })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Compound<'a>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Compound<'a>, SerError> {
        Err(SerError("tuple variants are not serialized"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, SerError> {
        self.out.push('{');
        Ok(Compound { w: self, first: true, close: '}' })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Compound<'a>, SerError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Compound<'a>, SerError> {
        Err(SerError("struct variants are not serialized"))
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        self.comma();
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &T) -> Result<(), SerError> {
        Err(SerError("tuple variants are not serialized"))
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerError> {
        self.comma();
        key.serialize(KeyWriter(&mut *self.w))?;
        self.w.out.push(':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), SerError> {
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), SerError> {
        self.key(key);
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, _: &'static str, _: &T) -> Result<(), SerError> {
        Err(SerError("struct variants are not serialized"))
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

/// Map keys must be strings in JSON.
struct KeyWriter<'a>(&'a mut Writer);

/// The text of a `Json::Raw` number, written as is.
struct RawWriter<'a>(&'a mut Writer);

macro_rules! only_str {
    ($ty:ident, $what:expr) => {
        impl ser::Serializer for $ty<'_> {
            type Ok = ();
            type Error = SerError;
            type SerializeSeq = ser::Impossible<(), SerError>;
            type SerializeTuple = ser::Impossible<(), SerError>;
            type SerializeTupleStruct = ser::Impossible<(), SerError>;
            type SerializeTupleVariant = ser::Impossible<(), SerError>;
            type SerializeMap = ser::Impossible<(), SerError>;
            type SerializeStruct = ser::Impossible<(), SerError>;
            type SerializeStructVariant = ser::Impossible<(), SerError>;

            fn serialize_str(self, v: &str) -> Result<(), SerError> {
                $ty::put(self.0, v);
                Ok(())
            }
            fn serialize_bool(self, _: bool) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_i8(self, _: i8) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_i16(self, _: i16) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_i32(self, _: i32) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_i64(self, _: i64) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_u8(self, _: u8) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_u16(self, _: u16) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_u32(self, _: u32) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_u64(self, _: u64) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_f32(self, _: f32) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_f64(self, _: f64) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_char(self, _: char) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_bytes(self, _: &[u8]) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_none(self) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_unit(self) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_unit_struct(self, _: &'static str) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_newtype_variant<T: Serialize + ?Sized>(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: &T,
            ) -> Result<(), SerError> {
                Err(SerError($what))
            }
            fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, SerError> {
                Err(SerError($what))
            }
            fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, SerError> {
                Err(SerError($what))
            }
            fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, SerError> {
                Err(SerError($what))
            }
            fn serialize_tuple_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeTupleVariant, SerError> {
                Err(SerError($what))
            }
            fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, SerError> {
                Err(SerError($what))
            }
            fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, SerError> {
                Err(SerError($what))
            }
            fn serialize_struct_variant(
                self,
                _: &'static str,
                _: u32,
                _: &'static str,
                _: usize,
            ) -> Result<Self::SerializeStructVariant, SerError> {
                Err(SerError($what))
            }
        }
    };
}

only_str!(KeyWriter, "map keys must be strings");
only_str!(RawWriter, "a raw number must be text");

impl KeyWriter<'_> {
    fn put(w: &mut Writer, v: &str) {
        write_str(v, &mut w.out);
    }
}

impl RawWriter<'_> {
    fn put(w: &mut Writer, v: &str) {
        w.out.push_str(v);
    }
}
