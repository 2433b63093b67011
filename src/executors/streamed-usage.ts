/**
 * One model call's usage as its stream arrives, passed on to the job's meter as deltas (the meter
 * holds the whole job's usage, over several calls in a sprint batch).
 *
 * The Messages API says the input tokens in `message_start` and the output tokens so far
 * (cumulative) in `message_delta`, which the real API sends near the end of an answer. Between
 * two reports the output tokens are ESTIMATED from the text written, at four characters a token
 * (a little under what English takes), so that a ceiling is met while the answer streams; the
 * next report replaces the estimate, lowering the count again if the estimate ran ahead.
 */
import type { UsageMeter } from './usage-meter.js';
import { estimateCostUsd } from './list-prices.js';

const CHARS_PER_TOKEN = 4;

export interface StreamedUsage {
  /** `message_start`: the input tokens, the output tokens so far, and one more turn. */
  started(inputTokens: number, outputTokens: number): void;
  /** Text written since the last report (an estimate until the next one). */
  wrote(chars: number): void;
  /** `message_delta`: cumulative output tokens, and input tokens when the server restates them. */
  reported(outputTokens: number, inputTokens?: number | null): void;
  totals(): { inputTokens: number; outputTokens: number };
}

export function streamedUsage(model: string, meter: UsageMeter | undefined): StreamedUsage {
  let inputTokens = 0;
  let reportedOutput = 0;
  let charsSinceReport = 0;
  const sent = { inputTokens: 0, outputTokens: 0, costUsd: 0 };

  const outputTokens = () => reportedOutput + Math.floor(charsSinceReport / CHARS_PER_TOKEN);
  const send = (turns = 0) => {
    const now = { inputTokens, outputTokens: outputTokens(), costUsd: estimateCostUsd(model, inputTokens, outputTokens()) };
    const delta = {
      inputTokens: now.inputTokens - sent.inputTokens,
      outputTokens: now.outputTokens - sent.outputTokens,
      costUsd: now.costUsd - sent.costUsd,
      turns,
    };
    Object.assign(sent, now);
    if (delta.inputTokens || delta.outputTokens || delta.costUsd || turns) meter?.add(delta);
  };

  return {
    started(input, output) {
      inputTokens = input;
      reportedOutput = output;
      send(1);
    },
    wrote(chars) {
      const before = outputTokens();
      charsSinceReport += chars;
      if (outputTokens() !== before) send();
    },
    reported(output, input) {
      if (typeof input === 'number') inputTokens = Math.max(inputTokens, input);
      reportedOutput = Math.max(reportedOutput, output);
      charsSinceReport = 0;
      send();
    },
    totals: () => ({ inputTokens, outputTokens: outputTokens() }),
  };
}
