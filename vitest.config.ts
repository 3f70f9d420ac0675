import { defineConfig } from "vitest/config"

/**
 * Files whose tests start processes, kill servers or run two instances on one Postgres: they take most of
 * the suite's time, so `npm test` leaves them to `npm run test:slow` (CI runs both). The one-instance race
 * checks (test/Concurrency.test.ts) are in the fast project, on every backend.
 */
const slow = [
  "test/Faults.test.ts",
  "test/Cli.test.ts",
  "test/TasksCli.test.ts",
  "test/SnapshotImportCli.test.ts",
  "test/MultiInstance.test.ts",
  "test/RecorderProcesses.test.ts",
  "test/LocalProcess.test.ts",
  "test/Tracing.test.ts",
  "test/Logging.test.ts",
  "test/MetricsServe.test.ts",
  "test/Console.test.ts",
  "test/QueueProcesses.test.ts",
  "test/WebhookProcesses.test.ts"
]

const shared = {
  testTimeout: 60_000,
  hookTimeout: 120_000,
  // Each file starts its own databases and servers; two cores run two files at a time. Workers are forked
  // with the Node that runs vitest (npm scripts and npx find node_modules/.bin/node, Node 22, first).
  pool: "forks" as const,
  maxWorkers: 2
}

export default defineConfig({
  test: {
    ...shared,
    projects: [
      { test: { ...shared, name: "fast", include: ["test/**/*.test.ts"], exclude: slow } },
      { test: { ...shared, name: "slow", include: slow } }
    ]
  }
})
