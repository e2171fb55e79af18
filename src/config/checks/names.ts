import type { Verdict } from './problem.js';
import { nearest } from './suggest.js';
import { isIPv4, isIPv6 } from './net.js';

// ---------------------------------------------------------------- hostname

const LABEL_CHARS = /^[a-zA-Z0-9-]+$/;
/** Linux keeps at most this many characters of a hostname (HOST_NAME_MAX); systemd cuts the rest off. */
const LINUX_HOSTNAME_MAX = 64;

/** A hostname or FQDN as RFC 1123 allows it, and as Linux can hold it. */
/** A user or group name flint creates: what useradd and groupadd accept on every distribution. */
export const NAME_RE = /^[a-z_][a-z0-9_-]{0,31}$/;

export function checkHostname(s: string): Verdict | null {
  if (s === '') return { message: 'the hostname is empty', hint: 'write a name such as pi-kitchen' };
  if (s.endsWith('.')) {
    return { message: `"${s}" ends with a dot; a hostname is written without the trailing dot of a DNS name`, hint: `write ${s.replace(/\.+$/, '')}` };
  }
  if (isIPv4(s) || isIPv6(s)) return { message: `"${s}" is an IP address, not a hostname`, hint: 'write a name such as pi-kitchen' };
  if (s.length > 253) return { message: `the hostname is ${s.length} characters long; at most 253 are allowed`, hint: 'use a shorter name' };
  const labels = s.split('.');
  for (const label of labels) {
    const problem = checkLabel(s, label);
    if (problem) return problem;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
    return { message: `the last part of "${s}" is all digits, so the name could be taken for an IP address`, hint: 'end the name with a part that has a letter, e.g. node-1 instead of 1' };
  }
  if (s.length > LINUX_HOSTNAME_MAX) {
    return { message: `"${s}" is ${s.length} characters long; Linux keeps at most ${LINUX_HOSTNAME_MAX}, so the machine's hostname would be cut short`, hint: `use a name of at most ${LINUX_HOSTNAME_MAX} characters`, severity: 'warning' };
  }
  return null;
}

function checkLabel(name: string, label: string): Verdict | null {
  if (label === '') {
    return { message: `"${name}" has an empty part: it starts with a dot or has two dots in a row`, hint: `write ${name.split('.').filter(Boolean).join('.')}` };
  }
  if (label.length > 63) {
    return { message: `the part "${label}" of the hostname is ${label.length} characters long; each part between dots may have at most 63`, hint: 'shorten that part' };
  }
  if (label.includes('_')) {
    return { message: `"${name}" contains "_", which hostnames may not (only letters, digits and "-")`, hint: `write ${name.replace(/_/g, '-')}` };
  }
  if (!LABEL_CHARS.test(label)) {
    const bad = [...label].find((c) => !/[a-zA-Z0-9-]/.test(c)) ?? '';
    return { message: `"${name}" contains ${JSON.stringify(bad)}; a hostname may only contain letters, digits, "-" and dots between its parts`, hint: 'remove or replace that character' };
  }
  if (label.startsWith('-') || label.endsWith('-')) {
    return { message: `the part "${label}" of the hostname starts or ends with "-", which is not allowed`, hint: `write ${label.replace(/^-+|-+$/g, '')}` };
  }
  return null;
}

// ---------------------------------------------------------------- time zone

/**
 * Zone and link names of the tz database (2025b, without "Factory"), grouped by
 * their first folder. Intl alone cannot decide the case a name must have: it
 * accepts "europe/berlin" and, for aliases such as "US/Pacific", only reports
 * the zone they point to, while the target looks the name up as a file.
 */
