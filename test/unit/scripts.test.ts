/** Scripts: Combustion's markers, the config's scripts with their bodies and folders, the network note. */
import { describe, expect, it } from 'vitest';
import { configScripts, markers, networkNotes } from '../../src/steps/scripts/step.js';
import type { FlintConfig } from '../../src/config/validate.js';

describe('markers', () => {
  it('reads network and prepare from lines starting "# combustion:", combined or not', () => {
    expect(markers('#!/bin/sh\n# combustion: network prepare\n')).toEqual({ network: true, prepare: true });
    expect(markers('#!/bin/sh\n# combustion: network\necho\n# combustion: prepare\n')).toEqual({ network: true, prepare: true });
    expect(markers('#!/bin/sh\n# combustion: network\n')).toEqual({ network: true, prepare: false });
  });
  it('ignores the words elsewhere, indented markers and other words that contain them', () => {
    expect(markers('#!/bin/sh\necho "# combustion: network"\n  # combustion: prepare\n')).toEqual({ network: false, prepare: false });
    expect(markers('# combustion: networking unprepared\n')).toEqual({ network: false, prepare: false });
  });
});

describe('configScripts', () => {
  const config = {
    version: 1,
    scripts: [
      { name: 'a', contents: '# combustion: network\necho a\n' },
      { name: 'b', stage: 'pre', source: 'file:combustion/script' },
      { name: 'c', source: 'data:,echo%20c' },
      { name: 'd', network: true, contents: 'echo d\n' },
    ],
  } as unknown as FlintConfig;
  const payloads = new Map([['file:combustion/script', Buffer.from('#!/bin/bash\n# combustion: prepare\n')]]);
  it('gives each its body, stage, markers and folder (a file: script runs in its own folder)', () => {
    const s = configScripts(config, payloads, '/run/flint/config');
    expect(s.map((x) => [x.name, x.stage, x.network, x.prepare, x.folder, x.body.toString()])).toEqual([
      ['a', 'post', true, false, '/run/flint/config', '# combustion: network\necho a\n'],
      ['b', 'pre', false, true, '/run/flint/config/combustion', '#!/bin/bash\n# combustion: prepare\n'],
      ['c', 'post', false, false, '/run/flint/config', 'echo c'],
      ['d', 'post', true, false, '/run/flint/config', 'echo d\n'],
    ]);
  });
  it('says what the network needs, once, naming the scripts', () => {
    const s = configScripts(config, payloads, '/c');
    const notes = networkNotes(s, true);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('"a", "d"');
    expect(notes[0]).toContain('rd.neednet=1');
    expect(networkNotes(s.filter((x) => !x.network), true)).toEqual([]);
  });
});
