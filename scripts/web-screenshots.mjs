// npm run screenshots: docs/web-phone.png (390 px wide) and docs/web-desktop.png (1280 px)
// of the built page (npm run build first), with the Raspberry Pi example loaded, in
// Debian's chromium, headless.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';

/* global document -- the waitForFunction callbacks run in the page */

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (chromium === undefined) throw new Error('no chromium: apt-get install chromium');
const page = pathToFileURL('dist/web/index.html').href;
if (!existsSync('dist/web/index.html')) throw new Error('no dist/web/index.html: run npm run build first');

const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--font-render-hinting=none'] });
try {
  for (const [name, width, height] of [['web-phone', 390, 1400], ['web-desktop', 1280, 1000]]) {
    const p = await browser.newPage();
    await p.setViewport({ width, height, deviceScaleFactor: 1 });
    await p.goto(page);
    await p.select('#example', 'pi');
    await p.waitForFunction(() => document.querySelector('#hostname')?.value === 'pi-kitchen');
    await p.waitForFunction(() => document.querySelectorAll('#downloads .button').length > 0);
    await p.screenshot({ path: `docs/${name}.png` });
    await p.close();
    console.log(`docs/${name}.png (${width} px wide)`);
  }
} finally {
  await browser.close();
}
