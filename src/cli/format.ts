/**
 * `--format` for the list and inspect commands, as the docker CLI reads it: `table` (the default
 * of lists), `json` (the API's objects, as before), `table TEMPLATE` (a header row, columns split
 * at `\t`, aligned), or a Go template (src/cli/template.ts) printed once per object. As in docker,
 * the two characters `\t` and `\n` in the format are a tab and a newline.
 */
import { UsageError } from './args.ts';
import { json, table } from './output.ts';
import { compileTemplate, type Template, TemplateError } from './template.ts';

export type Format =
  | { kind: 'table' }
  | { kind: 'json' }
  | { kind: 'template'; table: boolean; template: Template };

/** Reads `--format` (undefined: `dflt`); a template that does not parse is a UsageError. */
export function parseFormat(text: string | undefined, dflt: 'table' | 'json', usage: string): Format {
  const f = text ?? dflt;
  if (f === 'table' || f === 'json') return { kind: f };
  // docker would print such a text as it is, once per object: almost always a mistyped format.
  if (!f.includes('{{')) {
    throw new UsageError(
      `unsupported --format ${JSON.stringify(f)}: use table, json or a Go template ('{{.Name}}', 'table {{.ID}}\\t{{.Name}}')`,
      usage,
    );
  }
  const isTable = f.startsWith('table ') || f.startsWith('table\t');
  const body = (isTable ? f.slice('table'.length) : f).trim().replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  if (body === '')
    throw new UsageError(`invalid --format ${JSON.stringify(f)}: the template is empty`, usage);
  try {
    return { kind: 'template', table: isTable, template: compileTemplate(body) };
  } catch (err) {
    if (err instanceof TemplateError) {
      throw new UsageError(`invalid --format ${JSON.stringify(f)}: ${err.message}`, usage);
    }
    throw err;
  }
}

/** How a list command shows its rows: the table's columns, and the fields templates see. */
export interface ListView<T> {
  /** The default table: headers and each row's cells. */
  headers: string[];
  cells(row: T): string[];
  /** What a template sees for a row (docker's list context: `.ID`, `.Name`...). */
  context(row: T): Record<string, unknown>;
  /** The header each context field shows in a `table` template (`ID` → `NETWORK ID`). */
  fieldHeaders: Record<string, string>;
}

/** Renders a list with the format; the text to print. Throws TemplateError when a row fails. */
export function renderList<T>(rows: T[], apiObjects: unknown[], fmt: Format, view: ListView<T>): string {
  if (fmt.kind === 'json') return json(apiObjects);
  if (fmt.kind === 'table') return table(view.headers, rows.map(view.cells));
  const lines = rows.map((r) => fmt.template.execute(view.context(r)));
  if (!fmt.table) return lines.map((l) => `${l}\n`).join('');
  const header = fmt.template.execute(headerContext(view.fieldHeaders));
  const split = (text: string) => text.split('\n').map((l) => l.split('\t'));
  const [head = [], ...body] = [split(header), ...lines.map(split)].flat();
  return table(head, body);
}

/** A context whose every field is its column header (functions, such as `.Label "k"`, too). */
function headerContext(fieldHeaders: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fieldHeaders).map(([k, h]) => [k, k === 'Label' ? () => h : h]));
}

/** Renders inspected objects: a JSON array, or the template once per object. */
export function renderInspect(objects: unknown[], fmt: Format): string {
  if (fmt.kind !== 'template') return json(objects);
  return objects.map((o) => `${fmt.template.execute(o)}\n`).join('');
}
