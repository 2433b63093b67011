/** The API could not listen because another process holds its address: printed as one line. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';

  constructor(host: string, port: number) {
    super(`port ${port} on ${host} is in use: stop what holds it, or set PORT to a free port`);
  }
}
