/**
 * The static programming of one overlay network's VXLAN device from its endpoint table: per
 * remote endpoint one FDB entry (MAC → the VTEP of its host) and one neighbour entry (IP → MAC),
 * both permanent. No learning, no flooding, no miss handling: the VXLAN device answers ARP from
 * its neighbour table (`proxy`), and sends a frame only where its FDB says.
 *
 * Equivalent to, per remote endpoint:
 *   bridge fdb replace <mac> dev <vxlan> dst <vtep> self permanent
 *   ip neigh replace <ip> lladdr <mac> dev <vxlan> nud permanent
 */
import type { PeerEndpoint } from '../../cluster/index.ts';
import { NetlinkError } from '../../errors/os.ts';
import { type NetlinkHandle, NTF, NUD } from '../../os/netlink/index.ts';

function ignoreGone(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof NetlinkError && (err.errnoName === 'ENOENT' || err.errnoName === 'ENODEV')) return;
    throw err;
  }
}

export class PeerTable {
  /** Remote endpoints programmed, by endpoint key. */
  private readonly programmed = new Map<string, PeerEndpoint>();

  constructor(
    private readonly nl: NetlinkHandle,
    /** The VXLAN device's name. */
    private readonly vxlan: string,
    private readonly hostId: string,
  ) {}

  /** An endpoint appeared or changed in the table. Endpoints of this host are not programmed. */
  put(key: string, ep: PeerEndpoint): void {
    if (ep.hostId === this.hostId) return;
    const had = this.programmed.get(key);
    if (had && had.mac === ep.mac && had.ip === ep.ip && had.vtep === ep.vtep) return;
    if (had) this.remove(key, had);
    this.nl.neighReplace({
      link: this.vxlan,
      family: 'bridge',
      lladdr: ep.mac,
      dst: ep.vtep,
      flags: NTF.SELF,
      state: NUD.PERMANENT,
    });
    if (ep.ip !== undefined) {
      this.nl.neighReplace({ link: this.vxlan, family: 4, dst: ep.ip, lladdr: ep.mac, state: NUD.PERMANENT });
    }
    this.programmed.set(key, ep);
  }

  /** An endpoint went from the table. */
  delete(key: string): void {
    const had = this.programmed.get(key);
    if (had) this.remove(key, had);
  }

  private remove(key: string, ep: PeerEndpoint): void {
    ignoreGone(() =>
      this.nl.neighDel({ link: this.vxlan, family: 'bridge', lladdr: ep.mac, dst: ep.vtep, flags: NTF.SELF }),
    );
    if (ep.ip !== undefined) {
      const ip = ep.ip;
      ignoreGone(() => this.nl.neighDel({ link: this.vxlan, family: 4, dst: ip }));
    }
    this.programmed.delete(key);
  }

  /**
   * Removes every permanent FDB and neighbour entry of the device that the table does not list
   * (left by an earlier run that missed a deletion). Returns how many went.
   */
  prune(): number {
    const macs = new Set([...this.programmed.values()].map((e) => e.mac));
    const ips = new Set([...this.programmed.values()].flatMap((e) => (e.ip ? [e.ip] : [])));
    let n = 0;
    for (const f of this.nl.neighList('bridge', this.vxlan)) {
      if (!(f.flags & NTF.SELF) || f.dst === undefined || f.lladdr === undefined) continue;
      if (macs.has(f.lladdr)) continue;
      const { lladdr, dst } = f;
      ignoreGone(() =>
        this.nl.neighDel({ link: this.vxlan, family: 'bridge', lladdr, dst, flags: NTF.SELF }),
      );
      n++;
    }
    for (const a of this.nl.neighList(4, this.vxlan)) {
      if (!(a.state & NUD.PERMANENT) || a.dst === undefined || ips.has(a.dst)) continue;
      const dst = a.dst;
      ignoreGone(() => this.nl.neighDel({ link: this.vxlan, family: 4, dst }));
      n++;
    }
    return n;
  }

  /** How many remote endpoints are programmed. */
  get size(): number {
    return this.programmed.size;
  }
}
