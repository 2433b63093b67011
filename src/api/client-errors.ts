/**
 * Requests that Node's HTTP parser refuses before any route sees them (headers larger than it
 * accepts, a malformed request line, a request that never finished arriving) are answered in the
 * API's error shape instead of Node's empty default. Node hands them to the server's documented
 * 'clientError' event, which replaces its default answer; the statuses stay Node's own.
 */
import { maxHeaderSize, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import { rawErrorResponse } from './http-errors.js';

function errorFor(code: string | undefined): AppError {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return new AppError('headers_too_large', `the request line and headers are larger than ${maxHeaderSize} bytes`, {
        max_header_bytes: maxHeaderSize,
      });
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new AppError('payload_too_large', 'the chunk extensions of the request body are too large');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new AppError('request_timeout', 'the request did not arrive in full in time');
    default:
      return new AppError('bad_request', 'the request is not valid HTTP');
  }
}

export function answerClientErrors(server: Server, logger: Logger): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // As Node does itself: nobody to answer, or a response already under way on this connection.
    const started = 'bytesWritten' in socket && typeof socket.bytesWritten === 'number' && socket.bytesWritten > 0;
    if (error.code === 'ECONNRESET' || !socket.writable || started) return void socket.destroy();
    const refusal = errorFor(error.code);
    logger.debug({ code: error.code, status: refusal.status }, 'refused a request the HTTP parser could not take');
    socket.end(rawErrorResponse(refusal));
  });
}
