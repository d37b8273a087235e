import { constants } from 'node:os';

const names = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!names.has(value)) names.set(value, name);
}

/** The symbolic name of a (positive) errno value, e.g. 17 → `EEXIST`. */
export function errnoName(errno: number): string {
  return names.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** The value of an errno name, e.g. `ENOENT` → 2. */
export function errnoValue(name: keyof typeof constants.errno): number {
  return constants.errno[name];
}
