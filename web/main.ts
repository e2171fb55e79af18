/**
 * The page: a form and the config text, kept in step both ways, every problem flint's
 * validator finds shown at its line, and the files for the stick to download. Nothing
 * is sent anywhere: there is no fetch, no XHR and no form submission in this page.
 */
import type { Document } from 'yaml';
import { appendItem, check, connectionIndex, docText, driveCommands, getIn, hashPassword, listOf, modeValue, newDoc, parseConfigDoc, put, removeItem, render } from './core.js';
import type { Engine, PageProblem, Seg } from './core.js';
import piExample from '../examples/raspberry-pi.yaml';
import serverExample from '../examples/microos-container-host.yaml';

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the page lacks #${id}`);
  return el as T;
};

const yaml = $<HTMLTextAreaElement>('yaml');
const gutter = $('gutter');
const form = $<HTMLFormElement>('form');

const BLANK = '# A flint config: flint validate checks it, flint drive create puts it on a stick.\nversion: 1\n';

/** The lists the form shows as cards, and where each lives in the config. */
const LISTS: Record<string, { path: Seg[]; title: string; key: string; fresh: () => Record<string, unknown> }> = {
  users: { path: ['users'], title: 'User', key: 'name', fresh: () => ({ name: '' }) },
  files: { path: ['files'], title: 'File', key: 'path', fresh: () => ({ path: '', contents: '' }) },
  units: { path: ['systemd', 'units'], title: 'Unit', key: 'name', fresh: () => ({ name: '' }) },
  containers: { path: ['containers'], title: 'Container', key: 'name', fresh: () => ({ name: '', image: '' }) },
};

type Input = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

/** The last text that parsed: form edits made while the text has a syntax error go onto it. */
let lastGood: Document = newDoc();

function currentDoc(): Document {
  return parseConfigDoc(yaml.value) ?? (parseConfigDoc(docText(lastGood)) as Document);
}

function setText(doc: Document): void {
  const text = docText(doc);
  if (text !== yaml.value) {
    yaml.value = text;
    scheduleCheck(0);
  }
}

// ---- Reading and writing one input ----

function readInput(el: Input): unknown {
  const kind = el.dataset.kind;
  if (el instanceof HTMLInputElement && el.type === 'checkbox') return el.checked ? true : undefined;
  const v = el.value;
  switch (kind) {
    case 'bool':
      return v === '' ? undefined : v === 'true';
    case 'list':
      return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    case 'lines':
      return v.split('\n').map((s) => s.trim()).filter((s) => s !== '');
    case 'mode':
      return modeValue(v);
    default:
      return el instanceof HTMLTextAreaElement ? (v === '' ? undefined : v) : v.trim() === '' ? undefined : v.trim();
  }
}

function showValue(el: Input, v: unknown): void {
  if (el instanceof HTMLInputElement && el.type === 'checkbox') {
    el.checked = el.dataset.kind === 'lock' ? v === '!' || v === '*' : v === true;
    return;
  }
  const kind = el.dataset.kind;
  let text = '';
  if (Array.isArray(v)) text = v.map(String).join(kind === 'lines' ? '\n' : ', ');
  else if (v !== undefined && v !== null && typeof v !== 'object') text = String(v);
  if (el instanceof HTMLSelectElement && text !== '' && ![...el.options].some((o) => o.value === text)) el.add(new Option(text, text));
  if (el.value !== text) el.value = text;
}

// ---- The form from the text ----

function fillForm(doc: Document): void {
  for (const el of form.querySelectorAll<Input>('[data-path]')) showValue(el, getIn(doc, el.dataset.path!.split('.')));
  for (const type of ['wifi', 'ethernet'] as const) {
    const i = connectionIndex(doc, type);
    for (const el of form.querySelectorAll<Input>(`[data-conn="${type}"]`)) {
      const rel = el.dataset.rel!.split('.');
      if (i < 0) showValue(el, el instanceof HTMLSelectElement && type === 'wifi' ? 'wpa-psk' : undefined);
      else showValue(el, getIn(doc, ['network', 'connections', i, ...rel]));
    }
  }
  syncStatic();
  for (const list of Object.keys(LISTS)) fillCards(doc, list);
}

