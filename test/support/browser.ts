import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.HOIST_TEST_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Debian's Chromium, headless, with nothing allowed to reach beyond this machine (scripts/services-up.sh
 * installs it). Never a browser download.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: run scripts/services-up.sh (installs Debian's chromium) or set HOIST_TEST_CHROMIUM`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}
