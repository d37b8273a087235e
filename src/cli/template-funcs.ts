/**
 * The functions of src/cli/template.ts: Go's text/template built-ins and docker's additions
 * (docker/cli templates.basicFunctions), and how values print (Go's `%v`) and test (truthiness).
 */

/** What a missing key of an object evaluates to (Go prints a missing map key as `<no value>`). */
export const NO_VALUE = Symbol('no value');

type Fn = (...args: unknown[]) => unknown;

/** Go's `%v` for JSON data: integers plain, lists `[a b]`, objects `map[k:v]` (sorted keys). */
export function printValue(v: unknown): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : goFloat(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(printValue).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `map[${Object.keys(o)
      .sort()
      .map((k) => `${k}:${printValue(o[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

function goFloat(n: number): string {
  // Go's %v of a float64 is %g: an exponent has at least two digits (1e-07, 1e+21).
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Go's truth: false, 0, nil, and empty strings, lists and objects are false. */
export function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new Error(`${what} must be a string, got ${printValue(v)}`);
  return v;
};
const int = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new Error(`${what} must be an integer, got ${printValue(v)}`);
  return v;
};

function basic(v: unknown): string | number | boolean | null {
  if (v === NO_VALUE || v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  throw new Error(`cannot compare ${printValue(v)}: only strings, numbers and booleans`);
}

function order(a: unknown, b: unknown): number {
  const x = basic(a);
  const y = basic(b);
  if (typeof x !== typeof y || x === null || typeof x === 'boolean') {
    throw new Error(`incompatible types for comparison: ${printValue(a)} and ${printValue(b)}`);
  }
  return x < (y as typeof x) ? -1 : x > (y as typeof x) ? 1 : 0;
}

/** Go's fmt.Sprint: a space between operands when neither is a string. */
function sprint(args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += printValue(a);
  });
  return out;
}

/** fmt.Sprintf for the verbs templates use: %v %s %d %q %t %x %f %%, with flags `-`/`0` and a width. */
function sprintf(format: unknown, ...args: unknown[]): string {
  const f = str(format, 'printf format');
  let n = 0;
  return f.replace(
    /%([-0]?)(\d*)(?:\.(\d+))?([vsdqtxf%])/g,
    (_m, flags: string, width: string, prec: string, verb: string) => {
      if (verb === '%') return '%';
      if (n >= args.length) return `%!${verb}(MISSING)`;
      const a = args[n++];
      let s: string;
      switch (verb) {
        case 'd':
          s = String(int(a, '%d operand'));
          break;
        case 'q':
          s = JSON.stringify(typeof a === 'string' ? a : printValue(a));
          break;
        case 'x':
          s = typeof a === 'number' ? a.toString(16) : Buffer.from(printValue(a)).toString('hex');
          break;
        case 'f':
          s = typeof a === 'number' ? a.toFixed(prec ? Number(prec) : 6) : `%!f(${printValue(a)})`;
          break;
        default:
          s = printValue(a);
      }
      const w = Number(width || 0);
      if (s.length >= w) return s;
      if (flags === '-') return s.padEnd(w);
      return flags === '0' && /[dfx]/.test(verb) ? s.padStart(w, '0') : s.padStart(w);
    },
  );
}

function index(v: unknown, ...keys: unknown[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (Array.isArray(cur) || typeof cur === 'string') {
      const i = int(k, 'a list index');
      if (i < 0 || i >= cur.length) throw new Error(`index out of range: ${i}`);
      cur = cur[i];
    } else if (cur !== null && typeof cur === 'object') {
      const key = str(k, 'an object key');
      cur = Object.hasOwn(cur, key) ? (cur as Record<string, unknown>)[key] : null;
    } else throw new Error(`can't index item of type ${cur === NO_VALUE ? 'no value' : typeof cur}`);
  }
  return cur;
}

function length(v: unknown): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (v !== null && typeof v === 'object') return Object.keys(v).length;
  throw new Error(`len of ${printValue(v)}`);
}

export const FUNCS: Record<string, Fn> = {
  // Go's built-ins
  and: (...a) => a.find((x) => !truthy(x)) ?? a.at(-1),
  or: (...a) => a.find((x) => truthy(x)) ?? a.at(-1),
  not: (a) => !truthy(a),
  len: length,
  index,
  slice: (v, i = 0, j?) => {
    if (typeof v !== 'string' && !Array.isArray(v)) throw new Error(`can't slice ${printValue(v)}`);
    return v.slice(int(i, 'slice start'), j === undefined ? undefined : int(j, 'slice end'));
  },
  eq: (a, ...bs) => {
    if (bs.length === 0) throw new Error('missing argument for comparison');
    return bs.some((b) => basic(a) === basic(b));
  },
  ne: (a, b) => basic(a) !== basic(b),
  lt: (a, b) => order(a, b) < 0,
  le: (a, b) => order(a, b) <= 0,
  gt: (a, b) => order(a, b) > 0,
  ge: (a, b) => order(a, b) >= 0,
  print: (...a) => sprint(a),
  printf: sprintf,
  println: (...a) => `${a.map(printValue).join(' ')}\n`,
  // docker's (docker/cli templates/templates.go)
  json: (v) => JSON.stringify(v === NO_VALUE || v === undefined ? null : v),
  join: (list, sep) => {
    if (!Array.isArray(list)) throw new Error(`join needs a list, got ${printValue(list)}`);
    return list.map(printValue).join(str(sep, 'the separator'));
  },
  split: (s, sep) => str(s, 'split input').split(str(sep, 'the separator')),
  lower: (s) => str(s, 'lower input').toLowerCase(),
  upper: (s) => str(s, 'upper input').toUpperCase(),
  title: (s) =>
    str(s, 'title input').replace(
      /(^|[^\p{L}\p{N}'])(\p{L})/gu,
      (_m, a: string, b: string) => a + b.toUpperCase(),
    ),
  pad: (s, l, r) => `${' '.repeat(int(l, 'pad left'))}${printValue(s)}${' '.repeat(int(r, 'pad right'))}`,
  truncate: (s, n) => {
    const t = printValue(s);
    const len = int(n, 'truncate length');
    return t.length <= len ? t : t.slice(0, len);
  },
};
