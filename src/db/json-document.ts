/**
 * Batches travel to Postgres as one JSON document. Postgres refuses a lone UTF-16 surrogate in
 * JSON text (an escaped "\ud800" names no character), where pg, sending the same string as a
 * parameter of its own, encodes it as U+FFFD. Strings and keys get that replacement here, so a
 * batch stores what separate parameters would have stored.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(LONE_SURROGATE, '\ufffd');
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [wellFormed(key), wellFormed(inner)]));
  }
  return value;
}

export function jsonDocument(value: unknown): string {
  const json = JSON.stringify(value);
  // JSON.stringify escapes a lone surrogate (and only then writes \ud8.. to \udf..): the copy
  // that replaces them is made only for a document that may hold one.
  return /\\u[dD][89a-fA-F]/.test(json) ? JSON.stringify(wellFormed(value)) : json;
}
