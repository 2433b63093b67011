import { OpenAPIHono } from '@hono/zod-openapi';
import type { ApiEnv } from './api-deps.js';
import { validationError } from './http-errors.js';

/**
 * A router whose request validation fails the same way everywhere: a 422 through the app's
 * error handler, listing every field and what is allowed there.
 */
export function createRouter() {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const where =
          { json: 'body', query: 'query parameters', param: 'path', header: 'headers', form: 'form', cookie: 'cookies' }[result.target] ??
          result.target;
        throw validationError(result.error.issues, where);
      }
    },
  });
}
