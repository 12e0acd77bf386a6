// vitest in a real browser (Debian's Chromium through Playwright): views draw on real canvases
// and timings are Chromium's.
import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";

// the config runs in Node; declared here to avoid a dependency on @types/node
declare const process: { env: Record<string, string | undefined> };

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    browser: {
      enabled: true,
      headless: true,
      provider: playwright({
        launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: CHROMIUM_ARGS },
      }),
      instances: [{ browser: "chromium" }],
      screenshotDirectory: "../test-artifacts/vitest-failures",
    },
  },
});