const TZDATA: Readonly<Record<string, string>> = {
  Africa: `
    Abidjan Accra Addis_Ababa Algiers Asmara Asmera Bamako Bangui Banjul Bissau Blantyre
    Brazzaville Bujumbura Cairo Casablanca Ceuta Conakry Dakar Dar_es_Salaam Djibouti Douala
    El_Aaiun Freetown Gaborone Harare Johannesburg Juba Kampala Khartoum Kigali Kinshasa Lagos
    Libreville Lome Luanda Lubumbashi Lusaka Malabo Maputo Maseru Mbabane Mogadishu Monrovia
    Nairobi Ndjamena Niamey Nouakchott Ouagadougou Porto-Novo Sao_Tome Timbuktu Tripoli Tunis
    Windhoek
  `,
  America: `
    Adak Anchorage Anguilla Antigua Araguaina Argentina/Buenos_Aires Argentina/Catamarca
    Argentina/ComodRivadavia Argentina/Cordoba Argentina/Jujuy Argentina/La_Rioja
    Argentina/Mendoza Argentina/Rio_Gallegos Argentina/Salta Argentina/San_Juan
    Argentina/San_Luis Argentina/Tucuman Argentina/Ushuaia Aruba Asuncion Atikokan Atka Bahia
    Bahia_Banderas Barbados Belem Belize Blanc-Sablon Boa_Vista Bogota Boise Buenos_Aires
    Cambridge_Bay Campo_Grande Cancun Caracas Catamarca Cayenne Cayman Chicago Chihuahua
    Ciudad_Juarez Coral_Harbour Cordoba Costa_Rica Coyhaique Creston Cuiaba Curacao
    Danmarkshavn Dawson Dawson_Creek Denver Detroit Dominica Edmonton Eirunepe El_Salvador
    Ensenada Fort_Nelson Fort_Wayne Fortaleza Glace_Bay Godthab Goose_Bay Grand_Turk Grenada
    Guadeloupe Guatemala Guayaquil Guyana Halifax Havana Hermosillo Indiana/Indianapolis
    Indiana/Knox Indiana/Marengo Indiana/Petersburg Indiana/Tell_City Indiana/Vevay
    Indiana/Vincennes Indiana/Winamac Indianapolis Inuvik Iqaluit Jamaica Jujuy Juneau
    Kentucky/Louisville Kentucky/Monticello Knox_IN Kralendijk La_Paz Lima Los_Angeles
    Louisville Lower_Princes Maceio Managua Manaus Marigot Martinique Matamoros Mazatlan
    Mendoza Menominee Merida Metlakatla Mexico_City Miquelon Moncton Monterrey Montevideo
    Montreal Montserrat Nassau New_York Nipigon Nome Noronha North_Dakota/Beulah
    North_Dakota/Center North_Dakota/New_Salem Nuuk Ojinaga Panama Pangnirtung Paramaribo
    Phoenix Port-au-Prince Port_of_Spain Porto_Acre Porto_Velho Puerto_Rico Punta_Arenas
    Rainy_River Rankin_Inlet Recife Regina Resolute Rio_Branco Rosario Santa_Isabel Santarem
    Santiago Santo_Domingo Sao_Paulo Scoresbysund Shiprock Sitka St_Barthelemy St_Johns
    St_Kitts St_Lucia St_Thomas St_Vincent Swift_Current Tegucigalpa Thule Thunder_Bay Tijuana
    Toronto Tortola Vancouver Virgin Whitehorse Winnipeg Yakutat Yellowknife
  `,
  Antarctica: `
    Casey Davis DumontDUrville Macquarie Mawson McMurdo Palmer Rothera South_Pole Syowa Troll
    Vostok
  `,
  Arctic: 'Longyearbyen',
  Asia: `
    Aden Almaty Amman Anadyr Aqtau Aqtobe Ashgabat Ashkhabad Atyrau Baghdad Bahrain Baku
    Bangkok Barnaul Beirut Bishkek Brunei Calcutta Chita Choibalsan Chongqing Chungking
    Colombo Dacca Damascus Dhaka Dili Dubai Dushanbe Famagusta Gaza Harbin Hebron Ho_Chi_Minh
    Hong_Kong Hovd Irkutsk Istanbul Jakarta Jayapura Jerusalem Kabul Kamchatka Karachi Kashgar
    Kathmandu Katmandu Khandyga Kolkata Krasnoyarsk Kuala_Lumpur Kuching Kuwait Macao Macau
    Magadan Makassar Manila Muscat Nicosia Novokuznetsk Novosibirsk Omsk Oral Phnom_Penh
    Pontianak Pyongyang Qatar Qostanay Qyzylorda Rangoon Riyadh Saigon Sakhalin Samarkand
    Seoul Shanghai Singapore Srednekolymsk Taipei Tashkent Tbilisi Tehran Tel_Aviv Thimbu
    Thimphu Tokyo Tomsk Ujung_Pandang Ulaanbaatar Ulan_Bator Urumqi Ust-Nera Vientiane
    Vladivostok Yakutsk Yangon Yekaterinburg Yerevan
  `,
  Atlantic: `
    Azores Bermuda Canary Cape_Verde Faeroe Faroe Jan_Mayen Madeira Reykjavik South_Georgia
    St_Helena Stanley
  `,
  Australia: `
    ACT Adelaide Brisbane Broken_Hill Canberra Currie Darwin Eucla Hobart LHI Lindeman
    Lord_Howe Melbourne NSW North Perth Queensland South Sydney Tasmania Victoria West
    Yancowinna
  `,
  Brazil: 'Acre DeNoronha East West',
  '': `
    CET CST6CDT Cuba EET EST EST5EDT Egypt Eire GB GB-Eire GMT GMT+0 GMT-0 GMT0 Greenwich HST
    Hongkong Iceland Iran Israel Jamaica Japan Kwajalein Libya MET MST MST7MDT NZ NZ-CHAT
    Navajo PRC PST8PDT Poland Portugal ROC ROK Singapore Turkey UCT UTC Universal W-SU WET
    Zulu
  `,
  Canada: 'Atlantic Central Eastern Mountain Newfoundland Pacific Saskatchewan Yukon',
  Chile: 'Continental EasterIsland',
  Etc: `
    GMT GMT+0 GMT+1 GMT+10 GMT+11 GMT+12 GMT+2 GMT+3 GMT+4 GMT+5 GMT+6 GMT+7 GMT+8 GMT+9 GMT-0
    GMT-1 GMT-10 GMT-11 GMT-12 GMT-13 GMT-14 GMT-2 GMT-3 GMT-4 GMT-5 GMT-6 GMT-7 GMT-8 GMT-9
    GMT0 Greenwich UCT UTC Universal Zulu
  `,
  Europe: `
    Amsterdam Andorra Astrakhan Athens Belfast Belgrade Berlin Bratislava Brussels Bucharest
    Budapest Busingen Chisinau Copenhagen Dublin Gibraltar Guernsey Helsinki Isle_of_Man
    Istanbul Jersey Kaliningrad Kiev Kirov Kyiv Lisbon Ljubljana London Luxembourg Madrid
    Malta Mariehamn Minsk Monaco Moscow Nicosia Oslo Paris Podgorica Prague Riga Rome Samara
    San_Marino Sarajevo Saratov Simferopol Skopje Sofia Stockholm Tallinn Tirane Tiraspol
    Ulyanovsk Uzhgorod Vaduz Vatican Vienna Vilnius Volgograd Warsaw Zagreb Zaporozhye Zurich
  `,
  Indian: `
    Antananarivo Chagos Christmas Cocos Comoro Kerguelen Mahe Maldives Mauritius Mayotte
    Reunion
  `,
  Mexico: 'BajaNorte BajaSur General',
  Pacific: `
    Apia Auckland Bougainville Chatham Chuuk Easter Efate Enderbury Fakaofo Fiji Funafuti
    Galapagos Gambier Guadalcanal Guam Honolulu Johnston Kanton Kiritimati Kosrae Kwajalein
    Majuro Marquesas Midway Nauru Niue Norfolk Noumea Pago_Pago Palau Pitcairn Pohnpei Ponape
    Port_Moresby Rarotonga Saipan Samoa Tahiti Tarawa Tongatapu Truk Wake Wallis Yap
  `,
  US: `
    Alaska Aleutian Arizona Central East-Indiana Eastern Hawaii Indiana-Starke Michigan
    Mountain Pacific Samoa
  `,
};