function fillCards(doc: Document, list: string): void {
  const spec = LISTS[list]!;
  const box = $(list);
  const items = listOf(doc, spec.path);
  while (box.children.length > items.length) box.lastElementChild!.remove();
  while (box.children.length < items.length) box.append(makeCard(list, box.children.length));
  items.forEach((item, i) => {
    const card = box.children[i] as HTMLElement;
    const name = (item as Record<string, unknown> | null)?.[spec.key];
    card.querySelector('.card-title')!.textContent = `${spec.title} ${i + 1}${typeof name === 'string' && name !== '' ? `: ${name}` : ''}`;
    for (const el of card.querySelectorAll<Input>('[data-rel]')) {
      if (el.dataset.kind === 'password') continue;
      showValue(el, getIn(doc, [...spec.path, i, ...el.dataset.rel!.split('.')]));
    }
    const state = card.querySelector<HTMLElement>('[data-role="pwstate"]');
    if (state !== null) {
      const hash = getIn(doc, [...spec.path, i, 'password_hash']);
      const pw = card.querySelector<HTMLInputElement>('[data-kind="password"]')!;
      state.textContent = typeof hash === 'string' && /^\$/.test(hash) ? `Set: a ${hash.startsWith('$6$') ? 'SHA-512 crypt' : 'crypt'} hash is in the config. Type a new one to replace it.` : hash === '!' || hash === '*' ? 'Locked: no password login.' : 'Hashed here as you leave the field; the password itself is kept nowhere.';
      pw.placeholder = typeof hash === 'string' && /^\$/.test(hash) ? '•••••••• (set)' : '';
    }
  });
}

let cardSeq = 0;
function makeCard(list: string, index: number): HTMLElement {
  const tpl = $<HTMLTemplateElement>(`tpl-${list}`);
  const card = (tpl.content.firstElementChild as HTMLElement).cloneNode(true) as HTMLElement;
  const id = `${list}-${cardSeq++}`;
  card.dataset.list = list;
  const title = card.querySelector<HTMLElement>('.card-title')!;
  title.id = `${id}-title`;
  card.setAttribute('aria-labelledby', title.id);
  for (const el of card.querySelectorAll<Input>('[data-rel]')) el.id = `${id}-${el.dataset.rel}`;
  for (const l of card.querySelectorAll<HTMLLabelElement>('label[data-for]')) l.htmlFor = `${id}-${l.dataset.for}`;
  for (const h of card.querySelectorAll<HTMLElement>('[data-id]')) {
    h.id = `${id}-${h.dataset.id}`;
    h.dataset.role = h.dataset.id;
  }
  for (const el of card.querySelectorAll<HTMLElement>('[data-describe]')) el.setAttribute('aria-describedby', `${id}-${el.dataset.describe}`);
  const remove = card.querySelector<HTMLButtonElement>('.remove')!;
  remove.setAttribute('aria-describedby', title.id);
  void index;
  return card;
}

function cardIndex(card: HTMLElement): number {
  return [...card.parentElement!.children].indexOf(card);
}

// ---- The text from the form ----

function onFormInput(e: Event): void {
  const el = e.target as Input;
  if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)) return;
  if (el.type === 'file' || el.dataset.kind === 'password') return;
  const doc = currentDoc();
  if (el.dataset.path !== undefined) put(doc, el.dataset.path.split('.'), readInput(el));
  else if (el.dataset.conn !== undefined) writeConnection(doc, el.dataset.conn as 'wifi' | 'ethernet');
  else {
    const card = el.closest<HTMLElement>('.card');
    if (card === null || el.dataset.rel === undefined) return;
    const spec = LISTS[card.dataset.list!]!;
    const at: Seg[] = [...spec.path, cardIndex(card), ...el.dataset.rel.split('.')];
    if (el.dataset.kind === 'lock') {
      const now = getIn(doc, at);
      if ((el as HTMLInputElement).checked) put(doc, at, '!');
      else if (now === '!' || now === '*') put(doc, at, undefined);
    } else put(doc, at, readInput(el));
    if (el.dataset.rel === spec.key) fillCards(doc, card.dataset.list!);
  }
  setText(doc);
}

/** Passwords are hashed when the field is left, and only the hash goes into the text. */
function onPassword(el: HTMLInputElement): void {
  const card = el.closest<HTMLElement>('.card')!;
  const spec = LISTS[card.dataset.list!]!;
  const at: Seg[] = [...spec.path, cardIndex(card)];
  const plain = el.value;
  el.value = '';
  if (plain === '') return;
  const doc = currentDoc();
  let hash: string;
  try {
    hash = hashPassword(plain);
  } catch (e) {
    card.querySelector<HTMLElement>('[data-role="pwstate"]')!.textContent = (e as Error).message;
    return;
  }
  put(doc, [...at, 'password'], undefined);
  put(doc, [...at, 'password_hash'], hash);
  setText(doc);
  fillCards(doc, card.dataset.list!);
}

