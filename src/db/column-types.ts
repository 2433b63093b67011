/** Column shapes shared by every table type. */
import type { ColumnType, Generated } from 'kysely';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** jsonb: read as parsed JSON, written as a JSON string (pg would turn JS arrays into SQL arrays). */
export type Json<T = JsonValue> = ColumnType<T, string, string>;
/** jsonb with a column default: may be left out on insert. */
export type DefaultedJson<T = JsonValue> = ColumnType<T, string | undefined, string>;
export type NullableJson<T = JsonValue> = ColumnType<T | null, string | null | undefined, string | null>;

export type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
export type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
export type CreatedAt = ColumnType<Date, never, never>;

/**
 * A status column: readable everywhere, writable nowhere through the typed query builder.
 * New rows take the machine's initial status from the column default; every change after
 * that goes through the transition door (src/transitions/transition.ts), which writes it in
 * SQL. A `.set({ status })` anywhere else does not compile.
 */
export type StatusColumn<S extends string> = ColumnType<S, never, never>;

export type Id = Generated<string>;
