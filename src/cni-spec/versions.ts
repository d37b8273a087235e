/**
 * CNI spec versions: the ones dnet speaks, and the ADD result in each of them. Results are built
 * in 1.x form; 0.3.0, 0.3.1 and 0.4.0 add `version` ("4" or "6") to each IP (and know no route
 * fields beyond dst/gw, which is all dnet returns).
 */
import { compareVersions } from '../dotted-version.ts';
import { CNI_ERR, CniError } from './errors.ts';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

export function isSupported(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Throws code 1 unless `v` is a version dnet speaks and at least `min` (CHECK 0.4.0, GC/STATUS 1.1.0). */
export function requireVersion(v: string, verb: string, min?: string): void {
  if (!isSupported(v)) {
    throw new CniError(
      CNI_ERR.incompatibleVersion,
      'incompatible CNI versions',
      `config is "${v}", plugin supports ${JSON.stringify(SUPPORTED_VERSIONS)}`,
    );
  }
  if (min && compareVersions(v, min) < 0) {
    throw new CniError(
      CNI_ERR.incompatibleVersion,
      `config version does not allow ${verb}`,
      `${verb} needs cniVersion ${min} or later, the config says ${v}`,
    );
  }
}

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

export interface CniIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: '4' | '6';
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** The result in version `v`: 0.x results carry `ips[].version`, 1.x ones do not. */
export function convertResult(r: CniResult, v: string): CniResult {
  const old = compareVersions(v, '1.0.0') < 0;
  return {
    ...r,
    cniVersion: v,
    ...(r.ips
      ? {
          ips: r.ips.map((ip) => {
            const { version: _drop, ...rest } = ip;
            return old ? { ...rest, version: ip.address.includes(':') ? '6' : '4' } : rest;
          }),
        }
      : {}),
  };
}