function writeConnection(doc: Document, type: 'wifi' | 'ethernet'): void {
  const fields = [...form.querySelectorAll<Input>(`[data-conn="${type}"]`)];
  const field = (rel: string) => fields.find((f) => f.dataset.rel === rel)!;
  let i = connectionIndex(doc, type);
  const wanted = type === 'wifi' ? readInput(field('wifi.ssid')) !== undefined : readInput(field('ipv4.method')) !== undefined;
  if (!wanted) {
    if (i >= 0) removeItem(doc, ['network', 'connections'], i);
    put(doc, ['network'], getIn(doc, ['network']));
    return;
  }
  const fallbackName = type === 'wifi' ? 'wifi' : 'lan';
  if (i < 0) i = appendItem(doc, ['network', 'connections'], { name: (readInput(field('name')) as string | undefined) ?? fallbackName, type });
  const staticOnly = new Set(['ipv4.addresses', 'ipv4.gateway', 'ipv4.dns']);
  const isStatic = type === 'ethernet' && field('ipv4.method').value === 'static';
  for (const f of fields) {
    const rel = f.dataset.rel!;
    let v = readInput(f);
    if (rel === 'name' && v === undefined) v = getIn(doc, ['network', 'connections', i, 'name']) ?? fallbackName;
    if (staticOnly.has(rel) && !isStatic) v = undefined;
    put(doc, ['network', 'connections', i, ...rel.split('.')], v);
  }
  syncStatic();
}

function syncStatic(): void {
  const isStatic = $<HTMLSelectElement>('lan-method').value === 'static';
  for (const el of form.querySelectorAll<HTMLElement>('.static')) el.hidden = !isStatic;
}

// ---- Checking, problems, outputs ----

let timer: ReturnType<typeof setTimeout> | undefined;
function scheduleCheck(ms = 150): void {
  if (timer !== undefined) clearTimeout(timer);
  // Marks the page as busy until the check ran, for tests and screenshots to wait on.
  document.body.dataset.pending = '1';
  timer = setTimeout(runCheck, ms);
}

function engine(): Engine {
  return (form.ownerDocument.querySelector<HTMLInputElement>('input[name="engine"]:checked')?.value ?? 'flint') as Engine;
}

function runCheck(): void {
  timer = undefined;
  const text = yaml.value;
  const doc = parseConfigDoc(text);
  if (doc !== undefined) lastGood = doc;
  const checked = check(text);
  showProblems(checked.problems, checked.errors, checked.warnings);
  showOutputs(text, checked.errors);
  delete document.body.dataset.pending;
}

function showProblems(problems: PageProblem[], errors: number, warnings: number): void {
  const count = $('problem-count');
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  count.textContent = errors + warnings === 0 ? 'No problems: flint validate accepts this config.' : `${plural(errors, 'error')}, ${plural(warnings, 'warning')}.`;
  count.className = `count ${errors > 0 ? 'bad' : warnings > 0 ? 'warn' : 'good'}`;
  const list = $('problems');
  list.replaceChildren(...problems.map((p) => problemItem(p)));
  // The gutter: one number per line, marked where a problem is.
  const lines = yaml.value.split('\n').length;
  const marks = new Map<number, string>();
  for (const p of problems) if (marks.get(p.diagnostic.line) !== 'error') marks.set(p.diagnostic.line, p.diagnostic.severity);
  const frag = document.createDocumentFragment();
  for (let n = 1; n <= lines; n++) {
    const d = document.createElement('div');
    d.textContent = String(n);
    const m = marks.get(n);
    if (m !== undefined) d.className = m;
    frag.append(d);
  }
  gutter.replaceChildren(frag);
  gutter.scrollTop = yaml.scrollTop;
}

function problemItem(p: PageProblem): HTMLLIElement {
  const li = document.createElement('li');
  li.className = p.diagnostic.severity;
  const a = document.createElement('a');
  a.href = '#yaml';
  a.textContent = `${p.diagnostic.severity === 'error' ? 'Error' : 'Warning'} on line ${p.diagnostic.line}: ${p.diagnostic.message}`;
  a.addEventListener('click', (e) => {
    e.preventDefault();
    goTo(p.diagnostic.line, p.diagnostic.column, p.diagnostic.length);
  });
  const pre = document.createElement('pre');
  pre.className = 'cli';
  // Focusable, since a long line scrolls sideways and keyboard users must reach it.
  pre.tabIndex = 0;
  pre.setAttribute('aria-label', `flint validate output for line ${p.diagnostic.line}`);
  pre.textContent = p.text;
  li.append(a, pre);
  return li;
}

