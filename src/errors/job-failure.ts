/**
 * A job that fails for a reason of its own, not because of the agent's answer: its repository
 * cannot be reached, its push was refused. The worker stores `code`, `message` and `details` on
 * the job's error as they are, so the code says which failure it was and the message can quote
 * the tool that failed (git's own words).
 */
export class JobFailure extends Error {
  override readonly name: string = 'JobFailure';

  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}
