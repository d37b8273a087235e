import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as errors from '../../src/errors/index.ts';
import {
  ActiveEndpointsError,
  DnetError,
  type ErrorKind,
  errorBody,
  errorResponse,
  HTTP_STATUS_BY_KIND,
  httpStatus,
  InvalidContainerIDError,
  InvalidEndpointNameError,
  InvalidNetworkNameError,
  InvalidOptionError,
  isFullId,
  MAX_CONTAINER_ID_LENGTH,
  MAX_ENDPOINT_NAME_LENGTH,
  MAX_NETWORK_NAME_LENGTH,
  NetlinkError,
  NetworkNameError,
  NetworkTypeError,
  newId,
  shortId,
  UnknownNetworkError,
  validateContainerId,
  validateEndpointName,
  validateNetworkName,
} from '../../src/errors/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// --- discovering every error class under src/ ------------------------------------------------

interface ClassInfo {
  name: string;
  parent: string;
  file: string;
  code?: string;
  kind?: string;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const CLASS_RE = /\bclass\s+([A-Za-z_$][\w$]*)\s+extends\s+([A-Za-z_$][\w$.]*)/g;
const CODE_RE = /\breadonly\s+code\s*(?::[^=;\n]+)?=\s*['"`]([^'"`]+)['"`]/;
const KIND_RE = /\breadonly\s+kind\s*(?::[^=;\n]+)?=\s*['"`]([^'"`]+)['"`]/;

/** Every class under src/ that extends something, with the literal code and kind it declares. */
function scanClasses(): Map<string, ClassInfo> {
  const out = new Map<string, ClassInfo>();
  for (const file of tsFiles(join(root, 'src'))) {
    const src = readFileSync(file, 'utf8');
    const matches = [...src.matchAll(CLASS_RE)];
    matches.forEach((m, i) => {
      const body = src.slice(m.index, matches[i + 1]?.index ?? src.length);
      const info: ClassInfo = { name: m[1]!, parent: m[2]!, file: relative(root, file) };
      const code = CODE_RE.exec(body)?.[1];
      const kind = KIND_RE.exec(body)?.[1];
      if (code !== undefined) info.code = code;
      if (kind !== undefined) info.kind = kind;
      const clash = out.get(info.name);
      assert.ok(clash === undefined, `two classes named ${info.name}: ${clash?.file} and ${info.file}`);
      out.set(info.name, info);
    });
  }
  return out;
}

function descendsFromDnetError(c: ClassInfo, all: Map<string, ClassInfo>): boolean {
  let cur: ClassInfo | undefined = c;
  for (let depth = 0; cur !== undefined && depth < 20; depth++) {
    const parent = cur.parent.split('.').pop()!;
    if (parent === 'DnetError') return true;
    cur = all.get(parent);
  }
  return false;
}

function kindOf(c: ClassInfo, all: Map<string, ClassInfo>): string | undefined {
  let cur: ClassInfo | undefined = c;
  for (let depth = 0; cur !== undefined && depth < 20; depth++) {
    if (cur.kind !== undefined) return cur.kind;
    cur = all.get(cur.parent.split('.').pop()!);
  }
  return undefined;
}

const allClasses = scanClasses();
const errorClasses = [...allClasses.values()].filter((c) => descendsFromDnetError(c, allClasses));
const coded = errorClasses.filter((c) => c.code !== undefined);

interface DocRow {
  code: string;
  cls: string;
  status: number;
}

/** Rows of docs/errors.md's tables whose first cell is an `ERR_...` code. */
function docRows(): DocRow[] {
  const md = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
  const rows: DocRow[] = [];
  for (const line of md.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const code = /^`(ERR_[A-Z0-9_]+)`$/.exec(cells[0] ?? '')?.[1];
    if (code === undefined) continue;
    const cls = /^`([\w$]+)`$/.exec(cells[1] ?? '')?.[1] ?? '';
    rows.push({ code, cls, status: Number(cells[2]) });
  }
  return rows;
}

describe('error catalogue', () => {
  test('the scan finds the known error classes (guards the scanner itself)', () => {
    const names = new Set(coded.map((c) => c.name));
    for (const n of ['NetworkTypeError', 'InvalidOptionError', 'SyscallError', 'InvalidNetnsNameError']) {
      assert.ok(names.has(n), `scanner missed ${n}`);
    }
    assert.ok(coded.length >= 20, `only ${coded.length} error classes found`);
  });

  test('every DnetError subclass exported by src/errors is found by the scan', () => {
    for (const [name, value] of Object.entries(errors)) {
      if (typeof value !== 'function' || !(value.prototype instanceof DnetError)) continue;
      const info = allClasses.get(name);
      assert.ok(info?.code !== undefined, `${name} is exported but the scan found no literal code for it`);
    }
  });

  test('every concrete error class declares a literal code and a valid kind', () => {
    for (const c of errorClasses) {
      if (c.code === undefined) continue; // abstract intermediate classes have none
      assert.match(c.code, /^ERR_[A-Z0-9_]+$/, `${c.name} (${c.file}): code ${c.code}`);
      const kind = kindOf(c, allClasses);
      assert.ok(
        kind !== undefined && Object.hasOwn(HTTP_STATUS_BY_KIND, kind),
        `${c.name} (${c.file}): kind ${kind} is not one of ${Object.keys(HTTP_STATUS_BY_KIND).join(', ')}`,
      );
    }
  });

  test('every code is unique', () => {
    const seen = new Map<string, string>();
    for (const c of coded) {
      const other = seen.get(c.code!);
      assert.equal(other, undefined, `${c.code} is used by ${other} and by ${c.name} (${c.file})`);
      seen.set(c.code!, c.name);
    }
  });

  test('docs/errors.md lists every code with its class and HTTP status', () => {
    const rows = docRows();
    for (const c of coded) {
      const row = rows.find((r) => r.code === c.code);
      assert.ok(row, `docs/errors.md has no row for ${c.code} (${c.name}, ${c.file})`);
      assert.equal(
        row.cls,
        c.name,
        `docs/errors.md: ${c.code} names class ${row.cls}, the code has ${c.name}`,
      );
      const kind = kindOf(c, allClasses) as ErrorKind;
      assert.equal(
        row.status,
        HTTP_STATUS_BY_KIND[kind],
        `docs/errors.md: HTTP status of ${c.code} (kind ${kind})`,
      );
    }
  });

  test('docs/errors.md lists no code that does not exist, and none twice', () => {
    const known = new Set(coded.map((c) => c.code));
    const rows = docRows();
    for (const r of rows) assert.ok(known.has(r.code), `docs/errors.md lists ${r.code}, which no class has`);
    assert.equal(new Set(rows.map((r) => r.code)).size, rows.length, 'a code is listed twice');
  });
});

// --- validate.ts ---------------------------------------------------------------------------

function reasonOf(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DnetError);
    return (err as DnetError & { reason: string }).reason;
  }
  assert.fail('expected a throw');
}

describe('name validation', () => {
  test('accepts Docker-style names', () => {
    for (const n of [
      'a',
      'A',
      '0',
      'my-net',
      'my_net',
      'my.net',
      'project_default',
      'web-1',
      'a'.repeat(255),
    ]) {
      validateNetworkName(n);
      validateEndpointName(n);
    }
    validateContainerId(newId());
    validateContainerId('c'.repeat(MAX_CONTAINER_ID_LENGTH));
  });

  test('throws the class of the object named, with its code and kind', () => {
    assert.throws(() => validateNetworkName(''), InvalidNetworkNameError);
    assert.throws(() => validateEndpointName(''), InvalidEndpointNameError);
    assert.throws(() => validateContainerId(''), InvalidContainerIDError);
    try {
      validateNetworkName('a b');
      assert.fail('expected a throw');
    } catch (err) {
      assert.ok(err instanceof InvalidNetworkNameError);
      assert.equal(err.code, 'ERR_INVALID_NETWORK_NAME');
      assert.equal(err.kind, 'invalid');
      assert.equal(err.networkName, 'a b');
      assert.match(
        err.message,
        /^invalid network name "a b": it contains a space at character 2 \(names start/,
      );
    }
  });

  test('says which rule was broken', () => {
    assert.equal(
      reasonOf(() => validateNetworkName('')),
      'it is empty',
    );
    assert.match(
      reasonOf(() => validateNetworkName('a'.repeat(MAX_NETWORK_NAME_LENGTH + 1))),
      /256 characters long; the limit is 255/,
    );
    assert.match(
      reasonOf(() => validateEndpointName('e'.repeat(MAX_ENDPOINT_NAME_LENGTH + 1))),
      /the limit is 255/,
    );
    assert.match(
      reasonOf(() => validateContainerId('c'.repeat(MAX_CONTAINER_ID_LENGTH + 1))),
      /the limit is 128/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('-net')),
      /starts with "-": the first character must be a letter or digit/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('_net')),
      /starts with "_"/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('.hidden')),
      /starts with "\."/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('a/b')),
      /"\/" at character 2: path separators/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('a\\b')),
      /path separators/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('/a')),
      /path separators/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('a\nb')),
      /control character \(U\+000A\) at character 2/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('a\0')),
      /control character \(U\+0000\)/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('a\tb')),
      /control character \(U\+0009\)/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('a\u00a0b')),
      /whitespace \(U\+00A0\)/,
    );
    assert.match(
      reasonOf(() => validateNetworkName('café')),
      /non-ASCII character "é" \(U\+00E9\) at character 4/,
    );
    for (const c of ['$', '`', ';', '|', '&', '>', '<', '*', '?', '(', '"', "'", '!', '{', '#', '~']) {
      assert.match(
        reasonOf(() => validateNetworkName(`a${c}b`)),
        /shell metacharacters are not allowed/,
        c,
      );
    }
    assert.match(
      reasonOf(() => validateNetworkName(42 as unknown as string)),
      /not a string \(got number\)/,
    );
  });

  test('isFullId, newId, shortId', () => {
    const id = newId();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.ok(isFullId(id));
    assert.notEqual(newId(), id);
    assert.doesNotMatch(id.slice(0, 12), /^[0-9]{12}$/);
    assert.equal(shortId(id), id.slice(0, 12));
    assert.ok(!isFullId(id.toUpperCase()));
    assert.ok(!isFullId(id.slice(1)));
    assert.ok(!isFullId(`${id}0`));
    assert.ok(!isFullId(`${id.slice(1)}g`));
    assert.ok(!isFullId(undefined));
  });
});