function goTo(line: number, column: number, length: number): void {
  const lines = yaml.value.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i]!.length + 1;
  offset += column - 1;
  yaml.focus();
  yaml.setSelectionRange(offset, offset + Math.max(1, length));
  const lh = parseFloat(getComputedStyle(yaml).lineHeight) || 20;
  yaml.scrollTop = Math.max(0, (line - 4) * lh);
}

const ENGINE_HELP: Record<Engine, string> = {
  flint: 'An image with flint in it (flint image enable): a stick labelled FLINT with flint/config.yaml.',
  combustion: 'A stock openSUSE MicroOS or other Combustion image: a stick labelled COMBUSTION whose script runs the self-contained flint it carries, so nothing is lost.',
  ignition: 'A stock Fedora CoreOS, Flatcar or MicroOS image with Ignition: ignition/config.ign on a stick labelled IGNITION. What Ignition cannot express is listed below.',
  'cloud-init': 'A stock Raspberry Pi OS, Ubuntu or Debian cloud image: a NoCloud seed on a stick labelled CIDATA. What cloud-init cannot express is listed below.',
};

let blobUrls: string[] = [];
function showOutputs(text: string, errors: number): void {
  const e = engine();
  $('engine-help').textContent = ENGINE_HELP[e];
  $('commands').textContent = driveCommands(e);
  for (const u of blobUrls) URL.revokeObjectURL(u);
  blobUrls = [];
  const box = $('downloads');
  const preview = $('preview');
  if (errors > 0) {
    box.replaceChildren(note('Fix the errors above first: flint drive create refuses a config with errors.', 'bad'));
    preview.replaceChildren();
    return;
  }
  const r = render(e, text);
  const items: HTMLElement[] = [];
  if (r.error !== undefined) items.push(note(r.error, 'bad'));
  for (const f of r.files) {
    const url = URL.createObjectURL(new Blob([f.text], { type: 'text/plain' }));
    blobUrls.push(url);
    const a = document.createElement('a');
    a.href = url;
    a.download = f.download;
    a.className = 'button';
    a.dataset.file = f.name;
    a.textContent = `Download ${f.download}`;
    const small = document.createElement('span');
    small.className = 'where';
    small.textContent = `on the stick: ${f.name}`;
    const row = document.createElement('div');
    row.className = 'download';
    row.append(a, small);
    items.push(row);
  }
  for (const n of r.notes) items.push(note(n, 'info'));
  if (r.losses.length > 0) {
    items.push(note(`${r.losses.length} setting${r.losses.length === 1 ? '' : 's'} cannot be expressed for ${e}:`, 'warn'));
    const ol = document.createElement('ol');
    ol.className = 'problems';
    ol.append(...r.losses.map(problemItem));
    items.push(ol);
  }
  box.replaceChildren(...items);
  preview.replaceChildren(
    ...r.files.flatMap((f) => {
      const h = document.createElement('h4');
      h.textContent = f.name;
      const pre = document.createElement('pre');
      pre.className = 'file';
      pre.tabIndex = 0;
      pre.setAttribute('aria-label', f.name);
      pre.textContent = f.text;
      return [h, pre];
    }),
  );
}

function note(text: string, kind: string): HTMLParagraphElement {
  const p = document.createElement('p');
  p.className = `note ${kind}`;
  p.textContent = text;
  return p;
}

// ---- Wiring ----

function fromText(): void {
  const doc = parseConfigDoc(yaml.value);
  if (doc !== undefined) fillForm(doc);
  scheduleCheck();
}

function load(text: string): void {
  yaml.value = text;
  fromText();
  scheduleCheck(0);
}

