//! The two functions the runtime (`js-shim/driver.js`) calls. `start` begins an execution
//! and `resume` continues it with the outcomes of the host calls the last step asked for;
//! both return the next step as JSON text (see `host::step`). Neither throws: bad input
//! ends in a report that says why.

#[allow(unused_imports)]
use crate::prelude::*;
use core::cell::UnsafeCell;
use wasm_bindgen::prelude::*;

use crate::domain::Json;
use crate::handlers::entry;
use crate::host::step::{Execution, Step};

/// Executions in progress, by id. The runtime gives every concurrent execution an instance
/// of its own, so there is normally one; ids keep them apart even when an instance is shared.
struct Executions(UnsafeCell<Vec<Option<Execution>>>);

// wasm32 without threads: nothing else can touch it while an export runs.
unsafe impl Sync for Executions {}

static EXECUTIONS: Executions = Executions(UnsafeCell::new(Vec::new()));

fn advance(id: usize, step: Step, slots: &mut [Option<Execution>]) -> String {
    if let Step::Done(_) = step {
        if let Some(slot) = slots.get_mut(id) {
            *slot = None;
        }
    }
    step.to_text(id as u32)
}

#[wasm_bindgen]
pub fn start(input: &str) -> String {
    // SAFETY: single-threaded, and no export re-enters another (the core never calls JS).
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

#[wasm_bindgen]
pub fn resume(id: u32, outcomes: &str) -> String {
    // SAFETY: as in `start`.
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
