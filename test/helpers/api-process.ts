/**
 * A real API process (`jobfleet api`, listening on a free port) and plain HTTP calls to it: what
 * an MCP client, an agent spawned by a worker, or a person answering a question reaches.
 */
import { type JobfleetProcess, spawnJobfleet } from './processes.js';

export interface ApiProcess {
  process: JobfleetProcess;
  /** `http://127.0.0.1:PORT`, without a path. */
  url: string;
  /** A request to the API with this bearer secret. */
  call(secret: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/** Starts `jobfleet api` with this environment (PORT 0 picks a free port) and waits until it listens. */
export async function startApiProcess(env: Record<string, string>): Promise<ApiProcess> {
  const proc = spawnJobfleet(['api'], env);
  const url = (await proc.line(/listening on (http:\/\/\S+)\/api\/v1/))[1]!;
  return {
    process: proc,
    url,
    async call(secret, method, path, body) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${secret}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed };
    },
  };
}
