import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NftablesError } from '../../src/errors/index.ts';
import { createNetns, deleteNetns } from '../../src/os/netns/index.ts';
import {
  applyNft,
  expr,
  libnftablesVersion,
  listNft,
  NFT_PRIO,
  NftHandle,
  NftPlan,
  nftElements,
  nftMap,
  nftSet,
  stmt,
  type TableRef,
} from '../../src/os/nftables/index.ts';
import { FD_SETSIZE, heldLowFds } from '../../src/os/nftables/low-fds.ts';
import { world } from '../harness/world.ts';

// Everything below runs inside the throwaway world (its own network namespace): the host's
// firewall is never seen. The nft CLI is used only to cross-check what libnftables did.

const nft = (...args: string[]) => execFileSync('nft', args, { encoding: 'utf8' });
const nftJson = (...args: string[]) =>
  JSON.parse(nft('-j', ...args)) as { nftables: Record<string, unknown>[] };

const t: TableRef = { family: 'ip', table: 'dnet' };
const KEY3 = ['ipv4_addr', 'inet_proto', 'inet_service'] as const;
// Published ports: one map for the new address, one for the new port, both keyed by
// `daddr . l4proto . dport` (libnftables 1.0.6 cannot create a map with `addr . port` values).
const pmAddr = nftMap({ ...t, name: 'pm_addr', type: KEY3, map: 'ipv4_addr', flags: ['interval'] });
const pmPort = nftMap({ ...t, name: 'pm_port', type: KEY3, map: 'inet_service', flags: ['interval'] });
const bridges = nftMap({ ...t, name: 'bridges', type: 'ifname', map: 'verdict' });
const trusted = nftSet({ ...t, name: 'trusted', type: 'ipv4_addr', flags: ['interval'] });
const key = expr.concat(expr.payload('ip', 'daddr'), expr.meta('l4proto'), expr.payload('th', 'dport'));

const dnatRule = [
  stmt.match(expr.meta('l4proto'), '==', expr.set(['tcp', 'udp'])),
  stmt.match(expr.fib('type', ['daddr']), '==', 'local'),
  stmt.dnat({
    family: 'ip',
    addr: expr.map(key, expr.ref('pm_addr')),
    port: expr.map(key, expr.ref('pm_port')),
  }),
];
const masqRule = [
  stmt.match(expr.payload('ip', 'saddr'), '==', expr.prefix('172.17.0.0/16')),
  stmt.match(expr.meta('oifname'), '!=', 'br0'),
  stmt.masquerade(),
];
const ctRule = [stmt.match(expr.ct('state'), 'in', ['established', 'related']), stmt.accept()];
const vmapRule = [stmt.vmap(expr.meta('iifname'), expr.ref('bridges'))];

function rulesetPlan(): NftPlan {
  return new NftPlan()
    .addTable(t)
    .addSet(pmAddr)
    .addSet(pmPort)
    .addSet(bridges)
    .addSet(trusted)
    .addChain(t, 'prerouting', { type: 'nat', hook: 'prerouting', prio: NFT_PRIO.dstnat, policy: 'accept' })
    .addChain(t, 'postrouting', { type: 'nat', hook: 'postrouting', prio: NFT_PRIO.srcnat, policy: 'accept' })
    .addChain(t, 'forward', { type: 'filter', hook: 'forward', prio: NFT_PRIO.filter, policy: 'drop' })
    .addChain(t, 'br0_in')
    .addRule(t, 'prerouting', dnatRule, { comment: 'published ports' })
    .addRule(t, 'postrouting', masqRule)
    .addRule(t, 'forward', ctRule)
    .addRule(t, 'forward', vmapRule)
    .addRule(t, 'br0_in', [stmt.match(expr.payload('ip', 'saddr'), '==', expr.ref('trusted')), stmt.accept()])
    .addElements(bridges, [['br0', stmt.jump('br0_in')]])
    .addElements(trusted, [expr.prefix('10.0.0.0/8')])
    .addElements(pmAddr, [
      [expr.concat('192.0.2.1', 'tcp', 8080), '172.17.0.2'],
      [expr.concat('192.0.2.1', 'tcp', expr.range(9000, 9010)), '172.17.0.3'],
    ])
    .addElements(pmPort, [
      [expr.concat('192.0.2.1', 'tcp', 8080), 80],
      [expr.concat('192.0.2.1', 'tcp', expr.range(9000, 9010)), 9000],
    ]);
}

