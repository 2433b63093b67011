/**
 * The kind handlers, as the job services below src/kinds/ reach them: src/kinds/index.ts installs
 * its handler map when it loads, so enqueue and finish call a kind's hooks without importing it.
 */
import type { JobKind } from '../queues/kinds.js';
import type { KindHandler } from './kind-handler.js';

let installed: { readonly [K in JobKind]: KindHandler<K> } | null = null;

export function installKindHandlers(handlers: { readonly [K in JobKind]: KindHandler<K> }): void {
  installed = handlers;
}

export function installedHandlerOf(kind: JobKind): KindHandler {
  if (!installed) throw new Error(`no handler for ${kind}: the kind handlers were not installed (load src/kinds/index.ts first)`);
  return installed[kind] as KindHandler;
}
