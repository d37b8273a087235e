/**
 * TX checksum offload on a network's VXLAN device. With it on, the inner packets' checksums are
 * left to the device below; some NICs and hypervisors (VMware's vmxnet3, some cloud NICs) then
 * send VXLAN packets on port 4789 with wrong checksums, which the receiver drops: TCP stalls
 * until a retransmission goes out unoffloaded (the "63 s" stalls of flannel and Docker swarm).
 * dnet turns it off by default (as flannel and Calico do): the kernel computes the inner checksum
 * in software. The network option `dnet.overlay.tx_checksum_offload=on` keeps it on.
 */
import { InvalidOptionError } from '../../errors/cnm.ts';
import { setTxChecksum } from '../../os/ethtool.ts';

export const OPT_TX_CHECKSUM_OFFLOAD = 'dnet.overlay.tx_checksum_offload';

/** Whether the network keeps TX checksum offload on (the option, validated). Default: off. */
export function txChecksumOffload(generic: Record<string, string>): boolean {
  const raw = generic[OPT_TX_CHECKSUM_OFFLOAD];
  if (raw === undefined || raw === '' || raw === 'off' || raw === 'false') return false;
  if (raw === 'on' || raw === 'true') return true;
  throw new InvalidOptionError(OPT_TX_CHECKSUM_OFFLOAD, raw, 'expected on or off');
}

/**
 * Sets the VXLAN device's TX checksum offload. When the kernel refuses, the network still works
 * (the offload stays as it was): a process warning says so, with the manual workaround.
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