/** Another table, made with the nft CLI, that our operations must never touch. */
const OTHER = `table ip other {
  set blocked { type ipv4_addr; elements = { 198.51.100.7 } }
  chain input { type filter hook input priority 10; policy accept;
    ip saddr @blocked drop
    tcp dport 22 accept comment "ssh"
  }
}`;

describe('nftables through libnftables (in-process)', () => {
  let otherBefore: unknown;

  before(() => {
    execFileSync('nft', ['-f', '-'], { input: OTHER });
    otherBefore = nftJson('list', 'table', 'ip', 'other');
  });

  after(() => {
    // The other table is exactly as it was, whatever we applied, failed or deleted meanwhile.
    assert.deepEqual(nftJson('list', 'table', 'ip', 'other'), otherBefore);
  });

  test('libnftables is loaded and tells its version', () => {
    assert.match(libnftablesVersion(), /^\d+\.\d+\.\d+/);
    assert.equal(
      libnftablesVersion(),
      (nftJson('list', 'tables').nftables[0]?.metainfo as { version: string }).version,
    );
  });

  test('apply a ruleset and read it back through libnftables JSON', () => {
    applyNft(rulesetPlan());
    const rs = listNft({ table: { family: 'ip', name: 'dnet' } });
    assert.deepEqual(
      rs.tables.map((x) => [x.family, x.name]),
      [['ip', 'dnet']],
    );
    assert.deepEqual(
      rs.chains.map(({ handle: _h, ...c }) => c),
      [
        {
          family: 'ip',
          table: 'dnet',
          name: 'prerouting',
          type: 'nat',
          hook: 'prerouting',
          prio: -100,
          policy: 'accept',
        },
        {
          family: 'ip',
          table: 'dnet',
          name: 'postrouting',
          type: 'nat',
          hook: 'postrouting',
          prio: 100,
          policy: 'accept',
        },
        {
          family: 'ip',
          table: 'dnet',
          name: 'forward',
          type: 'filter',
          hook: 'forward',
          prio: 0,
          policy: 'drop',
        },
        { family: 'ip', table: 'dnet', name: 'br0_in' },
      ],
    );
    const maps = Object.fromEntries(rs.maps.map((m) => [m.name, m]));
    assert.deepEqual(maps.pm_addr?.type, [...KEY3]);
    assert.equal(maps.pm_addr?.map, 'ipv4_addr');
    assert.deepEqual(maps.pm_addr?.flags, ['interval']);
    assert.equal(maps.pm_port?.map, 'inet_service');
    assert.equal(maps.bridges?.map, 'verdict');
    assert.deepEqual(maps.pm_addr?.elem, [
      [{ concat: ['192.0.2.1', 'tcp', 8080] }, '172.17.0.2'],
      [{ concat: ['192.0.2.1', 'tcp', { range: [9000, 9010] }] }, '172.17.0.3'],
    ]);
    assert.deepEqual(maps.pm_port?.elem, [
      [{ concat: ['192.0.2.1', 'tcp', 8080] }, 80],
      [{ concat: ['192.0.2.1', 'tcp', { range: [9000, 9010] }] }, 9000],
    ]);
    assert.deepEqual(maps.bridges?.elem, [['br0', { jump: { target: 'br0_in' } }]]);
    assert.deepEqual(rs.sets[0]?.elem, [{ prefix: { addr: '10.0.0.0', len: 8 } }]);

    // Rules come back as sent, except that libnftables leaves out the implicit `family` of
    // dnat in an ip table.
    const rules = rs.rules.map((r) => [r.chain, r.comment, r.expr]);
    const dnatListed = structuredClone(dnatRule);
    delete (dnatListed[2] as { dnat: { family?: string } }).dnat.family;
    assert.deepEqual(rules, [
      ['prerouting', 'published ports', dnatListed],
      ['postrouting', undefined, masqRule],
      ['forward', undefined, ctRule],
      ['forward', undefined, vmapRule],
      [
        'br0_in',
        undefined,
        [stmt.match(expr.payload('ip', 'saddr'), '==', expr.ref('trusted')), stmt.accept()],
      ],
    ]);
    // The nft CLI reads the same rules as text.
    const text = nft('list', 'chain', 'ip', 'dnet', 'prerouting');
    assert.match(
      text,
      /dnat ip to ip daddr \. meta l4proto \. th dport map @pm_addr:ip daddr \. meta l4proto \. th dport map @pm_port|dnat to ip daddr \. meta l4proto \. th dport map @pm_addr:ip daddr \. meta l4proto \. th dport map @pm_port/,
    );
  });

  test('our listing equals `nft -j list ruleset`', () => {
    const ours = listNft({ ruleset: null });
    const cli = nftJson('list', 'ruleset').nftables;
    const flat = [
      ...ours.tables.map((x) => ({ table: x })),
      ...ours.sets.map((x) => ({ set: x })),
      ...ours.maps.map((x) => ({ map: x })),
      ...ours.chains.map((x) => ({ chain: x })),
      ...ours.rules.map((x) => ({ rule: x })),
    ];
    const kinds = (o: Record<string, unknown>) => Object.keys(o)[0] ?? '';
    const sortKey = (o: Record<string, unknown>) => JSON.stringify(o);
    const cliObjects = cli.filter((o) => kinds(o) !== 'metainfo');
    assert.deepEqual(flat.map(sortKey).sort(), cliObjects.map(sortKey).sort());
    assert.equal(ours.other.length, 0);
    assert.ok(
      ours.tables.some((x) => x.name === 'other'),
      'the listing also shows the other table',
    );
  });

  test('add and delete elements, read back', () => {
    applyNft(
      new NftPlan()
        .addElements(pmAddr, [[expr.concat('192.0.2.1', 'udp', 53), '172.17.0.4']])
        .addElements(pmPort, [[expr.concat('192.0.2.1', 'udp', 53), 5353]])
        .addElements(bridges, [['br1', stmt.goto('br0_in')]])
        .addElements(trusted, [expr.range('192.168.0.10', '192.168.0.20')]),
    );
    assert.deepEqual(nftElements(pmPort), [
      [{ concat: ['192.0.2.1', 'tcp', 8080] }, 80],
      [{ concat: ['192.0.2.1', 'tcp', { range: [9000, 9010] }] }, 9000],
      [{ concat: ['192.0.2.1', 'udp', 53] }, 5353],
    ]);
    assert.deepEqual(nftElements(bridges), [
      ['br0', { jump: { target: 'br0_in' } }],
      ['br1', { goto: { target: 'br0_in' } }],
    ]);
    assert.deepEqual(nftElements(trusted), [
      { prefix: { addr: '10.0.0.0', len: 8 } },
      { range: ['192.168.0.10', '192.168.0.20'] },
    ]);

    applyNft(
      new NftPlan()
        .deleteElements(pmAddr, [expr.concat('192.0.2.1', 'tcp', expr.range(9000, 9010))])
        .deleteElements(pmPort, [expr.concat('192.0.2.1', 'tcp', expr.range(9000, 9010))])
        .deleteElements(bridges, ['br0'])
        .deleteElements(trusted, [expr.prefix('10.0.0.0/8')]),
    );
    assert.deepEqual(nftElements(pmAddr), [
      [{ concat: ['192.0.2.1', 'tcp', 8080] }, '172.17.0.2'],
      [{ concat: ['192.0.2.1', 'udp', 53] }, '172.17.0.4'],
    ]);
    assert.deepEqual(nftElements(bridges), [['br1', { goto: { target: 'br0_in' } }]]);
    assert.deepEqual(nftElements(trusted), [{ range: ['192.168.0.10', '192.168.0.20'] }]);
    // The CLI sees the same elements.
    const cliMap = nftJson('list', 'map', 'ip', 'dnet', 'pm_addr').nftables[1]?.map as { elem: unknown };
    assert.deepEqual(cliMap.elem, nftElements(pmAddr));
  });

  test('a failing transaction applies nothing of its batch', () => {
    const before = nft('list', 'ruleset');
    const doomed = nftSet({ family: 'ip', table: 'doomed', name: 's', type: 'ipv4_addr' });
    const missing = nftMap({ ...t, name: 'no_such_map', type: 'ipv4_addr', map: 'ipv4_addr' });

    // Rejected by libnftables before anything is sent: the last command names a missing map.
    assert.throws(
      () =>
        applyNft(
          new NftPlan()
            .addTable({ family: 'ip', table: 'doomed' })
            .addSet(doomed)
            .addElements(pmAddr, [[expr.concat('192.0.2.9', 'tcp', 1), '172.17.0.9']])
            .flushChain(t, 'forward')
            .addElements(missing, [['192.0.2.9', '172.17.0.9']]),
        ),
      (err: unknown) =>
        err instanceof NftablesError &&
        err.code === 'ERR_NFTABLES' &&
        /No such file or directory/.test(err.message),
    );
    assert.equal(nft('list', 'ruleset'), before);

    // Rejected by the kernel while committing: the last command creates a table that exists.
    assert.throws(
      () =>
        applyNft(
          new NftPlan()
            .addTable({ family: 'ip', table: 'doomed' })
            .addElements(pmAddr, [[expr.concat('192.0.2.9', 'tcp', 2), '172.17.0.9']])
            .deleteElements(bridges, ['br1'])
            .createTable({ family: 'ip', table: 'other' }),
        ),
      (err: unknown) => err instanceof NftablesError && /File exists/.test(err.message),
    );
    assert.equal(nft('list', 'ruleset'), before);
  });

  test('idempotent deletes and create-vs-add', () => {
    const gone = { family: 'inet', table: 'never_made' } as const;
    applyNft(new NftPlan().deleteTable(gone, { ifExists: true }));
    applyNft(new NftPlan().deleteTable(gone, { ifExists: true }));
    assert.throws(() => applyNft(new NftPlan().deleteTable(gone)), NftablesError);
    applyNft(new NftPlan().addTable(t)); // add of an existing table changes nothing
    assert.throws(() => applyNft(new NftPlan().createTable(t)), /File exists/);
    // create element fails on an existing key, add does not
    const el: [ReturnType<typeof expr.concat>, string] = [
      expr.concat('192.0.2.1', 'tcp', 8080),
      '172.17.0.2',
    ];
    applyNft(new NftPlan().addElements(pmAddr, [el]));
    assert.throws(() => applyNft(new NftPlan().createElements(pmAddr, [el])), /File exists/);
    assert.throws(
      () => applyNft(new NftPlan().deleteElements(pmAddr, [expr.concat('192.0.2.1', 'tcp', 1)])),
      NftablesError,
    );
    applyNft(new NftPlan()); // an empty plan is a no-op
  });

  test('maps with concatenated values are refused on libnftables < 1.1.0 instead of crashing', () => {
    const both = nftMap({ ...t, name: 'pm_both', type: KEY3, map: ['ipv4_addr', 'inet_service'] });
    const [maj = 0, min = 0] = libnftablesVersion().split('.').map(Number);
    const plan = new NftPlan()
      .addSet(both)
      .addRule(t, 'prerouting', [
        stmt.match(expr.meta('l4proto'), '==', 'tcp'),
        stmt.dnat({ family: 'ip', addr: expr.map(key, expr.ref('pm_both')) }),
      ]);
    if (maj > 1 || (maj === 1 && min >= 1)) {
      applyNft(plan);
      assert.equal(listNft({ map: { family: 'ip', table: 'dnet', name: 'pm_both' } }).maps.length, 1);
    } else {
      assert.throws(() => applyNft(plan), /concatenated values need libnftables >= 1\.1\.0/);
      assert.equal(listNft({ table: { family: 'ip', name: 'dnet' } }).maps.length, 3);
    }
  });

  test('inside another network namespace: per call, and with a handle', () => {
    const runDir = `${world.runDir}/nft`;
    const path = createNetns('nft-a', { runDir });
    try {
      const inner: TableRef = { family: 'inet', table: 'inner' };
      applyNft(new NftPlan().addTable(inner).addChain(inner, 'c'), { netns: { path } });
      assert.deepEqual(
        listNft({ tables: null }, { netns: { path } }).tables.map((x) => x.name),
        ['inner'],
      );
      assert.ok(!listNft({ tables: null }).tables.some((x) => x.name === 'inner'), 'not in our namespace');

      const h = NftHandle.open({ netns: { path } });
      try {
        h.apply(new NftPlan().addChain(inner, 'd'));
        assert.deepEqual(
          h.list({ table: { family: 'inet', name: 'inner' } }).chains.map((c) => c.name),
          ['c', 'd'],
        );
      } finally {
        h.close();
        h.close(); // idempotent
      }
      assert.throws(() => h.apply(new NftPlan().addTable(inner)), /closed/);
      // Interface names are resolved by libnftables during the command, in the thread's current
      // namespace: `iif "dx"` only works because the command runs inside the namespace.
      execFileSync('nsenter', [
        `--net=${path}`,
        'ip',
        'link',
        'add',
        'dx',
        'type',
        'veth',
        'peer',
        'name',
        'dy',
      ]);
      const iif = [stmt.match(expr.meta('iif'), '==', 'dx'), stmt.accept()];
      applyNft(new NftPlan().addRule(inner, 'c', iif), { netns: { path } });
      const h2 = NftHandle.open({ netns: { path } });
      try {
        h2.apply(new NftPlan().addRule(inner, 'd', iif));
      } finally {
        h2.close();
      }
      assert.throws(
        () => applyNft(new NftPlan().addTable(t).addChain(t, 'x').addRule(t, 'x', iif)),
        /Interface does not exist/,
      );
      // Cross-check from inside the namespace with the CLI.
      const out = execFileSync('nsenter', [`--net=${path}`, 'nft', 'list', 'table', 'inet', 'inner'], {
        encoding: 'utf8',
      });
      assert.equal((out.match(/iif "dx" accept/g) ?? []).length, 2);
      const tables = execFileSync('nsenter', [`--net=${path}`, 'nft', 'list', 'tables'], {
        encoding: 'utf8',
      });
      assert.equal(tables.trim(), 'table inet inner');
    } finally {
      deleteNetns(path);
    }
  });

  test('with over 1024 fds open, a new context still works (libnftables select()s on its socket)', () => {
    // Without held low fd numbers, libnftables' socket would get a number >= FD_SETSIZE and
    // glibc would abort this process ("bit out of range 0 - FD_SETSIZE on fd_set").
    libnftablesVersion(); // the first context: the low numbers are held from here on
    assert.ok(heldLowFds() > 0, 'low fd numbers are held');
    const filler: number[] = [];
    const path = createNetns('nft-many', { runDir: `${world.runDir}/nft` });
    try {
      while ((filler.at(-1) ?? 0) < FD_SETSIZE + 50) filler.push(openSync('/dev/null', 'r'));
      const inner: TableRef = { family: 'inet', table: 'many' };
      for (let i = 0; i < 3; i++) {
        applyNft(new NftPlan().addTable(inner).addChain(inner, `c${i}`), { netns: { path } });
      }
      assert.deepEqual(
        listNft({ table: { family: 'inet', name: 'many' } }, { netns: { path } }).chains.map((c) => c.name),
        ['c0', 'c1', 'c2'],
      );
      assert.ok(heldLowFds() > 0, 'the low numbers are held again after each context');
    } finally {
      for (const fd of filler) closeSync(fd);
      deleteNetns(path);
    }
  });

  test('a signal during a transaction does not fail it (the CPU profiler: SIGPROF every 50 µs)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dnet-nft-signal-'));
    const script = join(dir, 'loop.ts');
    const src = new URL('../../src/os/nftables/index.ts', import.meta.url).pathname;
    writeFileSync(
      script,
      `import { applyNft } from ${JSON.stringify(src)};
const set = { family: 'inet', table: 'sigtest', name: 's' };
applyNft({ nftables: [{ add: { table: { family: 'inet', name: 'sigtest' } } },
  { add: { set: { ...set, type: 'inet_service' } } }] });
for (let i = 0; i < 3000; i++) {
  applyNft({ nftables: [{ add: { element: { ...set, elem: [i % 60000 + 1] } } }] });
  applyNft({ nftables: [{ delete: { element: { ...set, elem: [i % 60000 + 1] } } }] });
}
applyNft({ nftables: [{ delete: { table: { family: 'inet', name: 'sigtest' } } }] });
`,
    );
    try {
      // Throws (exit code 1, with libnftables' "Interrupted system call") if a call was interrupted.
      execFileSync(
        process.execPath,
        ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', dir, '--import', 'tsx', script],
        { stdio: 'pipe' },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('delete our table; the other stays (checked in after())', () => {
    applyNft(new NftPlan().deleteTable(t));
    assert.deepEqual(
      listNft({ tables: null }).tables.map((x) => x.name),
      ['other'],
    );
  });
});
