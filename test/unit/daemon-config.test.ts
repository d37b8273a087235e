import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { changedSettings, DaemonConfigError, readDaemonConfig } from '../../src/cli/daemon-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'dnet-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

test('dnet daemon --config-file: the settings, checked', () => {
  const f = file(
    'ok.json',
    '{"log-level":"debug","data-dir":"/d","run-dir":"/r","hosts":["unix:///s"],"metrics-addr":"127.0.0.1:9323"}',
  );
  assert.deepEqual(readDaemonConfig(f, true), {
    'log-level': 'debug',
    'data-dir': '/d',
    'run-dir': '/r',
    hosts: ['unix:///s'],
    'metrics-addr': '127.0.0.1:9323',
  });
  assert.deepEqual(readDaemonConfig(file('empty.json', '{}'), true), {});
});

test('a missing file: nothing when it is the default one, an error when it was named', () => {
  const missing = join(dir, 'missing.json');
  assert.equal(readDaemonConfig(missing, false), undefined);
  assert.throws(() => readDaemonConfig(missing, true), /configuration file .*missing\.json: cannot read it/);
});

test('what cannot be used is refused, naming the file and the setting', () => {
  const cases: [string, RegExp][] = [
    ['{"log-level":"loud"}', /"log-level" must be one of trace, debug, info/],
    ['{"data-dir":"relative"}', /"data-dir" must be an absolute path/],
    ['{"hosts":"unix:///s"}', /"hosts" must be an array of strings/],
    ['{"metrics-addr":9323}', /"metrics-addr" must be an address and port/],
    [
      '{"debug":true}',
      /the following directives don't match any configuration option: debug \(known: log-level, data-dir, run-dir, hosts, metrics-addr, bip,/,
    ],
    ['[1]', /must be a JSON object/],
    ['{"log-level":', /not valid JSON/],
  ];
  for (const [text, re] of cases) {
    const f = file('bad.json', text);
    assert.throws(
      () => readDaemonConfig(f, true),
      (e: unknown) => e instanceof DaemonConfigError && e.code === 'ERR_DAEMON_CONFIG' && re.test(e.message),
      text,
    );
  }
});

test('changedSettings: what differs between two readings', () => {
  assert.deepEqual(changedSettings({ 'log-level': 'info' }, { 'log-level': 'debug' }), ['log-level']);
  assert.deepEqual(changedSettings({ hosts: ['a'] }, { hosts: ['a'] }), []);
  assert.deepEqual(changedSettings({ 'data-dir': '/a' }, {}), ['data-dir']);
});
