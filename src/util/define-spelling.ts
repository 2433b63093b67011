/**
 * One enum's two spellings: UPPER_SNAKE in the database, lowercase in the API, mapped through
 * an explicit table (never by changing case, because the two need not agree: TO_DO is `todo`).
 */
export interface Spelling<Db extends string, Api extends string> {
  /** Every API value, in the table's order: what a 422 lists as allowed. */
  readonly apiValues: readonly Api[];
  toApi(value: Db): Api;
  /** The database value for an API value, or null for anything else (the route answers 422). */
  fromApi(value: unknown): Db | null;
}

export function defineSpelling<const T extends Record<string, string>>(table: T): Spelling<Extract<keyof T, string>, T[keyof T]> {
  type Db = Extract<keyof T, string>;
  type Api = T[keyof T];
  const entries = Object.entries(table) as [Db, Api][];
  const inbound = new Map<string, Db>();
  for (const [db, api] of entries) {
    if (inbound.has(api)) throw new Error(`spelling: ${api} names both ${inbound.get(api)} and ${db}`);
    inbound.set(api, db);
  }
  return Object.freeze({
    apiValues: Object.freeze(entries.map(([, api]) => api)),
    toApi: (value: Db) => {
      const api = table[value];
      if (api === undefined) throw new Error(`spelling: no API spelling for ${value}`);
      return api as Api;
    },
    fromApi: (value: unknown) => (typeof value === 'string' ? (inbound.get(value) ?? null) : null),
  });
}
