/**
 * Booting the guest in QEMU: software emulation only (-accel tcg; KVM hangs on these
 * machines), the kernel and initramfs given directly, the serial console captured (to a
 * file, and to memory with the host time each line arrived), the config stick as USB
 * mass storage behind an xHCI controller, user networking with SSH forwarded to
 * 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { execa } from 'execa';
import { findProgram, SBIN_PATH } from './host.js';
import type { GuestImage } from './image.js';

export const GUEST_MAC = '52:54:00:f1:1e:01';
/** getty's prompt on the serial console (kernel messages may follow it on the same line). */
export const LOGIN_RE = /^\S+ login: /m;

export function qemuBinary(): string | undefined {
  return findProgram('qemu-system-x86_64');
}

export type GuestArch = 'x86_64' | 'aarch64';

/** Debian's qemu-efi-aarch64: the UEFI firmware of the aarch64 guest (code read-only, variables per boot). */
export const AARCH64_FIRMWARE = { code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' };

/** Why a guest of ARCH cannot boot here (the Debian packages to install), or undefined. */
export function qemuMissing(arch: GuestArch): string | undefined {
  if (arch === 'x86_64') return qemuBinary() === undefined ? 'qemu-system-x86_64 is not installed (apt-get install --no-install-recommends qemu-system-x86)' : undefined;
  if (findProgram('qemu-system-aarch64') === undefined) return 'qemu-system-aarch64 is not installed (apt-get install --no-install-recommends qemu-system-arm qemu-efi-aarch64)';
  if (!existsSync(AARCH64_FIRMWARE.code)) return `${AARCH64_FIRMWARE.code} is missing (apt-get install qemu-efi-aarch64)`;
  return undefined;
}

export interface BootOptions {
  image: GuestImage;
  /** This boot's copy of the disk (it is written to). */
  disk: string;
  consoleLog: string;
  /** A raw image attached as a USB stick. */
  stick?: string;
  /** -fw_cfg name=NAME,file=FILE */
  fwCfg?: { name: string; file: string };
  /** Extra kernel command line words. */
  append?: readonly string[];
  /** Copy the console to this process's stdout as it arrives (npm run demo:vm). */
  live?: boolean;
  /** Default x86_64. */
  arch?: GuestArch;
}

export interface ConsoleLine {
  /** Milliseconds since QEMU started. */
  at: number;
  text: string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export function kernelCommandLine(image: GuestImage, extra: readonly string[] = [], arch: GuestArch = 'x86_64'): string {
  return [arch === 'aarch64' ? 'console=ttyAMA0,115200' : 'console=ttyS0,115200', `root=UUID=${image.rootUuid}`, 'rw', 'panic=-1', ...extra].join(' ');
}

export class Vm {
  readonly lines: ConsoleLine[] = [];
  private partial = '';
  private exited: Promise<number | null>;
  private waiters: (() => void)[] = [];
  private exitCode: number | null | undefined;

  private constructor(
    private readonly proc: ChildProcess,
    private readonly log: WriteStream,
    private readonly logPath: string,
    readonly sshPort: number,
    readonly started: number,
    live: boolean,
  ) {
    proc.stdout?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (live) process.stdout.write(chunk);
      this.take(chunk.toString('utf8'));
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      this.take(chunk.toString('utf8'));
    });
    this.exited = new Promise((resolve) => {
      proc.on('close', (code) => {
        this.exitCode = code;
        this.take('\n');
        resolve(code);
      });
    });
  }

  static async boot(opts: BootOptions): Promise<Vm> {
    const arch = opts.arch ?? 'x86_64';
    const missing = qemuMissing(arch);
    if (missing !== undefined) throw new Error(missing);
    const qemu = findProgram(arch === 'aarch64' ? 'qemu-system-aarch64' : 'qemu-system-x86_64')!;
    const sshPort = await freePort();
    const args = arch === 'aarch64' ? await aarch64Args(opts, sshPort) : [
      // One host thread for both vCPUs. Multi-threaded TCG (QEMU 7.2) now and then runs a
      // stale translation while the guest kernel patches its own code on the other vCPU, and
      // the guest dies in an "Oops: int3" panic (once in some 40 boots; it failed a CI run).
      // One vCPU avoids it too, but its boots stalled for up to 50 s after switch-root.
      '-accel', 'tcg,thread=single',
      '-machine', 'q35',
      '-cpu', 'max',
      '-smp', '2',
      '-m', '2048',
      '-nodefaults',
      '-display', 'none',
      '-vga', 'none',
      '-monitor', 'none',
      '-serial', 'stdio',
      '-no-reboot',
      '-kernel', opts.image.kernel,
      '-initrd', opts.image.initrd,
      '-append', kernelCommandLine(opts.image, opts.append),
      '-drive', `file=${opts.disk},if=none,id=disk,format=raw,cache=unsafe`,
      '-device', 'virtio-blk-pci,drive=disk',
      '-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
      '-device', `virtio-net-pci,netdev=net0,mac=${GUEST_MAC}`,
      '-device', 'virtio-rng-pci',
    ];
    if (opts.stick !== undefined) {
      args.push('-device', 'qemu-xhci,id=xhci');
      args.push('-drive', `file=${opts.stick},if=none,id=stick,format=raw,cache=unsafe`);
      args.push('-device', 'usb-storage,bus=xhci.0,drive=stick,removable=on');
    }
    if (opts.fwCfg !== undefined) args.push('-fw_cfg', `name=${opts.fwCfg.name},file=${opts.fwCfg.file}`);
    const log = createWriteStream(opts.consoleLog);
    log.write(`# ${qemu} ${args.join(' ')}\n`);
    const proc = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Vm(proc, log, opts.consoleLog, sshPort, Date.now(), opts.live === true);
  }

  private take(text: string): void {
    const parts = (this.partial + text).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    const at = Date.now() - this.started;
    for (const p of parts) this.lines.push({ at, text: p.replace(/\r/g, '') });
    for (const w of this.waiters.splice(0)) w();
  }

  get console(): string {
    return [...this.lines.map((l) => l.text), this.partial].join('\n');
  }

  /** The first console line matching re, waiting for it; throws on timeout or exit. */
  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<ConsoleLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // The unfinished last line counts too: a login prompt ends without a newline.
      const pending = this.partial !== '' ? [{ at: Date.now() - this.started, text: this.partial.replace(/\r/g, '') }] : [];
      const hit = [...this.lines.slice(from), ...pending].find((l) => re.test(l.text));
      if (hit !== undefined) return hit;
      if (this.exitCode !== undefined) throw new Error(`QEMU exited (${String(this.exitCode)}) before the console showed ${re}${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the console did not show ${re} within ${Math.round(timeoutMs / 1000)} s${this.tail()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * What a failure message needs so a CI log alone explains it: a guest kernel panic
   * named as such, and the console's last lines (the whole console is in consoleLog).
   */
  private tail(lines = 30): string {
    const all = this.lines.map((l) => l.text);
    const panic = all.find((l) => /Kernel panic|Oops:/.test(l));
    const head = panic !== undefined ? `\nthe guest kernel crashed: ${panic.trim()}` : '';
    return `${head}\nconsole log: ${this.logPath}\nlast console lines:\n${all.slice(-lines).join('\n')}`;
  }

  /** Runs a command over SSH as user with the private key; never throws for its exit code. */
  async ssh(user: string, key: string, command: string, timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    const r = await execa(
      'ssh',
      [
        '-i', key,
        '-p', String(this.sshPort),
        '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'BatchMode=yes',
        '-o', 'ConnectTimeout=10',
        '-o', 'LogLevel=ERROR',
        `${user}@127.0.0.1`,
        command,
      ],
      { reject: false, timeout: timeoutMs, env: { PATH: SBIN_PATH }, stdin: 'ignore' },
    );
    return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  /** Retries until SSH answers `true` (sshd up, key accepted), within timeoutMs. */
  async waitForSsh(user: string, key: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (this.exitCode !== undefined) throw new Error(`QEMU exited (${String(this.exitCode)}) while waiting for SSH${this.tail()}`);
      const r = await this.ssh(user, key, 'true', 20_000);
      if (r.code === 0) return;
      last = r.stderr.trim();
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    throw new Error(`no SSH login as ${user} within ${Math.round(timeoutMs / 1000)} s (last: ${last})${this.tail()}`);
  }

  /** Powers the guest off over SSH, or kills QEMU after graceMs. Resolves when QEMU is gone. */
  async stop(how?: { user: string; key: string }, graceMs = 60_000): Promise<void> {
    if (how !== undefined && this.exitCode === undefined) await this.ssh(how.user, how.key, 'sudo -n systemctl poweroff', 15_000);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), how !== undefined ? graceMs : 0);
    await this.exited;
    clearTimeout(timer);
    await new Promise<void>((resolve) => this.log.end(resolve));
  }
}

/**
 * The aarch64 guest: QEMU's virt board with Debian's UEFI firmware, which loads the
 * kernel QEMU hands it (-kernel through fw_cfg) as a boot loader would. cortex-a72, not
 * max: TCG emulates max's pointer authentication at a high cost on every call.
 */
async function aarch64Args(opts: BootOptions, sshPort: number): Promise<string[]> {
  const vars = `${opts.disk}.efivars`;
  await copyFile(AARCH64_FIRMWARE.vars, vars);
  return [
    '-accel', 'tcg',
    '-machine', 'virt',
    '-cpu', 'cortex-a72',
    '-smp', '2',
    '-m', '2048',
    '-nodefaults',
    '-display', 'none',
    '-monitor', 'none',
    '-serial', 'stdio',
    '-no-reboot',
    '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${AARCH64_FIRMWARE.code}`,
    '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    '-kernel', opts.image.kernel,
    '-initrd', opts.image.initrd,
    '-append', kernelCommandLine(opts.image, opts.append, 'aarch64'),
    '-drive', `file=${opts.disk},if=none,id=disk,format=raw,cache=unsafe`,
    '-device', 'virtio-blk-pci,drive=disk',
    '-netdev', `user,id=net0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
    '-device', `virtio-net-pci,netdev=net0,mac=${GUEST_MAC}`,
    '-device', 'virtio-rng-pci',
  ];
}
