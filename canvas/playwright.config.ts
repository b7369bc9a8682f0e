// End-to-end tests in Debian's Chromium (apt `chromium`; no browser download) against a real
// platform that e2e/platform.ts starts (or MOLECULE_URL + E2E_ADMIN_TOKEN for a running one).
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "e2e",
  globalSetup: "./e2e/platform.ts",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 20_000 },
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    browserName: "chromium",
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
    screenshot: "only-on-failure",
    trace: "off",
    acceptDownloads: true,
  },
});
