import type { Operation } from '../../types.js';
import { assertSupported, operationSet, type ProviderAdapter, type TargetArgs, type UpstreamTarget, type WrapContext } from '../adapter.js';
import { apiRoot, credential, JSON_CONTENT_TYPE } from '../url.js';

/**
 * OpenAI Codex through a ChatGPT subscription (type `codex`): the Responses API served by the
 * ChatGPT backend, not api.openai.com.
 *
 * Base URL: the Codex root, default `https://chatgpt.com/backend-api/codex`; the gateway appends
 * `/responses`. Only the `responses` operation exists there: a chat-completions client reaches a
 * Codex upstream only through a chat → responses translation.
 *
 * Auth: `Authorization: Bearer <access token>` (the snapshot's api_key, kept fresh by the
 * token-refresh job) and `chatgpt-account-id`, read from the access token's own claims
 * (`https://api.openai.com/auth`.chatgpt_account_id; the JWT is only decoded, never trusted for
 * anything else); when the token carries no such claim the header is left out. Also
 * `openai-beta: responses=experimental` and `originator: codex_cli_rs`, as the Codex CLI sends.
 *
 * Body (`wrapBody`): the backend only streams and refuses stored responses, so `stream: true` and
 * `store: false` are forced (`alwaysStreams`: the engine aggregates the SSE for a client that did
 * not ask to stream), and `max_output_tokens` / `max_completion_tokens`, which it rejects with 400
 * "Unsupported parameter", are dropped.
 */

export const CODEX_DEFAULT_BASE_URL = 'https://chatgpt.com/backend-api/codex';
export const CODEX_ORIGINATOR = 'codex_cli_rs';
const ACCOUNT_CLAIM = 'https://api.openai.com/auth';
const DROPPED_FIELDS = ['max_output_tokens', 'max_completion_tokens'] as const;

const OPERATIONS: readonly Operation[] = ['responses'];
const supports = operationSet(OPERATIONS);

const ACCOUNT_MEMO_MAX = 256;
const accountMemo = new Map<string, string | null>();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The ChatGPT account id in a Codex access token's claims, or null. Decodes only; verifies nothing. */
export function chatgptAccountId(accessToken: string): string | null {
  const cached = accountMemo.get(accessToken);
  if (cached !== undefined) return cached;
  let id: string | null = null;
  const payload = accessToken.split('.')[1];
  if (payload) {
    try {
      const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      const auth = isRecord(claims) ? claims[ACCOUNT_CLAIM] : undefined;
      const value = isRecord(auth) ? auth.chatgpt_account_id : undefined;
      if (typeof value === 'string' && /^[\x21-\x7e]{1,200}$/.test(value)) id = value;
    } catch {
      id = null;
    }
  }
  if (accountMemo.size >= ACCOUNT_MEMO_MAX) accountMemo.clear();
  accountMemo.set(accessToken, id);
  return id;
}

export const codexAdapter: ProviderAdapter = {
  family: 'codex',
  types: ['codex'],
  wireFormat: 'openai',
  operations: OPERATIONS,
  alwaysStreams: true,
  supports,
  target(args: TargetArgs): UpstreamTarget {
    assertSupported(codexAdapter, args);
    const { provider } = args;
    const { origin, prefix } = apiRoot(provider, CODEX_DEFAULT_BASE_URL);
    const token = credential(provider);
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      'openai-beta': 'responses=experimental',
      originator: CODEX_ORIGINATOR,
      accept: 'text/event-stream',
      'content-type': JSON_CONTENT_TYPE,
    };
    const account = chatgptAccountId(token);
    if (account) headers['chatgpt-account-id'] = account;
    return { origin, path: `${prefix}/responses`, headers };
  },
  wrapBody(body: Record<string, unknown>, _ctx: WrapContext): Record<string, unknown> {
    const out: Record<string, unknown> = { ...body };
    for (const field of DROPPED_FIELDS) delete out[field];
    out.stream = true;
    out.store = false;
    return out;
  },
};
