import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { world } from '../harness/world.ts';

// `make bench QUICK=1` keeps working: the comparison runs here, in this test's throwaway world,
// with a handful of iterations. Only that it runs and reports is checked, never a timing.
const out = mkdtempSync(join(tmpdir(), 'dnet-bench-test-'));
after(() => rmSync(out, { recursive: true, force: true }));

test('bench/compare --quick runs every work unit, prints them and writes the JSON and the charts', () => {
  const stdout = execFileSync(
    process.execPath,
    ['--import', 'tsx', join(world.root, 'bench/compare/main.ts'), '--quick', '--out', out],
    {
      cwd: world.root,
      env: { ...process.env, DNET_WORLD: '1' },
      // Under 2 minutes on an idle machine (unit 7, CNI, adds ~15 s); this one is often shared.
      timeout: 420_000,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  ).toString();

  for (const heading of [
    /^1\. attach: namespace \+ interface \+ address \+ NAT \+ one published TCP port/m,
    /^2\. the Nth container on the host/m,
    /^3\. concurrency/m,
    /^4\. publishing 10 ports/m,
    /^5\. IPAM/m,
    /^5\. memory with \d+ endpoints/m,
    /^6\. the kernel floor: /m,
    /^dnet's bridge driver, the figures its issue asks for/m,
    /^ {3}full attach \(sandbox \+ endpoint \+ join \+ NAT \+ one port\): p50 /m,
    /^ {3}publishing 10 ports .*1st container .*10th container/m,
    /^7\. CNI plugin ADD and DEL with one published TCP port/m,
    /^dnet launcher \(C\) +\d/m,
    /^7\. podman start-to-ready/m,
    /^CNI ADD with one port at least 20× faster than bridge\+portmap/m,
    /^goals /m,
  ]) {
    assert.match(stdout, heading);
  }
  // every measured subject has a row in the attach table; the others say why not
  assert.match(stdout, /^kernel floor \((C|in-process)\) +\d+ /m);
  assert.match(stdout, /^dnet \(library\) +\d+ /m);
  for (const [label, row] of [
    ['dnet (daemon API)', /^dnet \(daemon API\) +\d+ /m],
    ['netavark', /^netavark \S+ +\d+ /m],
    ['CNI bridge+portmap', /^CNI bridge\+portmap \S+ +\d+ /m],
  ] as const) {
    const skipped = new RegExp(`^ {2}${label.replace(/[()+]/g, '\\$&')}.*NOT MEASURED`, 'm');
    assert.ok(row.test(stdout) || skipped.test(stdout), `${label}: neither measured nor said why not`);
  }

  const json = join(out, 'compare-quick.json');
  assert.ok(existsSync(json), 'the raw figures are written');
  const r = JSON.parse(readFileSync(json, 'utf8')) as {
    schema: string;
    quick: boolean;
    machine: { cpus: number; kernel: string };
    units: Record<string, unknown>;
    goals: unknown[];
  };
  assert.equal(r.schema, 'dnet-bench-compare/1');
  assert.equal(r.quick, true);
  assert.ok(r.machine.cpus > 0 && r.machine.kernel.length > 0);
  assert.deepEqual(Object.keys(r.units).sort(), [
    'attach',
    'cni',
    'concurrency',
    'ipamMemory',
    'publish10',
    'scale',
  ]);
  assert.ok(r.goals.length >= 5);
  // unit 7: the launcher's ADD and DEL were timed (3 rounds), as was every other plugin present
  const cni = r.units.cni as {
    plugins: { add: Record<string, { n: number }>; del: Record<string, { n: number }> };
  };
  assert.equal(cni.plugins.add.launcher?.n, 3);
  assert.equal(cni.plugins.del.launcher?.n, 3);
  for (const svg of [
    'attach.svg',
    'scale.svg',
    'scale-fill.svg',
    'concurrency.svg',
    'publish10.svg',
    'publish10-fill.svg',
    'ipam.svg',
    'memory.svg',
    'floor.svg',
  ]) {
    const text = readFileSync(join(out, svg), 'utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, svg);
  }

  // the world is clean afterwards: no link but lo, no firewall table
  const links = JSON.parse(execFileSync('ip', ['-j', 'link']).toString()) as { ifname: string }[];
  assert.deepEqual(
    links.map((l) => l.ifname),
    ['lo'],
  );
  const ruleset = JSON.parse(execFileSync('nft', ['-j', 'list', 'ruleset']).toString()) as {
    nftables: Record<string, unknown>[];
  };
  assert.deepEqual(
    ruleset.nftables.filter((o) => !('metainfo' in o)),
    [],
  );
});
