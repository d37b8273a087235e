import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LAUNCHER_SOURCE, writeLauncher } from '../../src/cli/cni.ts';
import { type Attachment, type Backend, BackendError, runCni } from '../../src/cni-spec/verbs.ts';
import { SUPPORTED_VERSIONS } from '../../src/cni-spec/versions.ts';
import { BadRequestError } from '../../src/daemon/api/errors.ts';
import { parseCniCall } from '../../src/daemon/api/routes/cni.ts';

// The daemon's POST /cni (src/daemon/api/routes/cni.ts): the request it takes, and the brain it
// runs (src/cni-spec/verbs.ts) turning the attachments' answers and failures into CNI results.
// The route end to end, over the launcher and a real daemon, is test/kernel/cni-spec.test.ts.

test('POST /cni body: Env strings (CNI_* only kept), Config a string; anything else is a 400', () => {
  assert.deepEqual(
    parseCniCall({ Env: { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0', PATH: '/bin', HOME: '/' }, Config: '{}' }),
    { env: { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0' }, config: '{}' },
  );
  assert.deepEqual(parseCniCall({}), { env: {}, config: '' });
  for (const bad of [undefined, [], 'x', { Env: [] }, { Env: { CNI_COMMAND: 1 } }, { Config: {} }]) {
    assert.throws(() => parseCniCall(bad), BadRequestError, JSON.stringify(bad));
  }
});

const ATT: Attachment = {
  ContainerID: 'c1',
  IfName: 'eth0',
  Netns: '/run/netns/x',
  MacAddress: '02:42:0a:00:00:02',
  HostInterface: 'veth1',
  IPs: [{ Address: '10.0.0.2/24', Gateway: '10.0.0.1' }],
  Routes: [{ Dst: '0.0.0.0/0', Gw: '10.0.0.1' }],
};

/** A backend answering as `fail` says: every call throws it, or succeeds with ATT. */
function backend(fail?: BackendError, calls: string[] = []): Backend {
  const go = async <T>(what: string, v: T): Promise<T> => {
    calls.push(what);
    if (fail) throw fail;
    return v;
  };
  return {
    attach: (b) => go(`attach ${b.Network} ${b.ContainerID} ${b.PortMappings.length}`, ATT),
    detach: (cid, ifName) => go(`detach ${cid}/${ifName}`, undefined),
    check: () => go('check', { Problems: [], Attachment: ATT }),
    gc: (n, valid) => go(`gc ${n} ${valid.length}`, { Removed: [], Errors: [] }),
    status: (n) => go(`status ${n}`, { Ready: true, Message: 'ok' }),
  };
}

const ENV = {
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/x',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/opt/cni/bin',
};
const conf = (v: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ cniVersion: v, name: 'dn', type: 'dnet', ...extra });

test('the brain: each verb is one backend call; ADD returns the result in the config version', async () => {
  const calls: string[] = [];
  const ports = { runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80 }] } };
  const add = await runCni({ ...ENV, CNI_COMMAND: 'ADD' }, conf('0.4.0', ports), () =>
    backend(undefined, calls),
  );
  assert.equal(add.exitCode, 0);
  const r = JSON.parse(add.stdout) as { cniVersion: string; ips: { version: string; interface: number }[] };
  assert.equal(r.cniVersion, '0.4.0');
  assert.deepEqual(r.ips[0], { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1, version: '4' });
  const del = await runCni({ ...ENV, CNI_COMMAND: 'DEL' }, conf('1.1.0'), () => backend(undefined, calls));
  assert.deepEqual(del, { stdout: '', exitCode: 0 });
  const gc = await runCni({ ...ENV, CNI_COMMAND: 'GC' }, conf('1.1.0'), () => backend(undefined, calls));
  assert.equal(gc.exitCode, 0);
  const st = await runCni({ CNI_COMMAND: 'STATUS' }, conf('1.1.0'), () => backend(undefined, calls));
  assert.equal(st.exitCode, 0);
  assert.deepEqual(calls, ['attach dn c1 1', 'detach c1/eth0', 'gc dn 0', 'status dn']);
});

test('the brain: the daemon failures become the CNI codes', async () => {
  const code = async (verb: string, err: BackendError, c = conf('1.1.0')) => {
    const out = await runCni({ ...ENV, CNI_COMMAND: verb }, c, () => backend(err));
    return out.exitCode === 0 ? 0 : (JSON.parse(out.stdout) as { code: number }).code;
  };
  const prev = conf('1.1.0', { prevResult: { cniVersion: '1.1.0' } });
  assert.equal(await code('ADD', new BackendError('unreachable', 'x')), 11);
  assert.equal(await code('ADD', new BackendError(503, 'no address left')), 11);
  assert.equal(await code('ADD', new BackendError(404, 'no network dn')), 7);
  assert.equal(await code('ADD', new BackendError(400, 'bad netns')), 7);
  assert.equal(await code('ADD', new BackendError(409, 'taken')), 100);
  assert.equal(await code('ADD', new BackendError(500, 'bug')), 100);
  assert.equal(await code('DEL', new BackendError(404, 'none')), 0, 'DEL is idempotent');
  assert.equal(await code('DEL', new BackendError('unreachable', 'x')), 11);
  assert.equal(await code('CHECK', new BackendError(404, 'none'), prev), 3);
  assert.equal(await code('GC', new BackendError(404, 'no network')), 0);
  assert.equal(await code('STATUS', new BackendError('unreachable', 'x')), 50);
  assert.equal(await code('STATUS', new BackendError(404, 'no network')), 50);
});

test('the C launcher answers VERSION with the same versions as the brain', () => {
  const c = readFileSync(LAUNCHER_SOURCE, 'utf8');
  const list = /VERSIONS\[\] = \{([^}]*)\}/.exec(c)?.[1] ?? '';
  assert.deepEqual(
    [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]),
    [...SUPPORTED_VERSIONS],
  );
  assert.match(c, new RegExp(`#define LATEST_VERSION "${SUPPORTED_VERSIONS.at(-1)}"`));
});

