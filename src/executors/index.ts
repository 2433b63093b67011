/** The executor the configuration names: dry-run unless an agent is configured. */
import type { Config } from '../config.js';
import { createCommandExecutor } from './command.executor.js';
import { createDryRunExecutor } from './dry-run.executor.js';
import type { Executor } from './executor.js';

export type { AgentOutput, AgentRequest, Executor, Prompt } from './executor.js';

export async function createExecutor(config: Config): Promise<Executor> {
  switch (config.AGENT) {
    case 'anthropic': {
      // The SDK is loaded only by workers that call the API: it costs a dry-run or command worker
      // some 30 MB of memory for nothing.
      const { createAnthropicExecutor } = await import('./anthropic.executor.js');
      return createAnthropicExecutor({
        apiKey: config.ANTHROPIC_API_KEY!,
        ...(config.ANTHROPIC_BASE_URL ? { baseURL: config.ANTHROPIC_BASE_URL } : {}),
        model: config.ANTHROPIC_MODEL,
        maxTokens: config.ANTHROPIC_MAX_TOKENS,
        maxRetries: config.ANTHROPIC_MAX_RETRIES,
        timeoutMs: config.AGENT_TIMEOUT_MS,
      });
    }
    case 'command':
      return createCommandExecutor({ command: config.AGENT_COMMAND!, timeoutMs: config.AGENT_TIMEOUT_MS, provider: config.AGENT_PROVIDER });
    case 'dry-run':
      return createDryRunExecutor({ delayMs: config.DRY_RUN_DELAY_MS });
  }
}