let zoneNames: ReadonlySet<string> | undefined;
let zonesByLowerCase: ReadonlyMap<string, string> | undefined;

function knownZones(): ReadonlySet<string> {
  zoneNames ??= new Set([
    ...Object.entries(TZDATA).flatMap(([folder, names]) =>
      names.split(/\s+/).filter(Boolean).map((n) => (folder === '' ? n : `${folder}/${n}`))),
    ...Intl.supportedValuesOf('timeZone'),
  ]);
  return zoneNames;
}

/** The common case, a correct name, without building the whole set (start-up time). */
function inTzData(s: string): boolean {
  const slash = s.indexOf('/');
  const names = TZDATA[slash < 0 ? '' : s.slice(0, slash)];
  const name = slash < 0 ? s : s.slice(slash + 1);
  if (names === undefined || name === '' || /\s/.test(name)) return false;
  return ` ${names.replace(/\s+/g, ' ')} `.includes(` ${name} `);
}

function zoneByLowerCase(s: string): string | undefined {
  zonesByLowerCase ??= new Map([...knownZones()].map((n) => [n.toLowerCase(), n]));
  return zonesByLowerCase.get(s.toLowerCase());
}

function intlAccepts(s: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: s });
    return true;
  } catch {
    return false;
  }
}

/** An IANA time zone name, spelt exactly as the file under /usr/share/zoneinfo. */
export function checkTimezone(s: string): Verdict | null {
  if (s === '') return { message: 'the time zone is empty', hint: 'write a name such as Europe/Berlin or UTC' };
  if (inTzData(s)) return null;
  const zones = knownZones();
  if (zones.has(s)) return null;
  const rightCase = zoneByLowerCase(s);
  if (rightCase !== undefined) {
    return { message: `"${s}" has the wrong case; the target looks time zones up as files under /usr/share/zoneinfo, where case matters`, hint: `write ${rightCase}` };
  }
  if (intlAccepts(s)) {
    return { message: `"${s}" is known to this system's ICU but not to the tz database flint knows, so the target may have no /usr/share/zoneinfo/${s}`, hint: 'prefer a name from `timedatectl list-timezones`, such as Europe/Berlin', severity: 'warning' };
  }
  const suggestion = zoneWithCity(s) ?? nearest(s, [...zones]);
  return {
    message: `"${s}" is not a time zone name of the IANA tz database`,
    hint: suggestion === undefined ? 'write a name such as Europe/Berlin or UTC; `timedatectl list-timezones` lists them' : `did you mean ${suggestion}?`,
  };
}

