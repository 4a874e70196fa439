// PubNub's limits, from the one file the three models of PubNub share (src/domain/platform.json;
// tests/core/platform.rs holds the Rust constants to it). The in-memory host and the local
// runtime read them here rather than keeping copies of their own.
import { readFileSync } from 'node:fs';

export const PLATFORM = Object.freeze(JSON.parse(readFileSync(new URL('../src/domain/platform.json', import.meta.url), 'utf8')));
