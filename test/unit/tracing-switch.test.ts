import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { tracingSwitchOf } from '../../src/telemetry/tracing-switch.js';

describe('the tracing switch', () => {
  it('is off when no OTEL_* variable names an exporter', () => {
    expect(tracingSwitchOf({}).enabled).toBe(false);
    expect(tracingSwitchOf({ OTEL_SERVICE_NAME: 'fleet', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).enabled).toBe(false);
    expect(tracingSwitchOf({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' }).enabled).toBe(false);
    expect(loadConfig({}).tracing?.enabled).toBe(false);
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'http://collector:4318'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'http://collector:4318/v1/traces'],
    ['OTEL_TRACES_EXPORTER', 'otlp'],
    ['OTEL_TRACES_EXPORTER', 'console'],
  ])('is on with %s=%s', (name, value) => {
    expect(tracingSwitchOf({ [name]: value }).enabled).toBe(true);
    expect(loadConfig({ [name]: value }).tracing?.enabled).toBe(true);
  });

  it('is off with OTEL_TRACES_EXPORTER=none, even beside an endpoint', () => {
    expect(tracingSwitchOf({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).enabled).toBe(false);
    expect(tracingSwitchOf({ OTEL_TRACES_EXPORTER: ' None ' }).enabled).toBe(false);
  });

  it('is off with OTEL_SDK_DISABLED=true (any case) whatever else is set, and on with any other value', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracingSwitchOf({ ...endpoint, OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false);
    expect(tracingSwitchOf({ ...endpoint, OTEL_SDK_DISABLED: 'TRUE' }).enabled).toBe(false);
    expect(tracingSwitchOf({ ...endpoint, OTEL_SDK_DISABLED: 'false' }).enabled).toBe(true);
    expect(tracingSwitchOf({ ...endpoint, OTEL_SDK_DISABLED: '1' }).enabled).toBe(true);
  });

  it("leaves the service's name to the role unless the operator named it", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracingSwitchOf(endpoint).serviceNamed).toBe(false);
    expect(tracingSwitchOf({ ...endpoint, OTEL_SERVICE_NAME: 'fleet-eu' }).serviceNamed).toBe(true);
    expect(tracingSwitchOf({ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.name=fleet' }).serviceNamed).toBe(
      true,
    );
    expect(tracingSwitchOf({ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: 'service.namespace=jobs' }).serviceNamed).toBe(false);
  });
});