/** "Berlin" or "new york" alone: the zone named after that city. */
function zoneWithCity(s: string): string | undefined {
  const city = `/${s.replace(/ /g, '_').toLowerCase()}`;
  return [...knownZones()].find((n) => n.toLowerCase().endsWith(city));
}

// ---------------------------------------------------------------- systemd

const UNIT_TYPES = ['service', 'socket', 'device', 'mount', 'automount', 'swap', 'target', 'path', 'timer', 'slice', 'scope'] as const;
type UnitType = (typeof UNIT_TYPES)[number];
/** systemd's unit_type_may_template(): only these types can have `name@.type` templates. */
const TEMPLATE_TYPES: ReadonlySet<string> = new Set(['service', 'socket', 'target', 'timer', 'path']);
const UNIT_CHARS = /^[a-zA-Z0-9:_.\\@-]+$/;
/** UNIT_NAME_MAX is 256 including the terminating NUL. */
const UNIT_NAME_MAX = 255;

function isUnitType(s: string): s is UnitType {
  return (UNIT_TYPES as readonly string[]).includes(s);
}

/** A unit name systemd accepts: `name.type`, a template `name@.type` or an instance `name@inst.type`. */
export function checkUnitName(name: string): Verdict | null {
  if (name === '') return { message: 'the unit name is empty', hint: 'write a name such as NAME.service' };
  if (name.length > UNIT_NAME_MAX) return { message: `the unit name is ${name.length} characters long; systemd allows at most ${UNIT_NAME_MAX}`, hint: 'use a shorter name' };
  const dot = name.lastIndexOf('.');
  const suffix = dot < 0 ? '' : name.slice(dot + 1);
  if (!isUnitType(suffix)) return missingSuffix(name, dot, suffix);
  const stem = name.slice(0, dot);
  if (!UNIT_CHARS.test(name)) {
    const bad = [...name].find((c) => !/[a-zA-Z0-9:_.\\@-]/.test(c)) ?? '';
    return { message: `"${name}" contains ${JSON.stringify(bad)}; unit names may only contain letters, digits and : _ . - \\ @`, hint: 'replace that character; `systemd-escape` turns any string into a valid unit name part' };
  }
  const at = stem.indexOf('@');
  if (stem === '' || at === 0) return { message: `"${name}" has no name before its ${at === 0 ? '"@"' : 'suffix'}`, hint: `write NAME${name}` };
  if (at >= 0 && stem.indexOf('@', at + 1) >= 0) return { message: `"${name}" contains "@" more than once; only one separates a template's name from its instance`, hint: 'keep one "@"; `systemd-escape` can encode the instance part' };
  if (at >= 0 && !TEMPLATE_TYPES.has(suffix)) return { message: `"${name}" is a template or instance, but .${suffix} units cannot be templates`, hint: `remove the "@" part, e.g. ${stem.slice(0, at)}.${suffix}` };
  if (suffix === 'scope') return { message: `"${name}" is a scope unit; systemd creates scopes at run time and ignores unit files for them`, hint: 'use a .service unit', severity: 'warning' };
  return null;
}

