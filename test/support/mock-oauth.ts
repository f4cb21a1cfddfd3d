import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A mock OAuth token endpoint on 127.0.0.1 for the token-refresh tests: records every request
 * (path, content type, parsed fields) and answers from a script, one entry per request; when the
 * script is empty it issues fresh tokens (`access-<n>` / `refresh-<n>`, 1 h).
 */

export interface TokenRequest {
  path: string;
  contentType: string;
  /** The form or JSON fields, as strings. */
  fields: Record<string, string>;
}

export interface ScriptedAnswer {
  status: number;
  body: unknown;
  /** Wait this long before answering (ms), e.g. to hold a refresher inside its lock. */
  delayMs?: number;
}

export interface MockOAuth {
  url: string;
  requests: TokenRequest[];
  script: ScriptedAnswer[];
  /** Delay of answers that are not scripted (ms). */
  defaultDelayMs: number;
  close(): Promise<void>;
}

export async function startMockOAuth(): Promise<MockOAuth> {
  const requests: TokenRequest[] = [];
  const state = { script: [] as ScriptedAnswer[], defaultDelayMs: 0 };
  let issued = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const contentType = String(req.headers['content-type'] ?? '');
        let fields: Record<string, string> = {};
        if (contentType.startsWith('application/json')) {
          fields = Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
        } else {
          fields = Object.fromEntries(new URLSearchParams(text));
        }
        requests.push({ path: req.url ?? '', contentType, fields });
        const scripted = state.script.shift();
        issued++;
        const answer = scripted ?? {
          status: 200,
          body: { access_token: `access-${issued}`, refresh_token: `refresh-${issued}`, expires_in: 3_600, token_type: 'Bearer' },
          delayMs: state.defaultDelayMs,
        };
        if (answer.delayMs) await sleep(answer.delayMs);
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get script() {
      return state.script;
    },
    set script(value: ScriptedAnswer[]) {
      state.script = value;
    },
    get defaultDelayMs() {
      return state.defaultDelayMs;
    },
    set defaultDelayMs(value: number) {
      state.defaultDelayMs = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** EZ_OAUTH_* variables pointing every OAuth type at `mock` (`/<type>` paths) with test Google client secrets. */
export function mockOAuthEnv(mock: { url: string }): Record<string, string> {
  return {
    EZ_OAUTH_TOKEN_URL_CODEX: `${mock.url}/codex`,
    EZ_OAUTH_TOKEN_URL_CLAUDE_CODE: `${mock.url}/claude-code`,
    EZ_OAUTH_TOKEN_URL_GEMINI_CLI: `${mock.url}/gemini-cli`,
    EZ_OAUTH_TOKEN_URL_ANTIGRAVITY: `${mock.url}/antigravity`,
    EZ_OAUTH_CLIENT_SECRET_GEMINI_CLI: 'test-gemini-cli-client-secret',
    EZ_OAUTH_CLIENT_SECRET_ANTIGRAVITY: 'test-antigravity-client-secret',
  };
}
