/**
 * Regenerates the README's screenshots of the web console (src/Console/screenshots/): runs the browser
 * test (test/Console.test.ts), which saves them along the way when TASKD_CONSOLE_SCREENSHOTS is set. Needs
 * Debian's chromium (or CHROMIUM_PATH).
 *
 *   node scripts/console-screenshots.ts
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const dir = fileURLToPath(new URL("../src/Console/screenshots/", import.meta.url))

const result = spawnSync(
  "npx",
  ["vitest", "run", "--project", "slow", "test/Console.test.ts", "-t", "sign in, create a task"],
  { cwd: root, stdio: "inherit", env: { ...process.env, TASKD_CONSOLE_SCREENSHOTS: dir } }
)
if (result.status === 0) console.log(`screenshots written to ${dir}`)
process.exit(result.status ?? 1)
