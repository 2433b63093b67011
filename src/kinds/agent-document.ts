/**
 * Grill and plan agents may write their document through the MCP server (update_idea_grill_md,
 * update_idea_plan_md) and end with a few words of their own; the document is then the job's
 * answer, judged and applied exactly as a returned one is (a plan must parse).
 */
import { documentOf } from '../jobs/agent-reports.js';
import type { ExecuteContext, RunOutput } from '../jobs/kind-handler.js';

export async function answerWithDocument(context: ExecuteContext): Promise<RunOutput> {
  const { job, signal, log, channel } = context;
  const output = await context.executor.run({
    jobId: job.id,
    kind: job.kind,
    prompt: context.prompt,
    signal,
    log,
    channel,
    meter: context.meter,
  });
  // Without a channel the agent had no way to write one: no query.
  const document = channel ? await documentOf(context.db, job) : null;
  return document === null ? output : { ...output, text: document };
}
