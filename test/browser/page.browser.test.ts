import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, screenshot } from '../support/browser.js';
import { answerFor } from '../../sample-app/src/streams/prose.js';
import { CuttingProxy } from '../support/cutting-proxy.js';
import { readAll } from '../support/sse-reader.js';
import { startSampleApp, type RunningApp } from '../support/sample-app.js';

const describeIfChromium = chromiumAvailable() ? describe : describe.skip;

// These functions run in the page: the few DOM members they use, declared for this file only.
declare const document: {
  getElementById(id: string): { textContent: string | null } | null;
  querySelectorAll(selector: string): { length: number };
  body: { dataset: Record<string, string | undefined> };
};
declare const window: { meridianDemo: { streamId: string; tokens: number } };

/** What the page shows and knows. */
const pageState = (page: Page) =>
  page.evaluate(() => ({
    text: document.getElementById('answer')!.textContent ?? '',
    status: document.body.dataset.state,
    streamId: window.meridianDemo.streamId,
    tokens: window.meridianDemo.tokens,
    blocks: document.querySelectorAll('#answer .block').length,
  }));

const waitForTokens = (page: Page, count: number) =>
  page.waitForFunction(
    (n) => (window as unknown as { meridianDemo: { tokens: number } }).meridianDemo.tokens >= n,
    count,
  );

const waitForDone = (page: Page) =>
  page.waitForFunction(() => document.body.dataset.state === 'done', null, { timeout: 20_000 });

describeIfChromium('the demo page in Chromium', () => {
  let server: RunningApp;
  let proxy: CuttingProxy;
  let browser: Browser;
  let context: BrowserContext;
  /** The page is loaded through a proxy whose connections the tests can cut. */
  let pageBase: string;
  beforeAll(async () => {
    server = await startSampleApp('express', { retryMs: 200 });
    proxy = await new CuttingProxy(Number(new URL(server.baseUrl).port)).listen();
    pageBase = `http://127.0.0.1:${proxy.port}`;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
  });

  /** A network cut as the page sees it: open connections reset, new ones refused. */
  async function cutNetwork(page: Page): Promise<void> {
    await context.setOffline(true);
    proxy.cutAll();
    await page.waitForFunction(() => document.body.dataset.state === 'reconnecting', null, { timeout: 10_000 });
  }
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  });
  afterEach(() => context.close());

  /**
   * The text the server sent on this stream, read back independently after it finished (deltas,
   * or blocks where the catch-up came from the database), and the number of tokens.
   */
  async function serverText(streamId: string): Promise<{ text: string; deltas: number }> {
    const reader = await readAll(`${server.baseUrl}/streams/${streamId}`);
    const parts = reader.events.filter((event) => event.event === 'text_delta' || event.event === 'text_block');
    const text = parts.map((event) => (JSON.parse(event.data) as { text: string }).text).join('');
    return { text, deltas: parts.length };
  }

  async function ask(page: Page, query = 'interval=12'): Promise<void> {
    await page.goto(`${pageBase}/?${query}`);
    await page.click('#start');
    await page.waitForFunction(() => document.body.dataset.state === 'live');
  }

  it('types the answer token by token until done: exactly the text the server sent', async () => {
    const page = await context.newPage();
    await ask(page);
    await waitForTokens(page, 20);
    await screenshot(page, 'streaming');
    await waitForDone(page);
    await screenshot(page, 'done');
    const shown = await pageState(page);
    const sent = await serverText(shown.streamId);
    expect(sent.deltas).toBeGreaterThan(100);
    expect(shown.text).toBe(sent.text);
    expect(shown.tokens).toBe(sent.deltas);
    expect(shown.text).toBe(answerFor(await page.inputValue('#prompt')));
  });

  it('continues without a repeated or missing token after "Drop connection", three times', async () => {
    const page = await context.newPage();
    await ask(page);
    for (const at of [15, 40, 70]) {
      await waitForTokens(page, at);
      await page.click('#drop');
    }
    await screenshot(page, 'after-drops');
    await waitForDone(page);
    const shown = await pageState(page);
    const sent = await serverText(shown.streamId);
    expect(shown.text).toBe(sent.text);
    expect(shown.tokens).toBe(sent.deltas);
  });

  it('survives a network cut (offline mode, connections reset): the browser reconnects with Last-Event-ID', async () => {
    const page = await context.newPage();
    await ask(page, 'interval=20');
    await waitForTokens(page, 20);
    await cutNetwork(page);
    await screenshot(page, 'offline');
    await new Promise((resolve) => setTimeout(resolve, 500));
    await context.setOffline(false);
    await waitForDone(page);
    const shown = await pageState(page);
    const sent = await serverText(shown.streamId);
    expect(shown.text).toBe(sent.text);
    expect(shown.tokens).toBe(sent.deltas);
  });

  it('shows the same text in a second tab on the same stream', async () => {
    const first = await context.newPage();
    await ask(first);
    await waitForTokens(first, 10);
    const { streamId } = await pageState(first);
    const second = await context.newPage();
    await second.goto(`${pageBase}/?stream=${streamId}`);
    await Promise.all([waitForDone(first), waitForDone(second)]);
    await screenshot(second, 'second-tab');
    const [a, b] = [await pageState(first), await pageState(second)];
    expect(b.text).toBe(a.text);
    expect(a.text).toBe((await serverText(streamId)).text);
  });

  it('an interjection typed in one tab appears in the answer in every open tab', async () => {
    const first = await context.newPage();
    await ask(first, 'interval=40');
    await waitForTokens(first, 3);
    const { streamId } = await pageState(first);
    const second = await context.newPage();
    await second.goto(`${pageBase}/?stream=${streamId}`);
    await second.waitForFunction(() => document.body.dataset.state === 'live');
    await first.fill('#interjection', 'Mention the browser test.');
    await first.click('#send-interjection');
    await Promise.all([waitForDone(first), waitForDone(second)]);
    await screenshot(second, 'interjection');
    const [a, b] = [await pageState(first), await pageState(second)];
    expect(a.text).toContain('[You added: Mention the browser test.]');
    expect(b.text).toBe(a.text);
    expect(a.text).toBe((await serverText(streamId)).text);
  });

  it('resumes after persist-and-clear: the catch-up comes from the database as whole blocks', async () => {
    const page = await context.newPage();
    await ask(page, 'interval=25');
    await waitForTokens(page, 25);
    await cutNetwork(page);
    const { streamId } = await pageState(page);
    // While the page is away, more is produced, then everything is written out and cleared from memory.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const persisted = await fetch(`${server.baseUrl}/streams/${streamId}/persist`, { method: 'POST' });
    expect(((await persisted.json()) as { cleared: number }).cleared).toBeGreaterThan(25);
    await context.setOffline(false);
    await waitForDone(page);
    await screenshot(page, 'after-persist');
    const shown = await pageState(page);
    expect(shown.blocks).toBeGreaterThanOrEqual(1);
    expect(shown.text).toBe((await serverText(streamId)).text);
  });
});
