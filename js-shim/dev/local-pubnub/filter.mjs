// PubNub's filter language, enough of it for local use — App Context `filter=` and subscribe
// `filter-expr` share it:
//   expr   := or
//   or     := and ('||' and)*
//   and    := unary ('&&' unary)*
//   unary  := '!' unary | '(' expr ')' | field op value
//   op     := == != < <= > >= LIKE        (LIKE: `*` is a wildcard, case-insensitive)
//   value  := "str" | 'str' | number | true | false | null
// Fields are dotted paths into the record: id, name, custom.role, uuid.id, channel.custom.x, ...
import { objectsError } from './util.mjs';

// Our caps (PubNub publishes none): the parser and the compiled filter recurse once per `!` or
// `(` level and once per `&&`/`||` operand, so an unbounded expression would overflow the stack.
export const MAX_FILTER_CHARS = 2048;
export const MAX_FILTER_DEPTH = 32;

const TOKEN = /\s*(?:(\|\||&&|==|!=|<=|>=|<|>|!|\(|\))|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d+)?(?![\w.]))|([A-Za-z_][\w.]*))/y;

export function compileFilter(src) {
  if (!src) return () => true;
  const fail = (why) => {
    throw objectsError(400, 'Invalid filter expression', [{ message: `${why} in ${JSON.stringify(src.slice(0, 200))}`, location: 'filter', locationType: 'query' }]);
  };
  if (src.length > MAX_FILTER_CHARS) fail(`longer than ${MAX_FILTER_CHARS} characters`);
  const toks = tokenize(src);
  let i = 0, depth = 0;
  const peek = () => toks[i];
  const eat = (v) => (toks[i]?.v === v ? (i++, true) : false);

  const or = () => {
    let f = and();
    while (eat('||')) {
      const l = f, r = and();
      f = (o) => l(o) || r(o);
    }
    return f;
  };
  const and = () => {
    let f = unary();
    while (eat('&&')) {
      const l = f, r = unary();
      f = (o) => l(o) && r(o);
    }
    return f;
  };
  const unary = () => {
    if (toks[i]?.v === '!' || toks[i]?.v === '(') {
      if (++depth > MAX_FILTER_DEPTH) fail(`nested deeper than ${MAX_FILTER_DEPTH}`);
      let f;
      if (eat('!')) {
        const g = unary();
        f = (o) => !g(o);
      } else {
        eat('(');
        f = or();
        if (!eat(')')) fail('missing )');
      }
      depth--;
      return f;
    }
    const field = toks[i++];
    if (field?.t !== 'id') fail('expected a field name');
    const op = toks[i++];
    if (!op || !['==', '!=', '<', '<=', '>', '>=', 'LIKE'].includes(op.v.toUpperCase())) fail('expected an operator');
    const val = toks[i++];
    if (!val || !['str', 'num', 'id'].includes(val.t)) fail('expected a value');
    const value = val.t === 'id' ? literal(val.v, fail) : val.value;
    return comparator(field.v, op.v.toUpperCase(), value);
  };

  const f = or();
  if (peek()) fail(`unexpected ${peek().v}`);
  return f;
}

function tokenize(src) {
  const out = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < src.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(src);
    if (!m) {
      if (/^\s*$/.test(src.slice(at))) break;
      throw objectsError(400, 'Invalid filter expression', [{ message: `cannot read ${JSON.stringify(src.slice(at))}`, location: 'filter', locationType: 'query' }]);
    }
    if (m[1]) out.push({ t: 'op', v: m[1] });
    else if (m[2]) out.push({ t: 'str', v: m[2], value: m[2].slice(1, -1).replace(/\\(.)/g, '$1') });
    else if (m[3]) out.push({ t: 'num', v: m[3], value: Number(m[3]) });
    else out.push({ t: m[4].toUpperCase() === 'LIKE' ? 'op' : 'id', v: m[4] });
  }
  return out;
}

function literal(word, fail) {
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (word === 'null') return null;
  return fail(`expected a value, got ${word}`);
}

function comparator(path, op, value) {
  const keys = path.split('.');
  const get = (o) => keys.reduce((v, k) => (v == null ? undefined : v[k]), o);
  switch (op) {
    case '==': return (o) => (get(o) ?? null) === value;
    case '!=': return (o) => (get(o) ?? null) !== value;
    case '<': return (o) => get(o) != null && get(o) < value;
    case '<=': return (o) => get(o) != null && get(o) <= value;
    case '>': return (o) => get(o) != null && get(o) > value;
    case '>=': return (o) => get(o) != null && get(o) >= value;
    case 'LIKE': {
      const parts = String(value).toLowerCase().split('*');
      return (o) => {
        const v = get(o);
        return typeof v === 'string' && likeParts(parts, v.toLowerCase());
      };
    }
  }
}

/**
 * `pattern LIKE text`: `*` matches any run of characters, case-insensitively, everything else is
 * literal. No regex: `a*a*a…b` compiled to `.*` groups backtracks exponentially (ten wildcards against
 * a 40-character name took tens of seconds). `stats.searches` counts segment searches (tests).
 */
export function likeMatch(pattern, text, stats) {
  return likeParts(String(pattern).toLowerCase().split('*'), String(text).toLowerCase(), stats);
}

// The pattern's first and last segments anchor at the ends; each middle segment is searched once,
// left to right, at its leftmost place after the previous one — the leftmost place leaves the most
// room for the rest, so a miss there is a miss everywhere and nothing is ever retried.
function likeParts(parts, s, stats) {
  if (parts.length === 1) return s === parts[0];
  const first = parts[0], last = parts[parts.length - 1];
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
  const end = s.length - last.length;
  let pos = first.length;
  for (let k = 1; k < parts.length - 1; k++) {
    const seg = parts[k];
    if (!seg) continue;
    if (stats) stats.searches++;
    const at = s.indexOf(seg, pos);
    if (at < 0 || at + seg.length > end) return false;
    pos = at + seg.length;
  }
  return true;
}
