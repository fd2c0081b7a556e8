import { describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';

describe('freePort (test helper)', () => {
  it('never hands out the same port twice in one process', async () => {
    // The OS gives a just-released port to a later bind on port 0 now and then (7 repeats in 300 calls
    // on this machine), which once started a broker with both listeners on one port.
    const ports: number[] = [];
    for (let i = 0; i < 300; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
