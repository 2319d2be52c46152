import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM } from '../global-setup.js';

export { CHROMIUM };
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../artifacts/browser');

/**
 * Whether browser suites can run. Under CI=true a missing Chromium fails the run (test/global-setup.ts
 * fails it before any suite starts); elsewhere the suites skip and say so loudly.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `${CHROMIUM} is missing (apt-get install chromium): browser suites are SKIPPED.`;
  if (process.env.CI === 'true') throw new Error(`${message} Under CI=true this fails the run.`);
  console.warn(`!!! ${message}`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Saves a screenshot under the git-ignored artifacts folder. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}
