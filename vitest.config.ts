import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most files wait on real servers, rollouts and timers rather than on the CPU: two at a time
    // halves the run on a 2-core machine (vitest's default there is one).
    maxWorkers: 2,
  },
});
