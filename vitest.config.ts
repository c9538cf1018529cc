import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    // Integration tests boot VMs; on two cores they run one file at a time.
    fileParallelism: false,
    hookTimeout: 900_000,
  },
});
