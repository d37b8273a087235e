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

// Every shell block of the README either runs in a test (`<!-- run: test/... -->` before it, and
// that test reads the README) or says why not (`<!-- not run...: why -->`).
test('every ```sh block of the README runs in a test or says why not', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/(?:<!-- (.*?) -->\n)?```sh\n/g)];
  assert.ok(blocks.length > 0);
  for (const b of blocks) {
    const line = readme.slice(0, b.index).split('\n').length;
    const mark = b[1];
    assert.ok(mark !== undefined, `README.md line ${line}: a sh block without a run/not-run mark`);
    const run = /^run: (test\/\S+\.test\.ts)$/.exec(mark);
    if (run) {
      const file = readFileSync(new URL(`../../${run[1]}`, import.meta.url), 'utf8');
      assert.match(file, /README\.md/, `${run[1]} reads README.md`);
    } else {
      assert.match(
        mark,
        /^not run[^:]*: \S/,
        `README.md line ${line}: the mark says why the block does not run`,
      );
    }
  }
});
