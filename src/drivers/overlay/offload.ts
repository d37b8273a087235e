/**
 * TX checksum offload on a network's VXLAN device. With it on, the inner packets' checksums (and
 * segmentation) are left to the devices below; on kernels before 5.7 the checksum of VXLAN
 * packets could come out wrong once NAT rewrote them, and some NICs and hypervisors (VMware's
 * vmxnet3 before its 2020 fix) mangle them: the receiver drops them, and TCP stalls until a
 * retransmission goes out unoffloaded (the "63 s" stalls of flannel and Docker swarm). Turning it
 * off costs throughput: the kernel then checksums and segments every packet in software (measured
 * here on a veth underlay: ~1 Gbit/s off against ~5 Gbit/s on).
 *
 * So, as Calico does: `auto` (the default) turns it off on kernels before 5.7 and leaves it on
 * otherwise; the network option `dnet.overlay.tx_checksum_offload=on|off` forces it (off for
 * the NICs above).
 */
import { release } from 'node:os';
import { InvalidOptionError } from '../../errors/cnm.ts';
import { setTxChecksum } from '../../os/ethtool.ts';

export const OPT_TX_CHECKSUM_OFFLOAD = 'dnet.overlay.tx_checksum_offload';

/** Kernels whose VXLAN checksums may be wrong with offload on (Calico's bound). */
function kernelBefore57(kernelRelease: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return true; // unknown: the safe side
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < 5 || (major === 5 && minor < 7);
}

/**
 * Whether the network's VXLAN devices keep TX checksum offload on: the option (validated), or
 * with `auto` (default) on unless the kernel is older than 5.7.
 */
export function txChecksumOffload(generic: Record<string, string>, kernelRelease = release()): boolean {
  const raw = generic[OPT_TX_CHECKSUM_OFFLOAD];
  if (raw === undefined || raw === '' || raw === 'auto') return !kernelBefore57(kernelRelease);
  if (raw === 'on' || raw === 'true') return true;
  if (raw === 'off' || raw === 'false') return false;
  throw new InvalidOptionError(OPT_TX_CHECKSUM_OFFLOAD, raw, 'expected auto, on or off');
}

/**
 * Sets the VXLAN device's TX checksum offload. When the kernel refuses, the network still works
 * (the offload stays as it was): a process warning says so, with the manual command.
 */
export function applyTxChecksum(vxlan: string, on: boolean): boolean {
  try {
    setTxChecksum(vxlan, on);
    return true;
  } catch (err) {
    process.emitWarning(
      `cannot turn TX checksum offload ${on ? 'on' : 'off'} on ${vxlan}: ${(err as Error).message}; ` +
        `if TCP across hosts stalls, run: ethtool -K ${vxlan} tx ${on ? 'on' : 'off'}`,
      { type: 'DnetOverlayWarning', code: 'DNET_TX_CHECKSUM' },
    );
    return false;
  }
}
