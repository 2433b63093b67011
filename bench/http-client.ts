/**
 * The load generator's HTTP client: node:http over keep-alive sockets, one per concurrent caller.
 * The generator shares the machine's cores with the API it measures, and `fetch` costs a few
 * times more CPU per request than plain node:http, which would measure the client, not the API.
 */
import http from 'node:http';

export interface JsonPoster {
  /** POSTs `body` as JSON; resolves with the status and the body text. */
  post(path: string, body: unknown): Promise<{ status: number; text: string }>;
  close(): void;
}

export function createJsonPoster(base: string, headers: Record<string, string>, sockets: number): JsonPoster {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  return {
    post(path, body) {
      const payload = Buffer.from(JSON.stringify(body));
      return new Promise((resolve, reject) => {
        const request = http.request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            path,
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json', 'content-length': payload.length },
          },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
            response.on('error', reject);
          },
        );
        request.on('error', reject);
        request.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}