// --- http.ts -------------------------------------------------------------------------------

class UnavailableError extends DnetError {
  readonly code = 'ERR_TEST_UNAVAILABLE';
  readonly kind = 'unavailable';
}

describe('HTTP mapping', () => {
  test('each kind maps to its status', () => {
    assert.equal(httpStatus(new InvalidOptionError('mtu', 'x', 'not a number')), 400);
    assert.equal(httpStatus(new ActiveEndpointsError('n', ['e'])), 403);
    assert.equal(httpStatus(new UnknownNetworkError('n')), 404);
    assert.equal(httpStatus(new NetworkTypeError('foo')), 404);
    assert.equal(httpStatus(new NetworkNameError('n')), 409);
    assert.equal(httpStatus(new UnavailableError('plugin timed out')), 503);
    assert.equal(httpStatus(new NetlinkError('RTM_NEWLINK', 17)), 500);
  });

  test('anything that is not a DnetError is 500', () => {
    assert.equal(httpStatus(new Error('boom')), 500);
    assert.equal(httpStatus(new TypeError('x is undefined')), 500);
    assert.equal(httpStatus('a string'), 500);
    assert.equal(httpStatus(undefined), 500);
    assert.equal(httpStatus({ kind: 'invalid', message: 'duck' }), 500);
  });

  test("the body is Docker's { message }", () => {
    const err = new UnknownNetworkError('nope');
    assert.deepEqual(errorBody(err), { message: err.message });
    assert.deepEqual(Object.keys(errorBody(err)), ['message']);
    assert.deepEqual(errorBody(new Error('boom')), { message: 'boom' });
    assert.deepEqual(errorBody('text'), { message: 'text' });
    assert.deepEqual(errorBody(null), { message: 'internal error' });
    assert.deepEqual(errorBody(new Error('')), { message: 'Error' });
    assert.deepEqual(errorResponse(err), { status: 404, body: { message: err.message } });
    assert.equal(JSON.stringify(errorBody(err)), JSON.stringify({ message: err.message }));
  });
});
