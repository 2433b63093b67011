import type { CreatedAt } from '../column-types.js';

/** Secrets the fleet's processes share through Postgres (the job token key; migration 0010). */
export interface FleetSecretTable {
  name: string;
  secret: string;
  created_at: CreatedAt;
}