function missingSuffix(name: string, dot: number, suffix: string): Verdict {
  const types = UNIT_TYPES.map((t) => `.${t}`).join(' ');
  const close = dot < 0 ? undefined : nearest(suffix, UNIT_TYPES);
  const hint = close === undefined ? `write ${name}.service` : `write ${name.slice(0, dot)}.${close}`;
  return { message: `"${name}" does not end in a unit type; systemd needs one of ${types}`, hint };
}

/** A drop-in file name for `NAME.d/`: systemd reads only non-hidden `*.conf` files there. */
export function checkDropinName(name: string): Verdict | null {
  if (name === '') return { message: 'the drop-in name is empty', hint: 'write a name such as 10-override.conf' };
  if (name.includes('/')) return { message: `"${name}" contains "/"; a drop-in name is a file name inside the unit's .d folder`, hint: `write ${name.slice(name.lastIndexOf('/') + 1) || '10-override.conf'}` };
  if (name.includes('\0')) return { message: 'the drop-in name contains a NUL character, which no file name can', hint: 'remove it' };
  if (!name.endsWith('.conf')) return { message: `"${name}" does not end in .conf, so systemd would not read it`, hint: `write ${name}.conf` };
  if (name.startsWith('.')) return { message: `"${name}" starts with a dot; systemd skips hidden files in drop-in folders`, hint: `write ${name === '.conf' ? '10-override.conf' : name.replace(/^\.+/, '')}` };
  return null;
}

/** Unit file lines with continuations joined (systemd reads "\\" + newline as a space). */
function unitLines(contents: string): string[] {
  return contents.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim());
}

function isComment(line: string): boolean {
  return line.startsWith('#') || line.startsWith(';');
}

/** Whether the unit has an [Install] section, i.e. whether enabling it can do anything. */
export function unitHasInstallSection(contents: string): boolean {
  return unitLines(contents).some((l) => l === '[Install]');
}

export const INSTALL_DIRECTIVES = ['WantedBy', 'RequiredBy', 'UpheldBy', 'Alias', 'Also', 'DefaultInstance'] as const;
export type InstallDirective = (typeof INSTALL_DIRECTIVES)[number];

function isInstallDirective(s: string): s is InstallDirective {
  return (INSTALL_DIRECTIVES as readonly string[]).includes(s);
}

/**
 * The [Install] directives that are set, in order of first appearance. An
 * empty assignment ("WantedBy=") clears the list in systemd, so a directive
 * whose last assignment is empty does not count.
 */
export function installDirectives(contents: string): InstallDirective[] {
  const set = new Map<InstallDirective, boolean>();
  let section = '';
  for (const line of unitLines(contents)) {
    if (line === '' || isComment(line)) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq).trim();
    if (section !== 'Install' || eq < 0 || !isInstallDirective(key)) continue;
    set.set(key, line.slice(eq + 1).trim() !== '');
  }
  return [...set].filter(([, value]) => value).map(([key]) => key);
}

// ---------------------------------------------------------------- container images

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9a-fA-F:.]+\]$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST_LENGTHS: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };
/** distribution/reference's NameTotalLengthMax. */
const IMAGE_NAME_MAX = 255;