test('dnet cni install compiles the launcher when no built one is there, and says why it cannot', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cni-fast-launcher-'));
  try {
    const target = join(dir, 'dnet');
    assert.equal(writeLauncher(target, join(dir, 'no-such-build')), undefined);
    const elf = readFileSync(target);
    assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], 'an ELF executable');
    // Linked statically (libc6-dev has libc.a): no program header asks for a dynamic loader.
    const phoff = Number(elf.readBigUInt64LE(0x20));
    const types = Array.from({ length: elf.readUInt16LE(0x38) }, (_, i) =>
      elf.readUInt32LE(phoff + i * elf.readUInt16LE(0x36)),
    );
    assert.ok(types.length > 0 && !types.includes(3), 'no PT_INTERP: statically linked');
    const v = spawnSync(target, [], { input: '{"cniVersion":"0.4.0"}', env: { CNI_COMMAND: 'VERSION' } });
    assert.equal(v.status, 0);
    assert.deepEqual(JSON.parse(v.stdout.toString()), {
      cniVersion: '0.4.0',
      supportedVersions: [...SUPPORTED_VERSIONS],
    });
    // make build's binary, not older than the source: copied as it is.
    writeFileSync(join(dir, 'built'), 'built launcher');
    assert.equal(writeLauncher(join(dir, 'dnet3'), join(dir, 'built'), join(dir, 'no-cc')), undefined);
    assert.equal(readFileSync(join(dir, 'dnet3'), 'utf8'), 'built launcher');
    const why = writeLauncher(join(dir, 'dnet2'), join(dir, 'no-such-build'), join(dir, 'no-cc'));
    assert.match(why ?? '', /no C compiler/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
