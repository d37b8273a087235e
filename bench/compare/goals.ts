/**
 * The goals of issue 18 (performance round 2), each with its measured figure and met / not met,
 * read from one run: the library's and the daemon's figures side by side, the peers named with
 * their versions. A goal whose figures the run did not measure is "not measured" (n/a), never met.
 */
import type { Goal, Results } from './report.ts';
import { fmtRatio, fmtUs, ratio } from './stats.ts';
import type { SubjectKey } from './subject.ts';

const ordinal = (n: number) =>
  `${n}${n % 100 >= 11 && n % 100 <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th')}`;

export function goals(r: Results): Goal[] {
  const a = r.units.attach;
  const out: Goal[] = [];
  const name = (k: SubjectKey) => {
    const s = r.subjects[k];
    if (!s) return k;
    const v = s.version.split('+')[0];
    return k === 'netavark'
      ? `netavark ${v} (iptables)`
      : k === 'docker'
        ? `Docker Engine ${v}`
        : `${s.label} ${v}`;
  };
  const who = (k: 'dnet' | 'daemon') => (k === 'dnet' ? 'library' : 'daemon');
  const add = (
    goal: string,
    value: number | undefined,
    text: (v: number) => string,
    met: (v: number) => boolean,
  ) =>
    out.push({
      goal,
      value: value === undefined ? 'not measured' : text(value),
      met: value === undefined ? undefined : met(value),
    });

  // Goal 1: detach.
  for (const [k, limit] of [
    ['dnet', 3000],
    ['daemon', 5000],
  ] as const) {
    const d = a[k]?.detach?.p50;
    add(
      `1. detach p50 ≤ ${limit / 1000} ms (${who(k)})`,
      d,
      (v) => fmtUs(v),
      (v) => v <= limit,
    );
    for (const [peer, times, what] of [
      ['docker', 10, 'disconnect'],
      ['netavark', 20, 'teardown'],
    ] as const) {
      const x = ratio(a[peer]?.detach?.p50, d);
      add(
        `1. detach ≥ ${times}× faster than ${name(peer)}'s ${what} (${who(k)})`,
        x,
        (v) => `${fmtRatio(v)}`,
        (v) => v >= times,
      );
    }
  }
  // Goal 2: the daemon keeps answering while the most attaches/detaches are in flight.
  const cc = r.units.concurrency;
  const top = cc.levels[cc.levels.length - 1];
  const probe = cc.subjects.daemon?.levels.find((l) => l.inFlight === top)?.probe;
  add(
    `2. GET /networks p99 ≤ 5 ms while ${top ?? 64} attaches/detaches are in flight (daemon)`,
    probe && probe.n > 0 ? probe.p99 : undefined,
    (v) => `${fmtUs(v)} (p50 ${fmtUs(probe?.p50)}, ${probe?.n} requests)`,
    (v) => v <= 5000,
  );
  // Goal 3: the daemon's attach against the library's.
  const d3 = ratio(a.daemon?.attach?.p50, a.dnet?.attach?.p50);
  add(
    "3. daemon attach p50 within 1.3× the library's",
    d3,
    (v) => `${fmtRatio(v)} (${fmtUs(a.daemon?.attach?.p50)} / ${fmtUs(a.dnet?.attach?.p50)})`,
    (v) => v <= 1.3,
  );
  // Goal 4: flat from the 1st to the last checkpoint.
  const sc = r.units.scale;
  const n0 = sc.checkpoints[0];
  const n1 = sc.checkpoints[sc.checkpoints.length - 1] ?? 0;
  for (const k of ['dnet', 'daemon', 'floor'] as const) {
    const pts = sc.subjects[k]?.points ?? [];
    const s0 = pts.find((p) => p.n === n0)?.attach.attach?.p50;
    const s1 = pts.find((p) => p.n === n1)?.attach.attach?.p50;
    const flat = ratio(s1, s0);
    if (k === 'floor') {
      // The same measure for the floor, beside dnet's: a reference, not a goal.
      out.push({
        goal: `4. ${ordinal(n1)}/1st container attach (kernel floor, for reference)`,
        value: flat === undefined ? 'not measured' : fmtRatio(flat),
        met: undefined,
      });
    } else
      add(
        `4. ${ordinal(n1)}/1st container attach ≤ 1.5× (${who(k)})`,
        flat,
        (v) => fmtRatio(v),
        (v) => v <= 1.5,
      );
  }
  // Goal 5: attach against the peers.
  for (const [k, nv, dk] of [
    ['dnet', 20, 40],
    ['daemon', 10, 40],
  ] as const) {
    const p = a[k]?.attach?.p50;
    const xn = ratio(a.netavark?.attach?.p50, p);
    add(
      `5. attach ≥ ${nv}× faster than ${name('netavark')} (${who(k)})`,
      xn,
      (v) => fmtRatio(v),
      (v) => v >= nv,
    );
    const xd = ratio(a.docker?.attach?.p50, p);
    add(
      `5. connect ≥ ${dk}× faster than ${name('docker')} (${who(k)})`,
      xd,
      (v) => fmtRatio(v),
      (v) => v >= dk,
    );
  }
  const xf = ratio(a.dnet?.attach?.p50, a.floor?.attach?.p50);
  add(
    'attach p50 within 3× of the kernel floor (library)',
    xf,
    (v) => `${fmtRatio(v)} the floor`,
    (v) => v <= 3,
  );
  for (const k of ['dnet', 'daemon'] as const) {
    const lv = cc.subjects[k]?.levels.find((l) => l.inFlight === top);
    out.push({
      goal: `${top} concurrent attaches with no error (${who(k)})`,
      value: lv ? `${lv.errors + lv.detachErrors} errors in ${lv.attaches} attaches` : 'not measured',
      met: lv ? lv.errors + lv.detachErrors === 0 : undefined,
    });
  }
  return out;
}
