import type { Db } from '../src/db/database.js';
import { MACHINES } from '../src/machines/index.js';
import { createEntities } from '../src/transitions/index.js';

/** `count` ideas of one product, created 1,000 per transaction through the door; their ids in order. */
export async function createIdeas(db: Db, productId: string, count: number, prompt: string): Promise<string[]> {
  const ideas: string[] = [];
  for (let start = 0; start < count; start += 1_000) {
    const values = Array.from({ length: Math.min(1_000, count - start) }, (_, i) => ({
      product_id: productId,
      title: `Idea ${start + i}`,
      prompt_text: prompt,
    }));
    ideas.push(...(await db.transaction().execute((trx) => createEntities(trx, MACHINES.IDEA, values))).map((c) => c.row.id));
  }
  return ideas;
}
