//! The entry points of a Function. `start` begins an execution and `resume` continues it
//! with the outcomes of the host calls the last step asked for; both return the next step as
//! JSON text (see `host::step`). Neither fails: bad input ends in a report that says why.
//!
//! A deployable Function (built without `std`) exports them through `raw`: plain wasm
//! functions over text in linear memory, no imports, no wasm-bindgen. The runtime
//! (`js-shim/function/runtime.js`, `newCore`) is their only caller.

#[allow(unused_imports)]
use crate::prelude::*;
use core::cell::UnsafeCell;

use crate::domain::Json;
use crate::handlers::entry;
use crate::host::step::{Execution, Step};

/// State that lives in the instance between calls. wasm32 without threads: nothing else can
/// touch it while an export runs, and no export re-enters another (the core never calls JS).
struct Instance<T>(UnsafeCell<T>);

unsafe impl<T> Sync for Instance<T> {}

/// Executions in progress, by id. The runtime gives every concurrent execution an instance
/// of its own, so there is normally one; ids keep them apart even when an instance is shared.
static EXECUTIONS: Instance<Vec<Option<Execution>>> = Instance(UnsafeCell::new(Vec::new()));

fn advance(id: usize, step: Step, slots: &mut [Option<Execution>]) -> String {
    if let Step::Done(_) = step {
        if let Some(slot) = slots.get_mut(id) {
            *slot = None;
        }
    }
    step.to_text(id as u32)
}

pub fn start(input: &str) -> String {
    // SAFETY: see `Instance`.
    let slots = unsafe { &mut *EXECUTIONS.0.get() };
    let input = Json::parse(input).unwrap_or(Json::Null);
    let mut execution = match entry::execution(&input) {
        Ok(e) => e,
        Err(report) => return Step::Done(*report).to_text(0),
    };
    let step = execution.resume(Vec::new());
    let id = slots.iter().position(Option::is_none).unwrap_or(slots.len());
    if id == slots.len() {
        slots.push(None);
    }
    if let Some(slot) = slots.get_mut(id) {
        *slot = Some(execution);
    }
    advance(id, step, slots)
}

pub fn resume(id: u32, outcomes: &str) -> String {
    // SAFETY: see `Instance`.
    let slots = unsafe { &mut *EXECUTIONS.0.get() };
    let id = id as usize;
    let step = match slots.get_mut(id).and_then(Option::as_mut) {
        Some(execution) => execution.resume_text(outcomes),
        None => {
            let mut report = crate::handlers::Report::new("runtime");
            report.error("resume of an execution that is not running");
            Step::Done(report)
        }
    };
    advance(id, step, slots)
}

/// The wasm exports of a deployable Function (not of the web package): `memory`, and
///
/// - `input(len) -> ptr`: room for `len` bytes of input, where the runtime writes UTF-8 text;
/// - `start() -> len` / `resume(id) -> len`: [`start`] / [`resume`] on that input; the step's
///   text is then the `len` bytes at `output()`;
/// - `output() -> ptr`: where the last step's text is, valid until the next call.
///
/// Text is passed through two buffers the instance owns, so no pointer changes hands and
/// nothing needs freeing by the runtime. Input that is not UTF-8 reads as empty (refused).
#[cfg(not(feature = "web"))]
mod raw {
    use super::Instance;
    #[allow(unused_imports)]
    use crate::prelude::*;
    use core::cell::UnsafeCell;

    struct Buffers {
        input: Vec<u8>,
        output: String,
    }

    static BUFFERS: Instance<Buffers> = Instance(UnsafeCell::new(Buffers { input: Vec::new(), output: String::new() }));

    fn buffers() -> &'static mut Buffers {
        // SAFETY: see `Instance`; every export takes it once and drops it before returning.
        unsafe { &mut *BUFFERS.0.get() }
    }

    fn text(bytes: &[u8]) -> &str {
        core::str::from_utf8(bytes).unwrap_or("")
    }

    #[no_mangle]
    pub extern "C" fn input(len: usize) -> *mut u8 {
        let b = buffers();
        b.input.clear();
        b.input.resize(len, 0);
        b.input.as_mut_ptr()
    }

    #[no_mangle]
    pub extern "C" fn start() -> usize {
        let b = buffers();
        b.output = super::start(text(&b.input));
        b.output.len()
    }

    #[no_mangle]
    pub extern "C" fn resume(id: u32) -> usize {
        let b = buffers();
        b.output = super::resume(id, text(&b.input));
        b.output.len()
    }

    #[no_mangle]
    pub extern "C" fn output() -> *const u8 {
        buffers().output.as_ptr()
    }
}
