/**
 * Whether text has the shape of a UUID, as Postgres's uuid type reads it. An id of any other shape
 * names no row: callers answer "not found" (or refuse it) without asking Postgres, which would
 * raise a cast error on it rather than find nothing.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuidShape(text: string): boolean {
  return UUID.test(text);
}
