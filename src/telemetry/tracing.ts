/**
 * OpenTelemetry for a jobfleet process: the SDK started from the standard OTEL_* variables when
 * they ask for traces (tracing-switch.ts), and the W3C trace context a job carries from the
 * request that enqueued it to the worker that runs it (claude_jobs.trace_context).
 *
 * Off, the SDK is never imported: `tracer` is the API's no-op, `tracingOn()` is false, and every
 * helper here returns at its first line, so the enqueue and the worker's hot path pay nothing
 * (BENCHMARKS.md, "Tracing off and on").
 */
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { VERSION } from '../version.js';
import type { TracingSwitch } from './tracing-switch.js';

export { TRACING_OFF, type TracingSwitch, tracingSwitchOf } from './tracing-switch.js';

/** jobfleet's own spans; a no-op until the SDK registers a provider (the API's proxy tracer). */
export const tracer = trace.getTracer('jobfleet', VERSION);

let on = false;

/** Whether this process exports traces (and so records trace context on the jobs it enqueues). */
export function tracingOn(): boolean {
  return on;
}

/**
 * Starts the SDK when the switch says so, naming the service after the role unless the operator
 * named it; answers its closer (flush, then shut down), or null when tracing is off.
 */
export async function startTracing(
  settings: TracingSwitch | undefined,
  role: string,
  options: { carriesContext?: boolean } = {},
): Promise<(() => Promise<void>) | null> {
  if (!settings?.enabled) return null;
  // Loaded only now: a process that does not trace never loads the SDK.
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    ...(settings.serviceNamed ? {} : { serviceName: role }),
    // A worker process names every span's parent itself (the job's stored context): it needs no
    // active context carried across its awaits, which on Node 20 (AsyncLocalStorage on async
    // hooks) taxes every promise of the process.
    ...(options.carriesContext === false ? { contextManager: new NoContextCarried() } : {}),
    // Traces only: jobfleet's metrics are Prometheus's (/metrics) and its logs are pino's lines.
    // Left to the environment, the SDK would post empty metrics and logs to the collector too.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  on = true;
  return async () => {
    on = false;
    await sdk.shutdown();
  };
}

/** The active trace context as stored on a job (the W3C carrier as JSON), or null without one. */
export function activeTraceContext(): string | null {
  if (!on || !trace.getActiveSpan()) return null;
  return serialize(context.active());
}

/** The context a stored trace context continues; a root context when there is none. */
export function contextOf(stored: string | null | undefined): Context {
  if (!stored) return ROOT_CONTEXT;
  try {
    return propagation.extract(ROOT_CONTEXT, JSON.parse(stored) as Record<string, string>);
  } catch {
    return ROOT_CONTEXT;
  }
}

/**
 * Runs `work` inside a new root span: for enqueues that no request asked for (a schedule's
 * firing, a sprint run's next steps), so that their jobs start a trace of their own. The span
 * that was active (a worker's job, say) is kept as a link. Off, it only runs `work`.
 */
export async function withRootSpan<T>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  if (!on) return work();
  const active = trace.getActiveSpan();
  const links = active ? [{ context: active.spanContext() }] : [];
  return tracer.startActiveSpan(name, { root: true, attributes, links }, (span) => settled(span, work));
}

/** Ends `span` when `work` settles, recording a thrown error on it. */
export async function settled<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
    throw error;
  } finally {
    span.end();
  }
}

/**
 * The root context as the only active one: spans start where their parent is given, and nothing
 * follows a promise chain (the API's ContextManager interface, without AsyncLocalStorage).
 */
class NoContextCarried implements ContextManager {
  active(): Context {
    return ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    _context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return fn.call(thisArg, ...args);
  }
  bind<T>(_context: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

/**
 * A new root span, ended at once, whose context jobs enqueued outside any request carry (a
 * sprint run's next steps): their trace starts there. Null when tracing is off.
 */
export function rootTraceContext(name: string, attributes: Attributes): string | null {
  if (!on) return null;
  const span = tracer.startSpan(name, { root: true, attributes });
  span.end();
  return serialize(trace.setSpan(ROOT_CONTEXT, span));
}

function serialize(ctx: Context): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier.traceparent ? JSON.stringify(carrier) : null;
}
