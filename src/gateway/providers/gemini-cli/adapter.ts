import type { Operation } from '../../types.js';
import { assertSupported, operationSet, ProviderConfigError, type ProviderAdapter, type TargetArgs, type UpstreamTarget, type WrapContext } from '../adapter.js';
import { generateMethod } from '../gemini/adapter.js';
import { apiRoot, credential, JSON_CONTENT_TYPE, providerType, requireProject, splitVersion } from '../url.js';

/**
 * Google Code Assist, the backend of Gemini CLI and Antigravity subscriptions (types `gemini-cli`,
 * `antigravity`). It speaks Gemini's generateContent inside an envelope.
 *
 * Base URL: default `https://cloudcode-pa.googleapis.com`; the gateway appends
 * `/v1internal:generateContent` or `/v1internal:streamGenerateContent?alt=sse` (a base URL ending
 * in `/v1internal` is not repeated). The model is not in the path but in the envelope.
 *
 * Auth: `Authorization: Bearer <access token>` (kept fresh by the token-refresh job). Antigravity
 * also identifies itself with the IDE's user agent, which Code Assist uses to admit it.
 *
 * Body (`wrapBody`): the Gemini request goes under `request`, with the model (a leading `models/`
 * dropped) and the Cloud project (`google_project`, required: Code Assist bills and rate-limits per
 * project) beside it — `{model, project, user_prompt_id, request}` for Gemini CLI,
 * `{project, model, userAgent: "antigravity", requestId: "agent-<id>", request}` for Antigravity.
 * Responses (`unwrapEvent`) come back as `{response: <GenerateContentResponse>, traceId?}`, in each
 * SSE event and in a whole body alike; the inner `response` is what the Gemini translator reads.
 */

export const CODE_ASSIST_DEFAULT_BASE_URL = 'https://cloudcode-pa.googleapis.com';
export const CODE_ASSIST_VERSION = 'v1internal';
export const ANTIGRAVITY_USER_AGENT = 'antigravity/1.11.5 linux/amd64';

const OPERATIONS: readonly Operation[] = ['generate_content', 'stream_generate_content'];
const supports = operationSet(OPERATIONS);
const VERSION_SEGMENT = /^v1internal$/i;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function envelopeModel(ctx: WrapContext): string {
  const model = ctx.upstreamModel.trim().replace(/^models\//, '');
  if (model === '') throw new ProviderConfigError('missing_model', `no upstream model for provider ${ctx.provider.id}`, ctx.provider.id);
  return model;
}

export const codeAssistAdapter: ProviderAdapter = {
  family: 'gemini-cli',
  types: ['gemini-cli', 'antigravity'],
  wireFormat: 'gemini',
  operations: OPERATIONS,
  alwaysStreams: false,
  supports,
  target(args: TargetArgs): UpstreamTarget {
    assertSupported(codeAssistAdapter, args);
    const { provider } = args;
    requireProject(provider);
    const { origin, prefix } = apiRoot(provider, CODE_ASSIST_DEFAULT_BASE_URL);
    const { root } = splitVersion(prefix, VERSION_SEGMENT);
    const headers: Record<string, string> = { authorization: `Bearer ${credential(provider)}`, 'content-type': JSON_CONTENT_TYPE };
    if (providerType(provider) === 'antigravity') headers['user-agent'] = ANTIGRAVITY_USER_AGENT;
    return { origin, path: `${root}/${CODE_ASSIST_VERSION}${generateMethod(args)}`, headers };
  },
  wrapBody(body: Record<string, unknown>, ctx: WrapContext): Record<string, unknown> {
    const project = requireProject(ctx.provider);
    const model = envelopeModel(ctx);
    if (providerType(ctx.provider) === 'antigravity') {
      return { project, model, userAgent: 'antigravity', requestId: `agent-${ctx.requestId}`, request: body };
    }
    return { model, project, user_prompt_id: ctx.requestId, request: body };
  },
  unwrapEvent(payload: Record<string, unknown>): Record<string, unknown> {
    const inner = payload.response;
    return isRecord(inner) ? inner : payload;
  },
};
