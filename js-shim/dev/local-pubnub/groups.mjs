// Channel groups (Stream Controller): group → channels, plus the reverse index that publish uses
// to find the long-polls listening through a group. Membership changes take effect on live polls
// because delivery looks groups up at publish time.
import { nameProblem, serviceError } from './util.mjs';

const SERVICE = 'channel-registry';

export class Groups {
  constructor({ channelGroupLimit = 2000 } = {}) {
    this.limit = channelGroupLimit;
    this.groups = new Map(); // group → Set<channel>
    this.reverse = new Map(); // channel → Set<group>
  }

  channelsOf(group) {
    return this.groups.get(group) ?? [];
  }
  groupsOf(channel) {
    return this.reverse.get(channel) ?? [];
  }
  list() {
    return [...this.groups.keys()].sort();
  }
  listChannels(group) {
    return [...this.channelsOf(group)].sort();
  }

  /** Validate an add before anything changes, so a refused add changes nothing. */
  checkAdd(group, channels) {
    validateName(group, 'channel group');
    for (const ch of channels) validateName(ch, 'channel');
    const have = this.groups.get(group) ?? new Set();
    const after = new Set([...have, ...channels]).size;
    if (after > this.limit)
      throw serviceError(400, `Channel group ${group} would hold ${after} channels; the limit is ${this.limit}`, SERVICE);
  }

  /** Durable-log records are applied through here, both live and on replay. */
  apply(rec) {
    if (rec.op === 'cg.add') {
      let set = this.groups.get(rec.g);
      if (!set) this.groups.set(rec.g, (set = new Set()));
      for (const ch of rec.ch) {
        set.add(ch);
        if (!this.reverse.has(ch)) this.reverse.set(ch, new Set());
        this.reverse.get(ch).add(rec.g);
      }
    } else if (rec.op === 'cg.rm' || rec.op === 'cg.del') {
      const set = this.groups.get(rec.g);
      if (!set) return;
      for (const ch of rec.op === 'cg.del' ? [...set] : rec.ch) {
        set.delete(ch);
        const rev = this.reverse.get(ch);
        rev?.delete(rec.g);
        if (rev?.size === 0) this.reverse.delete(ch);
      }
      // PubNub forgets a group once it is empty.
      if (set.size === 0) this.groups.delete(rec.g);
    }
  }

  /** Before `rec` is applied: a function that puts back the group it changes (a write that failed). */
  undo(rec) {
    const old = this.groups.has(rec.g) ? [...this.groups.get(rec.g)] : null;
    return () => {
      this.apply({ op: 'cg.del', g: rec.g });
      if (old) this.apply({ op: 'cg.add', g: rec.g, ch: old });
    };
  }

  *snapshot() {
    for (const [g, set] of this.groups) yield { op: 'cg.add', g, ch: [...set] };
  }
}

/** PubNub forbids `,` `:` `*` `/` `\`, space and control characters in names; names ≤ 92 chars. */
export function validateName(name, what, service = SERVICE, opts = {}) {
  const problem = nameProblem(name, opts);
  if (problem) throw serviceError(400, `Invalid ${what} name ${JSON.stringify(name)}: ${problem}`, service);
}
