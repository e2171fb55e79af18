import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests share loop devices and mounts; files run one at a time there.
    fileParallelism: true,
    testTimeout: 30_000,
    reporters: ['default'],
  },
});
