/**
 * The lexer of src/cli/template.ts: splits a Go template into texts and actions, and an action
 * into tokens. Trim markers (`{{- ` and ` -}}`) remove the whitespace next to an action;
 * comments (`{{/* ... *\/}}`) are actions without tokens.
 */

export type Token =
  | { k: 'field'; v: string; path: string[]; attached: boolean }
  | { k: 'var'; v: string; path: string[] }
  | { k: 'str'; v: string }
  | { k: 'num'; v: string }
  | { k: 'ident'; v: string }
  | { k: 'op'; v: string };

/** texts[i] comes before actions[i]; texts has one more entry (the text after the last action). */
export interface Lexed {
  texts: string[];
  actions: Token[][];
}

const IDENT_RE = /[A-Za-z_][A-Za-z0-9_]*/y;
const NUM_RE = /-?(?:0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)/y;
const ESC: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  '"': '"',
  "'": "'",
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
};

export function lex(src: string, fail: (message: string) => Error): Lexed {
  const texts: string[] = [];
  const actions: Token[][] = [];
  let text = '';
  let i = 0;
  let trimNext = false;
  const at = (pos: number) => {
    const line = src.slice(0, pos).split('\n').length;
    return `template: :${line}:${pos - src.lastIndexOf('\n', pos - 1)}`;
  };
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let chunk = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) chunk = chunk.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      text += chunk;
      break;
    }
    let p = open + 2;
    if (src.startsWith('- ', p) || src.startsWith('-\t', p) || src.startsWith('-\n', p)) {
      chunk = chunk.replace(/\s+$/, '');
      p += 2;
    }
    texts.push(text + chunk);
    text = '';
    const r = action(src, p, fail, at);
    actions.push(r.tokens);
    trimNext = r.trim;
    i = r.end;
  }
  texts.push(text);
  return { texts, actions };
}

function action(
  src: string,
  start: number,
  fail: (m: string) => Error,
  at: (pos: number) => string,
): { tokens: Token[]; end: number; trim: boolean } {
  const tokens: Token[] = [];
  let p = start;
  const skipSpace = () => {
    while (p < src.length && /\s/.test(src[p]!)) p++;
  };
  skipSpace();
  if (src.startsWith('/*', p)) return comment(src, p, fail, at);
  for (;;) {
    const spaceBefore = p;
    skipSpace();
    const spaced = p > spaceBefore;
    if (p >= src.length) throw fail(`${at(start)}: unclosed action (no "}}")`);
    if (spaced && src.startsWith('-}}', p)) return { tokens, end: p + 3, trim: true };
    if (src.startsWith('}}', p)) return { tokens, end: p + 2, trim: false };
    const c = src[p]!;
    if (c === '.' || c === '$') {
      const f = fieldOrVar(src, p, { spaced, afterParen: tokens.at(-1)?.v === ')' }, fail, at);
      if (f) {
        tokens.push(f.token);
        p = f.end;
        continue;
      }
    }
    if (c === '"' || c === '`') {
      const { value, end } = stringLit(src, p, fail, at);
      tokens.push({ k: 'str', v: value });
      p = end;
      continue;
    }
    if (c === "'") throw fail(`${at(p)}: character constants are not supported; use a "string"`);
    NUM_RE.lastIndex = p;
    const num = /[-0-9.]/.test(c) ? NUM_RE.exec(src) : null;
    if (num) {
      tokens.push({ k: 'num', v: num[0] });
      p += num[0].length;
      continue;
    }
    IDENT_RE.lastIndex = p;
    const id = IDENT_RE.exec(src);
    if (id) {
      tokens.push({ k: 'ident', v: id[0] });
      p += id[0].length;
      continue;
    }
    if (src.startsWith(':=', p)) {
      tokens.push({ k: 'op', v: ':=' });
      p += 2;
      continue;
    }
    if ('()|=,'.includes(c)) {
      tokens.push({ k: 'op', v: c });
      p++;
      continue;
    }
    throw fail(`${at(p)}: unexpected ${JSON.stringify(c)} in an action`);
  }
}

/** A comment action (`{{/*` to `*\/}}`): no tokens; `-}}` trims the text after it. */
function comment(
  src: string,
  start: number,
  fail: (m: string) => Error,
  at: (pos: number) => string,
): { tokens: Token[]; end: number; trim: boolean } {
  const close = src.indexOf('*/', start + 2);
  if (close < 0) throw fail(`${at(start)}: unclosed comment`);
  let p = close + 2;
  while (p < src.length && /\s/.test(src[p]!)) p++;
  if (src.startsWith('-}}', p)) return { tokens: [], end: p + 3, trim: true };
  if (src.startsWith('}}', p)) return { tokens: [], end: p + 2, trim: false };
  throw fail(`${at(p)}: comment ends without closing delimiter`);
}

/**
 * A field chain (`.A.B`, `.` alone) or a variable with its fields (`$x.A`) at `p`; undefined for a
 * number that starts with a dot (`.5`). `attached`: a field right after `)`, as `(x).A`.
 */
function fieldOrVar(
  src: string,
  p: number,
  ctx: { spaced: boolean; afterParen: boolean },
  fail: (m: string) => Error,
  at: (pos: number) => string,
): { token: Token; end: number } | undefined {
  const isVar = src[p] === '$';
  let q = p + 1;
  let name = isVar ? '$' : '';
  if (isVar) {
    IDENT_RE.lastIndex = q;
    const m = IDENT_RE.exec(src);
    if (m) {
      name += m[0];
      q += m[0].length;
    }
  }
  const path: string[] = [];
  // .A.B.C (for `.` itself: the first name follows the dot just read)
  let needName = !isVar;
  for (;;) {
    if (!needName) {
      if (src[q] !== '.') break;
      q++;
    }
    IDENT_RE.lastIndex = q;
    const m = IDENT_RE.exec(src);
    if (!m) {
      if (needName && path.length === 0 && !isVar) break; // `.` alone
      throw fail(`${at(q)}: expected a field name after "."`);
    }
    path.push(m[0]);
    q += m[0].length;
    needName = false;
  }
  if (/[0-9]/.test(src[p + 1] ?? '') && !isVar) return undefined; // .5 is a number
  const token: Token = isVar
    ? { k: 'var', v: name, path }
    : { k: 'field', v: `.${path.join('.')}`, path, attached: !ctx.spaced && ctx.afterParen };
  return { token, end: q };
}

function stringLit(
  src: string,
  p: number,
  fail: (m: string) => Error,
  at: (pos: number) => string,
): { value: string; end: number } {
  if (src[p] === '`') {
    const close = src.indexOf('`', p + 1);
    if (close < 0) throw fail(`${at(p)}: unterminated raw string`);
    return { value: src.slice(p + 1, close), end: close + 1 };
  }
  let out = '';
  let q = p + 1;
  while (q < src.length && src[q] !== '"') {
    if (src[q] === '\n') break;
    if (src[q] === '\\') {
      const e = src[q + 1] ?? '';
      if (e === 'x' || e === 'u') {
        const len = e === 'x' ? 2 : 4;
        const hex = src.slice(q + 2, q + 2 + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) throw fail(`${at(q)}: bad escape in a string`);
        out += String.fromCodePoint(Number.parseInt(hex, 16));
        q += 2 + len;
        continue;
      }
      const r = ESC[e];
      if (r === undefined) throw fail(`${at(q)}: unknown escape \\${e} in a string`);
      out += r;
      q += 2;
      continue;
    }
    out += src[q];
    q++;
  }
  if (src[q] !== '"') throw fail(`${at(p)}: unterminated quoted string`);
  return { value: out, end: q + 1 };
}
