import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cniGoals } from '../../bench/compare/cni-report.ts';
import { summarize } from '../../bench/compare/stats.ts';

// The CNI goal lines of the bench (unit 7) say the exec floor's bound beside the figure: an exec'd
// plugin cannot beat bridge+portmap by more than an exec of /bin/true does.
const of = (us: number) => summarize([us]);
const result = (add: [number, number, number], del: [number, number, number]) => ({
  plugins: {
    n: 1,
    load: [0, 0] as [number, number],
    add: { launcher: of(add[0]), bridgePortmap: of(add[1]), execFloor: of(add[2]) },
    del: { launcher: of(del[0]), bridgePortmap: of(del[1]), execFloor: of(del[2]) },
    missing: {},
  },
});

test('CNI goals: the ratio, and the exec floor as the bound (bounded by exec when under 20×)', () => {
  // ADD: the floor is 18.6× faster than the chain (bounded); DEL: 47.9× (within reach).
  const [add, del] = cniGoals(result([16_500, 98_800, 5_310], [4_490, 215_000, 4_490]));
  assert.ok(add && del);
  assert.equal(add.met, false);
  assert.match(add.value, /^5\.99× faster \(16\.5 ms against 98\.8 ms\); bounded by exec: /);
  assert.match(add.value, /exec floor \(5\.31 ms\) alone is only 18\.6× faster/);
  assert.match(add.value, /the launcher is 3\.11× the floor$/);
  assert.equal(del.met, true);
  assert.match(
    del.value,
    /^47\.9× faster .*; bound: the exec floor \(4\.49 ms\) is 47\.9× faster; 20× needs ≤ 10\.8 ms/,
  );
  const none = cniGoals(undefined);
  assert.deepEqual(
    none.map((g) => [g.value, g.met]),
    [
      ['not measured', undefined],
      ['not measured', undefined],
    ],
  );
});
