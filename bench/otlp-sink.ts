/**
 * The bench's OTLP/HTTP sink for `--tracing`: takes `POST /v1/traces` in the JSON encoding and
 * only counts the workers' spans (a cheap scan for span ids, no parse: the bench process also
 * enqueues, and must not spend its time reading what it is sent). An export comes from one
 * process, so its body names one service: the bench's own spans are left out.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpSink {
  url: string;
  spans(): number;
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  let spans = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces' && body.includes('"stringValue":"jobfleet-worker"')) spans += body.split('"spanId":').length - 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
