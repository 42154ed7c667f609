/** Where the CLI writes, and what it knows of its terminal: injected so tests can capture it. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export type Cell = string | number | boolean | undefined | null;

/**
 * Plain aligned columns with a header row, like kubectl's: easy to read and to grep/awk
 * (no box drawing); a cell's newlines and tabs become spaces so each row stays one line.
 */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const text = (c: Cell) =>
    c === undefined || c === null || c === '' ? '-' : String(c).replace(/\s+/g, ' ');
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((r) => headers.map((_, i) => text(r[i])))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `key: value` lines, keys aligned. */
export function formatFields(fields: ReadonlyArray<readonly [string, Cell]>): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields
    .map(
      ([k, v]) =>
        `${`${k}:`.padEnd(width + 1)} ${v === undefined || v === null || v === '' ? '-' : String(v)}`,
    )
    .join('\n');
}

/** Milliseconds since the epoch as ISO 8601 (UTC); empty for 0/unset, as the API leaves them. */
export function formatTime(ms: number | undefined): string {
  return ms ? new Date(ms).toISOString() : '';
}

/** JSON for machines: non-finite numbers (NaN metrics) as strings, Buffers as base64. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
      if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && 'data' in v) {
        return Buffer.from((v as { data: number[] }).data).toString('base64');
      }
      return v;
    },
    2,
  );
}

/** The name of a generated enum value without its prefix: `RUN_STATUS_FINISHED` → `FINISHED`. */
export function enumName(enumObject: Record<number, string>, prefix: string, value: number): string {
  const name = enumObject[value];
  return name === undefined ? String(value) : name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/** A byte count for people: 1.5 MiB. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
