import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

// The README shows examples/readme.mjs verbatim; the kernel tests run that file (in the checkout,
// and from the packed tarball). This keeps the two from drifting apart.
test("the README's usage example is examples/readme.mjs, verbatim", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const file = readFileSync(new URL('../../examples/readme.mjs', import.meta.url), 'utf8').trimEnd();
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)\n```/g)].map((m) => m[1]);
  assert.ok(
    blocks.some((b) => b === file),
    'README.md has a ```js block equal to examples/readme.mjs',
  );
});

test('the README starts with the two commands', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const first = readme.indexOf('```sh');
  assert.ok(first > 0);
  assert.match(readme.slice(first, first + 200), /make start[\s\S]*make test/);
});
