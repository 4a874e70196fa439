//! JSON text ⇄ [`Json`], written here rather than borrowed: the wasm build must not link float
//! parsing or formatting (≈ 20 KB of a 64 KB budget), and a number this system does not read
//! is carried as its text ([`Json::Raw`]), so it round-trips exactly.

use super::{Json, JsonObject};
#[allow(unused_imports)]
use crate::prelude::*;

/// Arrays and objects nested deeper than this are not parsed into values (no recursion past
/// it, so bad input never traps): each is kept whole as its text in a [`Json::Raw`], checked
/// for balanced brackets and well-formed strings only. Such a message still has its shallow
/// fields (type, eventId, publisher), so it can be refused with an answer
/// ([`Json::nested_too_deep`]).
pub const MAX_DEPTH: usize = 64;

/// Integers up to 2^53 are exact in JS numbers and in `f64`; larger ones are carried as text.
const SAFE_INT: u64 = 9_007_199_254_740_992;

pub fn parse(text: &str) -> Result<Json, &'static str> {
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    let v = p.value(0)?;
    p.ws();
    if p.i != p.s.len() {
        return Err("trailing characters after JSON value");
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, &'static str> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'[' | b'{') if depth > MAX_DEPTH => self.nested_text(),
            None => Err("unexpected end of JSON"),
            Some(b'n') if self.eat(b"null") => Ok(Json::Null),
            Some(b't') if self.eat(b"true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]") {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(b",") {
                        return Err("expected ',' or ']' in JSON array");
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut obj = JsonObject::default();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Json::Obj(obj));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err("expected a string key in JSON object");
                    }
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return Err("expected ':' in JSON object");
                    }
                    let v = self.value(depth + 1)?;
                    // Last duplicate wins, as with JSON.parse.
                    obj.set(&key, v);
                    self.ws();
                    if self.eat(b"}") {
                        return Ok(Json::Obj(obj));
                    }
                    if !self.eat(b",") {
                        return Err("expected ',' or '}' in JSON object");
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err("unexpected character in JSON"),
        }
    }

    /// The array or object starting here, as its text, without recursion: a stack of the
    /// brackets to close, strings read as strings (a bracket inside one is text).
    fn nested_text(&mut self) -> Result<Json, &'static str> {
        let start = self.i;
        let mut open: Vec<u8> = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return Err("unexpected end of JSON"),
                Some(b'"') => {
                    self.string()?;
                    continue;
                }
                Some(&c @ (b'[' | b'{')) => open.push(if c == b'[' { b']' } else { b'}' }),
                Some(&c @ (b']' | b'}')) => {
                    if open.pop() != Some(c) {
                        return Err("unbalanced brackets in JSON");
                    }
                    if open.is_empty() {
                        self.i += 1;
                        // Starts and ends on ASCII brackets of a &str: valid UTF-8.
                        let text = core::str::from_utf8(&self.s[start..self.i]).map_err(|_| "invalid UTF-8 in JSON")?;
                        return Ok(Json::Raw(text.to_owned()));
                    }
                }
                Some(b',' | b':' | b' ' | b'\t' | b'\n' | b'\r' | b'-' | b'+' | b'.' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z') => {}
                Some(_) => return Err("unexpected character in JSON"),
            }
            self.i += 1;
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, &'static str> {
        let start = self.i;
        let negative = self.eat(b"-");
        let int_start = self.i;
        let int_len = self.digits();
        if int_len == 0 || (int_len > 1 && self.s[int_start] == b'0') {
            return Err("malformed JSON number");
        }
        let mut integral = true;
        if self.eat(b".") {
            integral = false;
            if self.digits() == 0 {
                return Err("malformed JSON number");
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            integral = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err("malformed JSON number");
            }
        }
        let text = &self.s[start..self.i];
        if integral && int_len <= 16 {
            let mut n: u64 = 0;
            for &d in &self.s[int_start..int_start + int_len] {
                n = n * 10 + u64::from(d - b'0');
            }
            if n <= SAFE_INT {
                let v = n as f64;
                return Ok(Json::Num(if negative { -v } else { v }));
            }
        }
        // Validated ASCII above: one char per byte. (`from_utf8_lossy` would bring ~1 KB of
        // wasm into every bundle for a case that cannot happen.)
        Ok(Json::Raw(text.iter().map(|&b| char::from(b)).collect()))
    }

    fn hex4(&mut self) -> Result<u32, &'static str> {
        let mut n = 0;
        for _ in 0..4 {
            let d = match self.s.get(self.i) {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err("malformed \\u escape in JSON string"),
            };
            n = n * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, &'static str> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(&c) = self.s.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The input is a &str and we stopped on ASCII, so this slice is valid UTF-8.
            out.push_str(core::str::from_utf8(&self.s[start..self.i]).map_err(|_| "invalid UTF-8 in JSON string")?);
            match self.s.get(self.i) {
                None => return Err("unterminated JSON string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let esc = *self.s.get(self.i).ok_or("unterminated JSON string")?;
                    self.i += 1;
                    let c = match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&hi) && self.eat(b"\\u") {
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err("unpaired surrogate in JSON string");
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            // A lone surrogate is legal JSON but not a Rust char: keep a marker.
                            char::from_u32(code).unwrap_or('\u{fffd}')
                        }
                        _ => return Err("unknown escape in JSON string"),
                    };
                    out.push(c);
                }
                Some(_) => return Err("control character in JSON string"),
            }
        }
    }
}

/// Appends `v` as compact JSON text.
pub fn write(v: &Json, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Num(n) => write_integer(*n, out),
        Json::Raw(text) => out.push_str(text),
        Json::Str(s) => write_str(s, out),
        Json::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Json::Obj(obj) => {
            out.push('{');
            for (i, (k, item)) in obj.0.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write(item, out);
            }
            out.push('}');
        }
    }
}

/// `Json::Num` holds integers only (see its doc); anything else would be a bug upstream.
fn write_integer(n: f64, out: &mut String) {
    debug_assert!(super::safe_integer(n).is_some(), "Json::Num must hold a safe integer");
    write_i64(n as i64, out);
}

pub fn write_i64(n: i64, out: &mut String) {
    if n < 0 {
        out.push('-');
    }
    super::super::channels::push_u64(out, n.unsigned_abs());
}

pub fn write_str(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
