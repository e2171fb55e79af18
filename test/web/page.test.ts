/**
 * The web page (web/, built into dist/web/) in Debian's chromium, headless, from
 * file://: the form filled for the Raspberry Pi example gives a config that the CLI
 * accepts and that means what examples/raspberry-pi.yaml means; a wrong mode and a bad
 * SSH key show the CLI's own messages at the right lines; the page works by keyboard,
 * axe-core finds no accessibility violation, and no request leaves the page.
 * Type-checked with web/tsconfig.json: the callbacks that run in the page need DOM types.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import puppeteer from 'puppeteer-core';
import type { Browser, Page } from 'puppeteer-core';
import { parse } from 'yaml';
import { verifyPassword } from '../../src/crypt/sha-crypt.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'dist/flint.mjs');
const PAGE = join(ROOT, 'dist/web/index.html');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (CHROMIUM === undefined) console.warn('web.test.ts: skipped, no chromium (apt-get install chromium)');

const PI_PASSWORD = 'kitchen-Display-7';
const PI_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOoJL/vJCiJquo8xSHhgChvFWY7AsNUXclcabmrxWSaq pi@desktop';

describe.skipIf(CHROMIUM === undefined)('the web page in chromium', () => {
  let browser: Browser;
  let page: Page;
  let downloads: string;
  const requests: string[] = [];
  const refused: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(PAGE)) execFileSync(process.execPath, ['scripts/bundle-web.mjs'], { cwd: ROOT, stdio: 'inherit' });
    downloads = mkdtempSync(join(tmpdir(), 'flint-web-'));
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const dir = pathToFileURL(join(ROOT, 'dist/web/')).href;
    // Every request is seen here; only the page's own files (and data:/blob: URLs) may load.
    await page.setRequestInterception(true);
    page.on('request', (r) => {
      const url = r.url();
      requests.push(url);
      if (url.startsWith(dir) || url.startsWith('data:') || url.startsWith('blob:')) void r.continue();
      else {
        refused.push(url);
        void r.abort();
      }
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
    await page.goto(pathToFileURL(PAGE).href);
    await settled(page);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (downloads !== undefined) rmSync(downloads, { recursive: true, force: true });
  });

  it('fills the form for the Raspberry Pi example: the CLI accepts the downloaded config, which means the same', async () => {
    await typeInto(page, '#hostname', 'pi-kitchen');
    await typeInto(page, '#timezone', 'Europe/Berlin');
    await typeInto(page, '#locale', 'de_DE.UTF-8');
    await typeInto(page, '#keymap', 'de-nodeadkeys');

    // Users: added and filled by keyboard (Enter on the button, Space on the checkbox).
    await page.focus('button[data-add="users"]');
    await page.keyboard.press('Enter');
    const pi = '#users .card:nth-child(1)';
    await typeInto(page, `${pi} [data-rel="name"]`, 'pi');
    await typeInto(page, `${pi} [data-rel="gecos"]`, 'Kitchen display');
    await typeInto(page, `${pi} [data-rel="password"]`, PI_PASSWORD);
    await page.keyboard.press('Tab'); // leaving the field hashes the password
    await page.select(`${pi} [data-rel="sudo"]`, 'password');
    await typeInto(page, `${pi} [data-rel="shell"]`, '/bin/bash');
    await typeInto(page, `${pi} [data-rel="groups"]`, 'sudo, video, audio, gpio, i2c, spi, plugdev, netdev');
    await typeInto(page, `${pi} [data-rel="ssh_authorized_keys"]`, PI_KEY);
    await page.focus('button[data-add="users"]');
    await page.keyboard.press('Enter');
    const root = '#users .card:nth-child(2)';
    await typeInto(page, `${root} [data-rel="name"]`, 'root');
    await page.focus(`${root} [data-kind="lock"]`);
    await page.keyboard.press('Space');

    await page.select('#ssh-pw', 'false');
    await page.select('#ssh-root', 'no');
    await page.select('#ssh-hostkeys', 'generate');

    await typeInto(page, '#wifi-ssid', 'Home');
    await typeInto(page, '#wifi-pass', 'change me: 8 to 63 characters');
    await typeInto(page, '#wifi-country', 'DE');
    await typeInto(page, '#wifi-name', 'home-wifi');
    await typeInto(page, '#wifi-if', 'wlan0');
    await settled(page);

    const text = await page.$eval('#yaml', (e) => (e as HTMLTextAreaElement).value);
    expect(text).not.toContain(PI_PASSWORD);
    expect(await page.$eval('#problem-count', (e) => e.textContent)).toBe('No problems: flint validate accepts this config.');

    const file = await download(page, downloads, 'config.yaml');
    const cli = spawnSync(process.execPath, [BIN, 'validate', file], { encoding: 'utf8' });
    expect(cli.stderr + cli.stdout).not.toMatch(/error/);
    expect(cli.status).toBe(0);

    const got = parse(readFileSync(file, 'utf8')) as { users: Array<Record<string, unknown>> };
    const want = parse(readFileSync(join(ROOT, 'examples/raspberry-pi.yaml'), 'utf8')) as { users: Array<Record<string, unknown>> };
    const hash = got.users[0]!.password_hash as string;
    expect(hash).toMatch(/^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
    expect(verifyPassword(PI_PASSWORD, hash)).toBe(true);
    delete got.users[0]!.password_hash;
    delete want.users[0]!.password_hash;
    expect(got).toEqual(want);
  }, 120_000);

  it('downloads the Ignition rendering, which flint reads back without an error', async () => {
    await page.click('label[for="engine-ignition"]');
    await settled(page);
    const file = await download(page, downloads, 'config.ign');
    const ign = JSON.parse(readFileSync(file, 'utf8')) as { ignition: { version: string }; passwd: { users: Array<{ name: string; passwordHash?: string }> } };
    expect(ign.ignition.version).toMatch(/^3\./);
    expect(verifyPassword(PI_PASSWORD, ign.passwd.users.find((u) => u.name === 'pi')!.passwordHash!)).toBe(true);
    const cli = spawnSync(process.execPath, [BIN, 'validate', file], { encoding: 'utf8' });
    expect(cli.status, cli.stdout + cli.stderr).toBe(0);
    expect(await page.$eval('#commands', (e) => e.textContent)).toContain('flint drive create config.yaml -o flint-stick.img --for ignition');
    await page.click('label[for="engine-flint"]');
    await settled(page);
  }, 60_000);

  it('shows the CLI’s own messages for a wrong mode and a bad SSH key, on their lines', async () => {
    await page.focus('button[data-add="files"]');
    await page.keyboard.press('Enter');
    const card = '#files .card:nth-child(1)';
    await typeInto(page, `${card} [data-rel="path"]`, '/etc/motd');
    await typeInto(page, `${card} [data-rel="mode"]`, '644');
    await typeInto(page, `${card} [data-rel="contents"]`, 'Welcome to the kitchen');
    // A second key, cut short, after the good one.
    await page.focus('#users .card:nth-child(1) [data-rel="ssh_authorized_keys"]');
    await page.keyboard.press('End');
    await page.keyboard.type('\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOoJL/vJCiJq pi@laptop');
    await settled(page);

    const text = await page.$eval('#yaml', (e) => (e as HTMLTextAreaElement).value);
    const shown = await page.$$eval('#problems > li pre.cli', (ps) => ps.map((p) => p.textContent ?? ''));
    const lines = text.split('\n');
    const modeLine = lines.findIndex((l) => /^\s+mode: 644$/.test(l)) + 1;
    const keyLine = lines.findIndex((l) => l.includes('AAAAIOoJL/vJCiJq pi@laptop')) + 1;
    expect(modeLine).toBeGreaterThan(0);
    expect(keyLine).toBeGreaterThan(0);
    expect(shown.some((s) => s.startsWith(`config.yaml:${modeLine}:`) && s.includes('mode 644 has no leading 0, so it is not octal'))).toBe(true);
    expect(shown.some((s) => s.startsWith(`config.yaml:${keyLine}:`))).toBe(true);
    expect(await page.$eval('#problem-count', (e) => e.textContent)).toMatch(/^2 errors, 0 warnings\.$/);
    // The gutter marks both lines.
    const marked = await page.$$eval('#gutter .error', (ds) => ds.map((d) => Number(d.textContent)));
    expect(marked).toEqual([modeLine, keyLine].sort((a, b) => a - b));

    // What flint validate prints for the same text is what the page shows, block for block.
    const dir = mkdtempSync(join(tmpdir(), 'flint-web-cli-'));
    try {
      writeFileSync(join(dir, 'config.yaml'), text);
      const cli = spawnSync(process.execPath, [BIN, 'validate', 'config.yaml'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      expect(cli.status).toBe(1);
      const out = cli.stdout + cli.stderr;
      expect(shown).toHaveLength(2);
      for (const s of shown) expect(out).toContain(s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // A problem's link takes the caret to its line in the text.
    await page.click('#problems > li:first-child a');
    const caretLine = await page.$eval('#yaml', (e) => {
      const t = e as HTMLTextAreaElement;
      return t.value.slice(0, t.selectionStart).split('\n').length;
    });
    expect(caretLine).toBe(Math.min(modeLine, keyLine));
  }, 60_000);

  it('is usable by keyboard: every control is reached by Tab, and the focus is visible', async () => {
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.evaluate(() => document.body.focus());
    const seen = new Set<string>();
    const unringed: string[] = [];
    for (let i = 0; i < 200; i++) {
      await page.keyboard.press('Tab');
      const f = await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (el === null || el === document.body) return undefined;
        const s = getComputedStyle(el);
        const label = el.id !== '' ? el.id : `${el.tagName.toLowerCase()}:${el.textContent?.trim().slice(0, 20) ?? ''}`;
        const ring = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
        const shadow = s.boxShadow !== 'none';
        // Radio buttons and the key-file input are drawn by their label, which takes the ring.
        const viaLabel = (el as HTMLInputElement).type === 'radio' || (el as HTMLInputElement).type === 'file';
        // The config text's ring is drawn around the editor with its line numbers.
        const viaEditor = el.id === 'yaml' && getComputedStyle(el.parentElement!).boxShadow !== 'none';
        return { label, ok: ring || shadow || viaLabel || viaEditor };
      });
      if (f === undefined) continue;
      if (!f.ok) unringed.push(f.label);
      seen.add(f.label);
    }
    for (const id of ['example', 'hostname', 'timezone', 'ssh-pw', 'wifi-ssid', 'lan-method', 'yaml', 'engine-flint', 'copy-commands']) expect(seen, id).toContain(id);
    expect(unringed).toEqual([]);
  }, 60_000);

  it('has no accessibility violations (axe-core)', async () => {
    const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    // Evaluated over the DevTools protocol: the page's own policy allows no inline script.
    await page.evaluate(axe);
    const result = await page.evaluate(async () => {
      const w = window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: Array<{ id: string; help: string; nodes: Array<{ target: string[] }> }>; passes: unknown[] }> } };
      const r = await w.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
      return { violations: r.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), passes: r.passes.length };
    });
    expect(result.violations).toEqual([]);
    expect(result.passes).toBeGreaterThan(10);
  }, 60_000);

  it('made no request beyond its own files', () => {
    expect(refused).toEqual([]);
    const own = pathToFileURL(join(ROOT, 'dist/web/')).href;
    for (const u of requests) expect(u.startsWith(own) || u.startsWith('blob:') || u.startsWith('data:'), u).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});

async function settled(page: Page): Promise<void> {
  await page.waitForFunction(() => document.body.dataset.pending === undefined, { timeout: 20_000 });
}

/** Click into a field, clear it, and type as a person would. */
async function typeInto(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForSelector(selector);
  await page.click(selector, { clickCount: 3 });
  await page.$eval(selector, (e) => {
    (e as HTMLInputElement).value = '';
  });
  await page.type(selector, text);
}

/** Click the page's download link for NAME and wait for the file to land in DIR. */
async function download(page: Page, dir: string, name: string): Promise<string> {
  for (const f of readdirSync(dir)) rmSync(join(dir, f), { force: true });
  await settled(page);
  await page.click(`#downloads a[download="${name}"]`);
  const file = join(dir, name);
  for (let i = 0; i < 100 && !(existsSync(file) && !readdirSync(dir).some((f) => f.endsWith('.crdownload'))); i++) await new Promise((r) => setTimeout(r, 100));
  expect(existsSync(file), `download of ${name}`).toBe(true);
  return file;
}
