/**
 * Go's text/template, the subset docker's `--format` users write (docs/cli-format.md lists it):
 * fields and nested fields (`.Name`, `.IPAM.Config`), `$` and variables (`$x := ...`), pipelines
 * (`.Name | upper`), parenthesised pipelines, string/number/bool literals, `if`/`else if`/`else`,
 * `range` (with `$i, $v :=` and `else`), `with`, trim markers (`{{-`, `-}}`) and comments; Go's
 * functions and, or, not, len, index, slice, eq, ne, lt, le, gt, ge, print, printf, println, and
 * docker's json, join, split, lower, upper, title, pad, truncate. The data is JSON, so objects
 * behave as Go maps: a missing key prints `<no value>`. `define`, `template`, `block`, `break`
 * and `continue` are refused with a TemplateError saying so.
 */

import { FUNCS, NO_VALUE, printValue, truthy } from './template-funcs.ts';
import { lex, type Token } from './template-lex.ts';

/** A template that cannot be parsed or run: the message says where and why. */
export class TemplateError extends Error {
  readonly code = 'ERR_TEMPLATE';
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

type Block = { t: 'if' | 'with' | 'range'; pipe: Pipe; list: Node[]; else?: Node[] };
type Node = { t: 'text'; text: string } | { t: 'action'; pipe: Pipe } | Block;
interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Arg[][];
}
type Arg =
  | { a: 'field'; base: 'dot' | { a: 'var'; name: string } | Arg; path: string[] }
  | { a: 'fn'; name: string }
  | { a: 'lit'; v: unknown }
  | { a: 'pipe'; pipe: Pipe };

const UNSUPPORTED = new Set(['define', 'template', 'block', 'break', 'continue']);

class Parser {
  private i = 0;
  constructor(
    private readonly toks: Token[][],
    private readonly texts: string[],
  ) {}

  /** The whole template: texts[k] precedes action toks[k]. */
  parse(): Node[] {
    const { list, end } = this.list();
    if (end) throw new TemplateError(`template: unexpected {{${end}}}`);
    return list;
  }

  private list(): { list: Node[]; end?: string; rest?: Token[] } {
    const out: Node[] = [];
    for (;;) {
      const text = this.texts[this.i];
      if (text) out.push({ t: 'text', text });
      const toks = this.toks[this.i++];
      if (!toks) return { list: out };
      if (toks.length === 0) continue; // a comment
      const head = toks[0]!;
      if (head.k === 'ident' && ['end', 'else'].includes(head.v)) {
        return { list: out, end: head.v, rest: toks.slice(1) };
      }
      if (head.k === 'ident' && UNSUPPORTED.has(head.v)) {
        throw new TemplateError(
          `template: {{${head.v}}} is not supported by dnet's --format (see docs/cli-format.md for what is)`,
        );
      }
      if (head.k === 'ident' && ['if', 'with', 'range'].includes(head.v)) {
        out.push(this.block(head.v as 'if' | 'with' | 'range', toks.slice(1)));
      } else out.push({ t: 'action', pipe: pipeline(toks) });
    }
  }

  private block(kind: 'if' | 'with' | 'range', toks: Token[]): Node {
    if (toks.length === 0) throw new TemplateError(`template: missing value for ${kind}`);
    const pipe = pipeline(toks);
    const body = this.list();
    if (!body.end) throw new TemplateError(`template: unexpected EOF: {{${kind}}} has no {{end}}`);
    const node = { t: kind, pipe, list: body.list } as {
      t: typeof kind;
      pipe: Pipe;
      list: Node[];
      else?: Node[];
    };
    if (body.end === 'else') {
      const rest = body.rest ?? [];
      if (rest.length > 0) {
        // {{else if ...}} / {{else with ...}}: a nested block that shares this {{end}}.
        const h = rest[0]!;
        if (h.k !== 'ident' || (h.v !== 'if' && h.v !== 'with')) {
          throw new TemplateError('template: {{else}} takes nothing, or "if"/"with" and a condition');
        }
        node.else = [this.block(h.v, rest.slice(1))];
      } else {
        const e = this.list();
        if (e.end !== 'end') throw new TemplateError(`template: expected {{end}} after {{else}} of ${kind}`);
        node.else = e.list;
      }
    }
    return node;
  }
}