/** distribution/reference: a first component with "." or ":", or "localhost", is a registry. */
function isDomain(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

/** Podman resolves short names ("nginx") only through registries.conf aliases, so callers warn. */
export function isFullyQualifiedImage(ref: string): boolean {
  const slash = ref.indexOf('/');
  return slash > 0 && isDomain(ref.slice(0, slash));
}

interface ImageParts { name: string; tag?: string; digest?: string }

function splitImage(ref: string): ImageParts {
  const at = ref.indexOf('@');
  const nameAndTag = at < 0 ? ref : ref.slice(0, at);
  const digest = at < 0 ? undefined : ref.slice(at + 1);
  const colon = nameAndTag.lastIndexOf(':');
  const hasTag = colon > nameAndTag.lastIndexOf('/');
  return {
    name: hasTag ? nameAndTag.slice(0, colon) : nameAndTag,
    ...(hasTag ? { tag: nameAndTag.slice(colon + 1) } : {}),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** A container image reference as Podman and Docker parse it: [registry/]path[:tag][@digest]. */
export function checkImageReference(ref: string): Verdict | null {
  if (ref === '') return { message: 'the image reference is empty', hint: 'write one such as docker.io/library/nginx:1.27' };
  if (/\s/.test(ref)) {
    return { message: `"${ref}" contains whitespace, which image references may not`, hint: `write ${ref.replace(/\s+/g, '')}` };
  }
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(ref)?.[0];
  if (scheme !== undefined) {
    return { message: `"${ref}" starts with "${scheme}"; an image reference has no URL scheme or transport prefix`, hint: `write ${ref.slice(scheme.length)}` };
  }
  const parts = splitImage(ref);
  return checkImageName(ref, parts) ?? checkTag(parts.tag) ?? checkDigest(parts.digest);
}

function checkImageName(ref: string, { name }: ImageParts): Verdict | null {
  if (name.length > IMAGE_NAME_MAX) return { message: `the image name is ${name.length} characters long; at most ${IMAGE_NAME_MAX} are allowed`, hint: 'use a shorter name' };
  const components = name.split('/');
  const domain = components.length > 1 && isDomain(components[0] ?? '') ? components.shift() : undefined;
  if (domain !== undefined) {
    const problem = checkRegistry(domain);
    if (problem) return problem;
  }
  if (components.some((c) => c === '')) {
    return { message: `"${ref}" has an empty path part: a doubled, leading or trailing "/"`, hint: 'remove the extra "/"' };
  }
  const bad = components.find((c) => !PATH_COMPONENT.test(c));
  if (bad === undefined) return null;
  if (components.every((c) => PATH_COMPONENT.test(c.toLowerCase()))) {
    const path = components.join('/');
    const fixed = ref.replace(path, path.toLowerCase());
    return { message: `"${ref}" has uppercase letters in its repository path, which image references may not`, hint: `write ${fixed}` };
  }
  const where = bad === name ? `"${ref}"` : `"${bad}" in "${ref}"`;
  return { message: `${where} is not a valid image path part: only lowercase letters and digits, joined by single ".", "_" or "__", or by "-"`, hint: 'write a reference such as docker.io/library/nginx:1.27' };
}

function checkRegistry(domain: string): Verdict | null {
  const port = /:([0-9]*)$/.exec(domain);
  const host = port ? domain.slice(0, port.index) : domain;
  if (port && !/^[0-9]+$/.test(port[1] ?? '')) {
    return { message: `the registry "${domain}" has an empty port`, hint: `write ${host}` };
  }
  if (IPV6_HOST.test(host) || host.split('.').every((c) => DOMAIN_COMPONENT.test(c))) return null;
  return { message: `"${host}" is not a valid registry host name`, hint: 'write a registry such as docker.io or quay.io, or leave it out' };
}

function checkTag(tag: string | undefined): Verdict | null {
  if (tag === undefined || TAG.test(tag)) return null;
  if (tag === '') return { message: 'the image tag after ":" is empty', hint: 'write a tag such as :1.27, or leave out the ":"' };
  return { message: `the tag "${tag}" is not valid: it may have up to 128 letters, digits, "_", "." and "-", and may not start with "." or "-"`, hint: 'write a tag such as 1.27' };
}

function checkDigest(digest: string | undefined): Verdict | null {
  if (digest === undefined) return null;
  const [algorithm = '', hex] = digest.split(':', 2);
  const length = DIGEST_LENGTHS[algorithm];
  if (hex === undefined || length === undefined) {
    return { message: `the digest "${digest}" is not of the form sha256:<64 hex digits>`, hint: 'copy the digest from `podman image inspect` or the registry, e.g. @sha256:… with 64 hex digits' };
  }
  if (/^[0-9A-F]+$/i.test(hex) && hex.length === length && hex !== hex.toLowerCase()) {
    return { message: 'the image digest has uppercase hex digits; digests are lowercase', hint: `write @${algorithm}:${hex.toLowerCase()}` };
  }
  if (!/^[0-9a-f]+$/.test(hex) || hex.length !== length) {
    return { message: `the ${algorithm} digest must be exactly ${length} hex digits; this one has ${hex.length} characters${/^[0-9a-f]*$/i.test(hex) ? '' : ', not all of them hex digits'}`, hint: 'copy the digest again in full' };
  }
  return null;
}

// ---------------------------------------------------------------- sizes

const MIB = 1024n ** 2n;
const UNITS: Readonly<Record<string, bigint>> = {
  '': 1n, B: 1n,
  K: 1024n, KiB: 1024n,
  M: MIB, MiB: MIB,
  G: 1024n * MIB, GiB: 1024n * MIB,
  T: MIB * MIB, TiB: MIB * MIB,
};
const SIZE = /^([+-]?)([0-9]+)(?:\.([0-9]+))?( *)([A-Za-z]*)$/;
const SIZE_EXAMPLES = 'write a size such as 512MiB, 40GiB, 1.5TiB or 100%';

export type Size = { bytes: bigint } | { percent: number };

/** A partition or file system size: binary units only, or a share of the disk in percent. */
export function parseSize(s: string): Size | Verdict {
  if (s === '') return { message: 'the size is empty', hint: SIZE_EXAMPLES };
  if (s.endsWith('%')) return parsePercent(s);
  const m = SIZE.exec(s);
  if (m === null) return { message: `"${s}" is not a size: a number with a binary unit, or a percentage`, hint: SIZE_EXAMPLES };
  const [, sign = '', whole = '', fraction = '', space = '', unit = ''] = m;
  const number = fraction === '' ? whole : `${whole}.${fraction}`;
  if (sign === '-') return { message: `"${s}" is negative; a size must be more than zero`, hint: SIZE_EXAMPLES };
  const multiplier = UNITS[unit];
  if (multiplier === undefined) return unitProblem(s, number, unit);
  if (sign === '+' || space !== '') {
    return { message: `"${s}" is not written as flint expects: ${sign === '+' ? 'sizes are absolute, with no "+"' : 'no space between number and unit'}`, hint: `write ${number}${unit}` };
  }
  const scale = 10n ** BigInt(fraction.length);
  const bytes = (BigInt(whole + fraction) * multiplier) / scale;
  if (bytes === 0n) return { message: `"${s}" is zero bytes; a size must be more than zero`, hint: SIZE_EXAMPLES };
  return { bytes };
}

function unitProblem(s: string, number: string, unit: string): Verdict {
  const letter = unit[0]?.toUpperCase() ?? '';
  const binary = 'KMGT'.includes(letter) ? `${number}${letter}iB` : undefined;
  if (binary !== undefined && /^[kmgt]b$/i.test(unit)) {
    const power = { K: '', M: '²', G: '³', T: '⁴' }[letter] ?? '';
    return { message: `"${s}" uses a decimal unit (1${letter}B = 1000${power} bytes); flint uses binary units only (1${letter}iB = 1024${power} bytes)`, hint: `write ${binary}` };
  }
  if (binary !== undefined && /^[kmgt](ib?)?$/i.test(unit)) {
    return { message: `"${s}" has a unit in the wrong case; units are case-sensitive`, hint: `write ${binary}` };
  }
  return { message: `"${s}" has the unknown unit "${unit}"; flint knows B, KiB, MiB, GiB and TiB (and K, M, G, T for the same)`, hint: SIZE_EXAMPLES };
}

function parsePercent(s: string): Size | Verdict {
  const body = s.slice(0, -1);
  if (/^[1-9][0-9]*$/.test(body) && Number(body) <= 100) return { percent: Number(body) };
  if (/^0+$/.test(body)) return { message: `"${s}" is zero; a size must be more than zero`, hint: SIZE_EXAMPLES };
  if (/^[0-9]+$/.test(body)) return { message: `"${s}" is more than the whole disk; a percentage is from 1% to 100%`, hint: 'write 100% for all the remaining space' };
  if (/^[0-9]+\.[0-9]+$/.test(body)) return { message: `"${s}" is not a whole percentage`, hint: `write ${Math.max(1, Math.min(100, Math.round(Number(body))))}%` };
  return { message: `"${s}" is not a percentage from 1% to 100%`, hint: SIZE_EXAMPLES };
}

// ---------------------------------------------------------------- paths

/** The absolute normal form: single slashes, no "." and no trailing "/"; ".." removes the folder before it. */
export function normalisePath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '..') parts.pop();
    else if (part !== '' && part !== '.') parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** A path in the target that flint may write to: absolute, in normal form, and not the root itself. */
export function checkSafePath(p: string): Verdict | null {
  if (p === '') return { message: 'the path is empty', hint: 'write an absolute path such as /etc/motd' };
  if (p.includes('\0')) return { message: 'the path contains a NUL character, which no file name can', hint: 'remove it' };
  if (p.startsWith('~')) return { message: `"${p}" starts with "~", which is not expanded here; paths are absolute in the target`, hint: 'write the full path, e.g. /home/NAME/…' };
  if (!p.startsWith('/')) return { message: `"${p}" is relative; paths in the target must be absolute`, hint: `write ${normalisePath(p)}` };
  const parts = p.split('/');
  if (parts.includes('..')) return { message: `"${p}" contains "..": paths may not leave their folder`, hint: `write the path without "..", e.g. ${normalisePath(p)}` };
  const normal = normalisePath(p);
  if (normal === '/') return { message: `"${p}" is the root folder itself, not a file path`, hint: 'write the path of a file or folder below /' };
  if (normal === p) return null;
  const what = parts.includes('.') ? 'a "." part' : p.includes('//') ? 'a doubled "/"' : 'a trailing "/"';
  return { message: `"${p}" is not in normal form: it has ${what}`, hint: `write ${normal}` };
}

// ---------------------------------------------------------------- country codes

/** ISO 3166-1 alpha-2 codes officially assigned (249, as in tzdata's iso3166.tab 2025b). */
const COUNTRY_CODES: ReadonlySet<string> = new Set(`
  AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
  BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
  DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
  GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
  KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
  MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
  PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
  SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
  VN VU WF WS YE YT ZA ZM ZW
`.split(/\s+/).filter(Boolean));

/** Codes people write that ISO reserved but did not assign, and what they meant. */
const RESERVED_CODES: Readonly<Record<string, string>> = { UK: 'GB', EL: 'GR' };

/** A Wi-Fi regulatory domain: an assigned ISO 3166-1 alpha-2 code, or 00 for the world domain. */
export function checkCountryCode(s: string): Verdict | null {
  if (s === '00' || COUNTRY_CODES.has(s)) return null;
  const upper = s.toUpperCase();
  const meant = RESERVED_CODES[upper];
  if (meant !== undefined) return { message: `"${s}" is not an ISO 3166-1 country code`, hint: `write ${meant}` };
  if (COUNTRY_CODES.has(upper)) return { message: `"${s}" must be written in uppercase`, hint: `write ${upper}` };
  if (/^[A-Z]{2}$/.test(upper)) return { message: `"${s}" is not an assigned ISO 3166-1 country code`, hint: 'write the two-letter code of the country, e.g. DE or US, or 00 for the world domain' };
  const byName = countryByName(s);
  return {
    message: `"${s}" is not a two-letter ISO 3166-1 country code`,
    hint: byName === undefined ? 'write a code such as DE or US, or 00 for the world domain' : `write ${byName}`,
  };
}

function countryByName(s: string): string | undefined {
  const names = new Intl.DisplayNames(['en'], { type: 'region' });
  const wanted = s.trim().toLowerCase();
  return [...COUNTRY_CODES].find((code) => names.of(code)?.toLowerCase() === wanted);
}
