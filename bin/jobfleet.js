#!/usr/bin/env node
// The jobfleet CLI. It runs the TypeScript sources directly through tsx's loader, so what the
// tests exercise is exactly what runs in production: there is no separate build to drift.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
