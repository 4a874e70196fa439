//! Raw access to the JS objects the shims pass in. Each method is looked up once when the
//! binding is made; a missing one becomes `HostError::InvalidHost` at the first call.

#[allow(unused_imports)]
use crate::prelude::*;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::domain::json::{to_text, Json};
use crate::host::{HostError, OpKind};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    pub fn console_log(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    pub fn console_warn(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    pub fn console_error(s: &str);
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify, catch)]
    pub fn json_stringify(v: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    pub fn json_parse(text: &str) -> Result<JsValue, JsValue>;
}

/// A JS value as [`Json`], through `JSON.stringify` and this crate's parser (no
/// serde-wasm-bindgen: see `domain::json`). `undefined` is `null`; a value JSON cannot
/// express (a cycle, a BigInt) is an error with `what` as its reason.
pub fn to_json(v: &JsValue, what: &'static str) -> Result<Json, &'static str> {
    if v.is_undefined() {
        return Ok(Json::Null);
    }
    let text = json_stringify(v).ok().and_then(|t| t.as_string()).ok_or(what)?;
    Json::parse(&text).map_err(|_| what)
}

/// A Rust value as a plain JS value, through JSON text.
pub fn to_js<T: serde::Serialize + ?Sized>(v: &T) -> Result<JsValue, &'static str> {
    let text = to_text(v).map_err(|e| e.0)?;
    json_parse(&text).map_err(|_| "a serialized value was not valid JSON")
}

pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if obj.is_object() || obj.is_function() {
        Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    }
}

/// A bound method: the function plus the object it is called on.
pub struct Method {
    this: JsValue,
    func: Option<Function>,
    pub name: &'static str,
    pub kind: OpKind,
}

impl Method {
    pub fn lookup(this: &JsValue, key: &str, name: &'static str, kind: OpKind) -> Method {
        let func = get(this, key).dyn_into::<Function>().ok();
        Method { this: this.clone(), func, name, kind }
    }

    /// Calls with one argument and awaits the result if it is a promise.
    pub async fn call(&self, args: &[JsValue]) -> Result<JsValue, HostError> {
        let func = self.func.as_ref().ok_or(HostError::InvalidHost(self.name))?;
        let result = match args {
            [] => func.call0(&self.this),
            [a] => func.call1(&self.this, a),
            [a, b] => func.call2(&self.this, a, b),
            [a, b, c, ..] => func.call3(&self.this, a, b, c),
        };
        let value = result.map_err(|e| host_error(&e, self.kind))?;
        JsFuture::from(Promise::resolve(&value)).await.map_err(|e| host_error(&e, self.kind))
    }
}

/// Reads the status code of a rejected call: the JS SDK puts it in `status.statusCode`,
/// raw REST errors in `status`, other hosts in `statusCode`.
pub fn host_error(err: &JsValue, kind: OpKind) -> HostError {
    let status =
        [get(&get(err, "status"), "statusCode"), get(err, "status"), get(err, "statusCode")].iter().find_map(|v| v.as_f64()).unwrap_or(0.0)
            as u16;
    let message = get(err, "message").as_string().or_else(|| err.as_string()).unwrap_or_else(|| describe(err));
    if message.contains("execution calls exceeds") {
        return HostError::BudgetExceeded(kind);
    }
    match status {
        404 => HostError::NotFound,
        412 => HostError::PreconditionFailed,
        _ => HostError::Rejected { status, message },
    }
}

fn describe(v: &JsValue) -> String {
    json_stringify(v).ok().and_then(|s| s.as_string()).unwrap_or_else(|| String::from("unknown error"))
}

/// A plain object from key/value pairs.
pub fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let obj = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&obj, &JsValue::from_str(k), v);
    }
    obj.into()
}

pub fn string_array(items: &[String]) -> JsValue {
    let arr = js_sys::Array::new();
    for s in items {
        arr.push(&JsValue::from_str(s));
    }
    arr.into()
}
