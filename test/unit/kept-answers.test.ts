import { describe, expect, it } from 'vitest';
import { createKeptAnswers } from '../../src/util/kept-answers.js';

describe('kept answers', () => {
  it('hands a kept answer to every call within its time, computing it once', async () => {
    let t = 0;
    const answers = createKeptAnswers<number>(5_000, () => t);
    let computed = 0;
    const compute = async () => ++computed;
    expect(await answers.get('a', compute)).toBe(1);
    t = 4_999;
    expect(await answers.get('a', compute)).toBe(1);
    t = 5_000;
    expect(await answers.get('a', compute)).toBe(2);
  });

  it('drops answers past their time when another is kept: keys asked once do not pile up', async () => {
    let t = 0;
    const answers = createKeptAnswers<string>(5_000, () => t);
    for (let owner = 0; owner < 100; owner += 1) await answers.get(`owner-${owner}`, async () => 'series');
    expect(answers.size).toBe(100);
    t = 5_000;
    await answers.get('owner-new', async () => 'series');
    expect(answers.size).toBe(1);
  });

  it('does not keep a failed answer', async () => {
    const answers = createKeptAnswers<number>(5_000, () => 0);
    await expect(answers.get('a', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await answers.get('a', async () => 7)).toBe(7);
  });
});
