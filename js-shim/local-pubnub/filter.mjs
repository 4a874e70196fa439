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

const TOKEN = /\s*(?:(\|\||&&|==|!=|<=|>=|<|>|!|\(|\))|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d+)?(?![\w.]))|([A-Za-z_][\w.]*))/y;

export function compileFilter(src) {
  if (!src) return () => true;
  const toks = tokenize(src);
  let i = 0;
  const peek = () => toks[i];
  const eat = (v) => (toks[i]?.v === v ? (i++, true) : false);
  const fail = (why) => {
    throw objectsError(400, 'Invalid filter expression', [{ message: `${why} in ${JSON.stringify(src)}`, location: 'filter', locationType: 'query' }]);
  };

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
    if (eat('!')) {
      const f = unary();
      return (o) => !f(o);
    }
    if (eat('(')) {
      const f = or();
      if (!eat(')')) fail('missing )');
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
      const re = new RegExp('^' + String(value).split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 'i');
      return (o) => typeof get(o) === 'string' && re.test(get(o));
    }
  }
}