function pipeline(toks: Token[]): Pipe {
  let pos = 0;
  const decl: string[] = [];
  let assign = false;
  // `$x :=`, `$i, $v :=`, `$x =`
  const declEnd = toks.findIndex((t) => t.k === 'op' && (t.v === ':=' || t.v === '='));
  if (declEnd > 0 && toks.slice(0, declEnd).every((t) => t.k === 'var' || (t.k === 'op' && t.v === ','))) {
    for (const t of toks.slice(0, declEnd)) if (t.k === 'var') decl.push(t.v);
    assign = toks[declEnd]!.v === '=';
    pos = declEnd + 1;
  }
  const { pipe, next } = parsePipe(toks, pos, false);
  if (next < toks.length)
    throw new TemplateError(`template: unexpected ${JSON.stringify(toks[next]!.v)} in an action`);
  return { decl, assign, cmds: pipe.cmds };
}

function parsePipe(toks: Token[], start: number, inParen: boolean): { pipe: Pipe; next: number } {
  const cmds: Arg[][] = [[]];
  let i = start;
  while (i < toks.length) {
    const t = toks[i]!;
    if (t.k === 'op' && t.v === ')') {
      if (!inParen) throw new TemplateError('template: unexpected ")"');
      break;
    }
    if (t.k === 'op' && t.v === '|') {
      if (cmds.at(-1)!.length === 0) throw new TemplateError('template: missing command before "|"');
      cmds.push([]);
      i++;
      continue;
    }
    const { arg, next } = parseArg(toks, i);
    cmds.at(-1)!.push(arg);
    i = next;
  }
  if (cmds.some((c) => c.length === 0)) throw new TemplateError('template: missing value for command');
  return { pipe: { decl: [], assign: false, cmds }, next: i };
}

function parseArg(toks: Token[], i: number): { arg: Arg; next: number } {
  const t = toks[i]!;
  let arg: Arg;
  let next = i + 1;
  switch (t.k) {
    case 'field':
      arg = { a: 'field', base: 'dot', path: t.path };
      break;
    case 'var':
      arg = { a: 'field', base: { a: 'var', name: t.v }, path: t.path };
      break;
    case 'str':
      arg = { a: 'lit', v: t.v };
      break;
    case 'num':
      arg = { a: 'lit', v: Number(t.v) };
      break;
    case 'ident':
      if (t.v === 'true' || t.v === 'false') arg = { a: 'lit', v: t.v === 'true' };
      else if (t.v === 'nil') arg = { a: 'lit', v: null };
      else if (FUNCS[t.v]) arg = { a: 'fn', name: t.v };
      else if (UNSUPPORTED.has(t.v) || ['if', 'range', 'with', 'else', 'end'].includes(t.v))
        throw new TemplateError(`template: unexpected keyword ${JSON.stringify(t.v)} inside an action`);
      else
        throw new TemplateError(
          `template: function ${JSON.stringify(t.v)} not defined (functions: ${Object.keys(FUNCS).join(', ')})`,
        );
      break;
    case 'op': {
      if (t.v !== '(') throw new TemplateError(`template: unexpected ${JSON.stringify(t.v)} in an action`);
      const { pipe, next: close } = parsePipe(toks, i + 1, true);
      if (toks[close]?.v !== ')') throw new TemplateError('template: unclosed "(" in an action');
      next = close + 1;
      arg = { a: 'pipe', pipe };
      // (pipeline).Field
      const after = toks[next];
      if (after?.k === 'field' && after.attached) {
        arg = { a: 'field', base: arg, path: after.path };
        next++;
      }
      break;
    }
  }
  return { arg, next };
}

/** A compiled template: `execute(data)` returns the text. */
export interface Template {
  execute(data: unknown): string;
}

export function compileTemplate(source: string): Template {
  const { texts, actions } = lex(source, (m) => new TemplateError(m));
  const tree = new Parser(actions, texts).parse();
  return { execute: (data) => new Exec(data).run(tree) };
}

type Scope = Map<string, unknown>[];

class Exec {
  private out = '';
  private readonly vars: Scope;
  constructor(private readonly root: unknown) {
    this.vars = [new Map([['$', root]])];
  }

  run(nodes: Node[]): string {
    this.walk(nodes, this.root);
    return this.out;
  }

