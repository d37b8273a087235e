/** Formatting shared by the error messages of src/errors. */

/** Quotes a caller-supplied string so control characters and spaces show (`"a\nb"`). */
export function q(s: string): string {
  return JSON.stringify(s);
}

export function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The name rule src/errors/validate.ts enforces, repeated in every invalid-name message. */
export const NAME_RULE = 'names start with a letter or digit, then letters, digits, "_", "." or "-"';
