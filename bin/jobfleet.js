#!/usr/bin/env node
// The jobfleet CLI from the TypeScript sources, through tsx's loader: what development, the
// tests and one-off commands run. Long-running processes run the compiled build instead
// (`npm run build`, then `node dist/src/cli/main.js`; `npm start` does both): the same code,
// without tsx's loader thread and transform cache, about 40 MB less resident per process.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
