import { defineConfig } from "vitest/config";

// Two suites: unit tests run in parallel; integration tests build and boot VMs, and on two
// cores they run one file at a time. `vitest run --project unit` runs only the fast ones.
export default defineConfig({
  test: {
    globalSetup: ["test/global-setup.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/integration/**"],
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 30_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
