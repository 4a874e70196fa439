// Drives the wasm core step by step (src/host/step.rs). The core never calls JS: a step
// returns the host calls it needs, this carries them out with the execution's own `pubnub`
// and `kvstore` modules, from the execution's own promise chain, and resumes the core with
// their outcomes. So whatever PubNub charges ops to (the module objects an execution
// required, or the async context a call is made from), each call is charged to its own
// execution. js-shim/function/runtime.js imports it, and so does tests/wasm.rs.

/** One host call `[method path, args]`, e.g. `['pubnub.objects.getUUIDMetadata', [{…}]]`. */
export async function hostCall(modules, call) {
  const path = call[0].split('.');
  let target = modules[path[0]];
  for (let i = 1; i < path.length - 1 && target != null; i++) target = target[path[i]];
  try {
    const method = target == null ? undefined : target[path[path.length - 1]];
    if (typeof method !== 'function') throw new Error(`the host has no ${call[0]}`);
    const value = await method.apply(target, call[1]);
    return `{"ok":${JSON.stringify(value === undefined ? null : value) ?? 'null'}}`;
  } catch (e) {
    // The SDK puts the HTTP status in `status.statusCode`, raw REST errors in `status`.
    const status = Number((e && e.status && e.status.statusCode) || (e && e.status) || (e && e.statusCode)) || 0;
    return `{"err":${JSON.stringify({ status, message: String((e && e.message) || e) })}}`;
  }
}

/** Runs one execution to its end on `core` ({start, resume}); resolves to its report. */
export async function drive(core, modules, input) {
  let step = JSON.parse(core.start(input));
  while (step.calls) {
    const outcomes = await Promise.all(step.calls.map((call) => hostCall(modules, call)));
    step = JSON.parse(core.resume(step.id, `[${outcomes.join(',')}]`));
  }
  return step.done;
}
