// An append-only log file for tools that run the runtime (scripts/dev): every line redacted (no
// tokens, signatures or secret keys), readable by its owner only, and a full or failing disk is reported
// once instead of ending the process — the runtime keeps serving, without its log.
import fs from 'node:fs';
import { redact } from './util.mjs';

/**
 * Open `file` for appending, mode 0600 (an existing file is narrowed to 0600 too).
 * `report(error)` is called once, on the first write error; later lines are dropped until a
 * write succeeds again.
 * @returns {{write(line: string): void, end(): Promise<void>}}
 */
export function openLog(file, report) {
  const fd = fs.openSync(file, 'a', 0o600);
  // Only a regular file: a log pointed at a device (or a fifo) keeps that node's mode.
  if (fs.fstatSync(fd).isFile()) fs.fchmodSync(fd, 0o600);
  let failing = false, queue = Promise.resolve();
  return {
    write(line) {
      queue = queue.then(
        () =>
          new Promise((resolve) => {
            const text = redact(line.replace(/\n$/, ''));
            fs.write(fd, text + '\n', (e) => {
              if (e && !failing) report(e);
              failing = !!e;
              resolve();
            });
          }),
      );
    },
    async end() {
      await queue;
      fs.closeSync(fd);
    },
  };
}