  private walk(nodes: Node[], dot: unknown): void {
    for (const n of nodes) {
      switch (n.t) {
        case 'text':
          this.out += n.text;
          break;
        case 'action': {
          const v = this.pipe(n.pipe, dot);
          if (n.pipe.decl.length === 0) this.out += printValue(v);
          break;
        }
        case 'if':
        case 'with': {
          this.vars.push(new Map());
          const v = this.pipe(n.pipe, dot);
          if (truthy(v)) this.walk(n.list, n.t === 'with' ? v : dot);
          else if (n.else) this.walk(n.else, dot);
          this.vars.pop();
          break;
        }
        case 'range':
          this.range(n, dot);
          break;
      }
    }
  }

  private range(n: Block, dot: unknown): void {
    this.vars.push(new Map());
    const decl = n.pipe.decl;
    const v = this.pipe({ ...n.pipe, decl: [] }, dot);
    let entries: [unknown, unknown][];
    if (Array.isArray(v)) entries = v.map((x, i) => [i, x]);
    else if (v !== null && typeof v === 'object')
      entries = Object.keys(v)
        .sort()
        .map((k) => [k, (v as Record<string, unknown>)[k]]);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0)
      entries = Array.from({ length: v }, (_, i) => [i, i]);
    else if (v === null || v === undefined) entries = [];
    else throw new TemplateError(`template: range can't iterate over ${printValue(v)}`);
    if (entries.length === 0 && n.else) this.walk(n.else, dot);
    for (const [k, x] of entries) {
      const scope = this.vars.at(-1)!;
      if (decl.length === 1) scope.set(decl[0]!, x);
      if (decl.length === 2) {
        scope.set(decl[0]!, k);
        scope.set(decl[1]!, x);
      }
      this.walk(n.list, x);
    }
    this.vars.pop();
  }

  private lookupVar(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--)
      if (this.vars[i]!.has(name)) return this.vars[i]!.get(name);
    throw new TemplateError(`template: undefined variable ${JSON.stringify(name)}`);
  }

  private pipe(p: Pipe, dot: unknown): unknown {
    let v: unknown;
    let first = true;
    for (const cmd of p.cmds) {
      v = this.command(cmd, dot, first ? undefined : { v });
      first = false;
    }
    if (p.decl.length > 0) {
      if (p.assign) {
        const name = p.decl[0]!;
        this.lookupVar(name);
        for (let i = this.vars.length - 1; i >= 0; i--)
          if (this.vars[i]!.has(name)) {
            this.vars[i]!.set(name, v);
            break;
          }
      } else this.vars.at(-1)!.set(p.decl[0]!, v);
    }
    return v;
  }

  private command(cmd: Arg[], dot: unknown, piped: { v: unknown } | undefined): unknown {
    const [head, ...rest] = cmd;
    if (head!.a === 'fn') {
      const args = rest.map((a) => this.arg(a, dot));
      if (piped) args.push(piped.v);
      try {
        return FUNCS[head!.name]!(...args);
      } catch (err) {
        throw new TemplateError(`template: error calling ${head!.name}: ${(err as Error).message}`);
      }
    }
    if (rest.length > 0 || piped) {
      const v = this.arg(head!, dot);
      if (typeof v === 'function') {
        const args = rest.map((a) => this.arg(a, dot));
        if (piped) args.push(piped.v);
        return (v as (...a: unknown[]) => unknown)(...args);
      }
      throw new TemplateError(`template: can't give argument to non-function ${describe(head!)}`);
    }
    return this.arg(head!, dot);
  }

  private arg(a: Arg, dot: unknown): unknown {
    switch (a.a) {
      case 'lit':
        return a.v;
      case 'pipe':
        return this.pipe(a.pipe, dot);
      case 'fn':
        return FUNCS[a.name]!();
      case 'field': {
        const b = a.base;
        let v = b === 'dot' ? dot : b.a === 'var' ? this.lookupVar(b.name) : this.arg(b, dot);
        for (const name of a.path) v = field(v, name);
        return v;
      }
    }
  }
}

function field(v: unknown, name: string): unknown {
  if (v === NO_VALUE || v === null || v === undefined) {
    throw new TemplateError(`template: nil pointer evaluating .${name}`);
  }
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new TemplateError(
      `template: can't evaluate field ${name} in ${Array.isArray(v) ? 'a list' : `a ${typeof v}`}`,
    );
  }
  return Object.hasOwn(v, name) ? (v as Record<string, unknown>)[name] : NO_VALUE;
}

function describe(a: Arg): string {
  return a.a === 'field' ? `.${a.path.join('.')}` : a.a === 'lit' ? JSON.stringify(a.v) : 'a value';
}
