// Runs its KV calls from one module-level queue drained in a single microtask, the way
// wasm-bindgen-futures polls Rust futures: steps of concurrent executions then run inside
// whichever execution's async context scheduled the drain. Logs how many of its ops succeeded.
const queue = [];
let scheduled = false;
function later(step) {
  queue.push(step);
  if (scheduled) return;
  scheduled = true;
  Promise.resolve().then(() => {
    scheduled = false;
    for (const s of queue.splice(0)) s();
  });
}

export default async (request) => {
  const db = require('kvstore');
  const { id, kv } = request.message;
  let done = 0, error = null;
  try {
    for (let i = 0; i < kv; i++) {
      await new Promise((resolve, reject) => later(() => db.get('x').then(resolve, reject)));
      done++;
    }
  } catch (e) {
    error = e.message;
  }
  console.log(JSON.stringify({ id, done, error }));
  return request.ok();
};
