//! Raw access to the JS objects the shims pass in. Each method is looked up once when the
//! binding is made; a missing one becomes `HostError::InvalidHost` at the first call.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

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
    let status = [get(&get(err, "status"), "statusCode"), get(err, "status"), get(err, "statusCode")]
        .iter()
        .find_map(|v| v.as_f64())
        .unwrap_or(0.0) as u16;
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
