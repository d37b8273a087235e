import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

// The README shows examples/readme.ts verbatim; the kernel tests run that file. This keeps the
// two from drifting apart.
test("the README's usage example is examples/readme.ts, verbatim", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const file = readFileSync(new URL('../../examples/readme.ts', import.meta.url), 'utf8').trimEnd();
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)\n```/g)].map((m) => m[1]);
  assert.ok(
    blocks.some((b) => b === file),
    'README.md has a ```ts block equal to examples/readme.ts',
  );
});

test('the README starts with the two commands', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const first = readme.indexOf('```sh');
  assert.ok(first > 0);
  assert.match(readme.slice(first, first + 200), /make start[\s\S]*make test/);
});
