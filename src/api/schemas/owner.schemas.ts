/** An owner in a path (/owners/{owner_id}/...), and who may read what is said of them. */
import { z } from '@hono/zod-openapi';
import { isAdmin, type Principal } from '../../auth/principal.js';
import { AppError } from '../../errors/app-error.js';

export const OwnerParam = z.object({
  owner_id: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: 'owner_id', in: 'path' }, example: 'team-a' }),
});

/** Admins read any owner's figures; other tokens only their own owner's (another answers 404, as a missing row would). */
export function assertOwnerReadable(principal: Principal, ownerId: string): void {
  if (!isAdmin(principal) && principal.ownerId !== ownerId) {
    throw new AppError('not_found', `owner ${ownerId} is not yours to read`, { owner_id: ownerId });
  }
}
