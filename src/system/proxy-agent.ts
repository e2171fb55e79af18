/**
 * https through an http proxy (`flint.proxy=http://HOST:PORT` on the kernel command
 * line): each connection is a CONNECT tunnel to the server, and TLS runs inside it end
 * to end, so the proxy sees only the host name and port, never the config. Node 20 has
 * no proxy support of its own (NODE_USE_ENV_PROXY came with Node 24).
 */
import { createRequire } from 'node:module';
import type { Agent, AgentOptions } from 'node:https';
import type { Socket } from 'node:net';
import type { RequestOptions } from 'node:http';
import type { Duplex } from 'node:stream';

const lazyRequire = createRequire(import.meta.url);

/** A proxy URL flint can use: http://[user:password@]HOST[:PORT]. */
export function checkProxy(value: string): string | undefined {
  try {
    const u = new URL(value);
    return u.protocol === 'http:' && u.hostname !== '' && u.pathname.replace(/\/$/, '') === '' ? undefined : 'expected http://HOST:PORT (an http proxy that tunnels with CONNECT)';
  } catch {
    return 'expected http://HOST:PORT';
  }
}

type Done = (err: Error | null, stream: Duplex) => void;

/** SNI for a host name; none for an address, which TLS does not allow there. */
function sni(host: string | undefined): { servername?: string } {
  return host === undefined || (lazyRequire('node:net') as typeof import('node:net')).isIP(host) !== 0 ? {} : { servername: host };
}

/** An https Agent whose connections go through PROXY. */
export function proxyAgent(proxy: string, options: AgentOptions): Agent {
  const https = lazyRequire('node:https') as typeof import('node:https');
  const http = lazyRequire('node:http') as typeof import('node:http');
  const tls = lazyRequire('node:tls') as typeof import('node:tls');
  const p = new URL(proxy);
  const auth = p.username !== '' ? { 'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64')}` } : {};
  class Tunnel extends https.Agent {
    // Node's Agent takes a callback form of createConnection: the socket comes once the tunnel stands.
    override createConnection(o: RequestOptions & { servername?: string }, done?: Done): undefined {
      const target = `${o.host ?? 'localhost'}:${o.port ?? 443}`;
      const fail = (e: Error) => done?.(e, undefined as unknown as Duplex);
      const req = http.request({ host: p.hostname, port: Number(p.port || 80), method: 'CONNECT', path: target, headers: { host: target, ...auth } });
      req.once('connect', (res, socket: Socket) => {
        if (res.statusCode !== 200) {
          socket.destroy();
          fail(new Error(`the proxy ${p.host} answered ${res.statusCode ?? '?'} to CONNECT ${target}`));
          return;
        }
        // The options are the https request's own (ca, servername); node's types for the two differ.
        done?.(null, tls.connect({ ...(o as object), socket, ...sni(o.servername ?? o.hostname ?? o.host ?? undefined) } as import('node:tls').ConnectionOptions));
      });
      req.once('error', (e) => fail(new Error(`the proxy ${p.host}: ${e.message}`)));
      req.end();
      return undefined;
    }
  }
  return new Tunnel(options);
}