yaml.addEventListener('input', fromText);
yaml.addEventListener('scroll', () => {
  gutter.scrollTop = yaml.scrollTop;
});
yaml.addEventListener('keydown', (e) => {
  // Tab leaves the editor (keyboard users must get out); two spaces need Ctrl+] or typing them.
  if (e.key === ']' && e.ctrlKey) {
    e.preventDefault();
    yaml.setRangeText('  ', yaml.selectionStart, yaml.selectionEnd, 'end');
    fromText();
  }
});
form.addEventListener('input', onFormInput);
form.addEventListener('change', (e) => {
  const el = e.target as HTMLElement;
  if (el instanceof HTMLInputElement && el.dataset.kind === 'password') onPassword(el);
  else if (el instanceof HTMLSelectElement || (el instanceof HTMLInputElement && el.type === 'checkbox')) onFormInput(e);
});
form.addEventListener('submit', (e) => e.preventDefault());
form.addEventListener('click', (e) => {
  const t = e.target as HTMLElement;
  const add = t.closest<HTMLButtonElement>('button[data-add]');
  if (add !== null) {
    const list = add.dataset.add!;
    const doc = currentDoc();
    const i = appendItem(doc, LISTS[list]!.path, LISTS[list]!.fresh());
    setText(doc);
    fillCards(doc, list);
    $(list).children[i]?.querySelector<HTMLElement>('[data-rel]')?.focus();
    return;
  }
  const remove = t.closest<HTMLButtonElement>('button.remove');
  if (remove !== null) {
    const card = remove.closest<HTMLElement>('.card')!;
    const list = card.dataset.list!;
    const doc = currentDoc();
    removeItem(doc, LISTS[list]!.path, cardIndex(card));
    setText(doc);
    fillCards(doc, list);
    form.querySelector<HTMLButtonElement>(`button[data-add="${list}"]`)!.focus();
  }
});

// SSH public keys: from files chosen or dropped, read here (FileReader), never uploaded.
async function addKeyFiles(card: HTMLElement, files: FileList | null): Promise<void> {
  if (files === null || files.length === 0) return;
  const area = card.querySelector<HTMLTextAreaElement>('[data-rel="ssh_authorized_keys"]')!;
  const texts = await Promise.all([...files].map((f) => f.text()));
  const keys = texts.flatMap((t) => t.split('\n')).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  area.value = [area.value.trim(), ...keys].filter((s) => s !== '').join('\n');
  area.dispatchEvent(new Event('input', { bubbles: true }));
}
form.addEventListener('change', (e) => {
  const t = e.target as HTMLInputElement;
  if (t.classList.contains('key-files')) void addKeyFiles(t.closest<HTMLElement>('.card')!, t.files).then(() => (t.value = ''));
});
form.addEventListener('dragover', (e) => {
  if ((e.target as HTMLElement).matches?.('[data-rel="ssh_authorized_keys"]')) e.preventDefault();
});
form.addEventListener('drop', (e) => {
  const t = e.target as HTMLElement;
  if (!t.matches?.('[data-rel="ssh_authorized_keys"]') || e.dataTransfer?.files.length === 0) return;
  e.preventDefault();
  void addKeyFiles(t.closest<HTMLElement>('.card')!, e.dataTransfer?.files ?? null);
});

for (const r of document.querySelectorAll<HTMLInputElement>('input[name="engine"]')) r.addEventListener('change', () => scheduleCheck(0));

$<HTMLSelectElement>('example').addEventListener('change', (e) => {
  const v = (e.target as HTMLSelectElement).value;
  const texts: Record<string, string> = { blank: BLANK, pi: piExample, server: serverExample };
  if (texts[v] !== undefined) load(texts[v]);
  (e.target as HTMLSelectElement).value = '';
});

$('copy-commands').addEventListener('click', () => {
  void navigator.clipboard?.writeText($('commands').textContent ?? '');
});

function fillDatalist(id: string, values: readonly string[]): void {
  $(id).replaceChildren(...values.map((v) => new Option(v)));
}
const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
fillDatalist('timezones', intl.supportedValuesOf?.('timeZone') ?? ['UTC', 'Europe/Berlin', 'Europe/London', 'America/New_York']);
fillDatalist('locales', ['en_US.UTF-8', 'en_GB.UTF-8', 'de_DE.UTF-8', 'fr_FR.UTF-8', 'es_ES.UTF-8', 'it_IT.UTF-8', 'nl_NL.UTF-8', 'pt_BR.UTF-8', 'sv_SE.UTF-8', 'pl_PL.UTF-8', 'ja_JP.UTF-8', 'C.UTF-8']);
fillDatalist('keymaps', ['us', 'uk', 'de', 'de-nodeadkeys', 'fr', 'es', 'it', 'nl', 'se', 'no', 'dk', 'fi', 'pl', 'ch', 'jp106']);
fillDatalist('countries', ['DE', 'GB', 'US', 'FR', 'NL', 'AT', 'CH', 'ES', 'IT', 'SE', 'NO', 'DK', 'FI', 'PL', 'CZ', 'BE', 'IE', 'CA', 'AU', 'NZ', 'JP']);

load(BLANK);
