import { webhookJobId } from '../../../jobs/webhooks/definition.js';
import { enqueue } from '../../../jobs/queues.js';
import * as alerts from '../../domain/alerts/alerts.service.js';
import type { AlertAction } from '../../db/alerts.repository.js';
import type { WriteContext } from '../../domain/write-context.js';
import { defineRoute, type ApiRoute, type RouteContext, type RouteEnv } from '../route.js';
import { writeContext, writeDeps } from '../write.js';
import {
  alertIdParamsSchema,
  alertListSchema,
  alertSchema,
  alertStatsQuerySchema,
  alertStatsSchema,
  createAlertSchema,
  listAlertsQuerySchema,
  reportAlertSchema,
  reportResultSchema,
  thresholdsSchema,
  updateThresholdsSchema,
} from './alerts.schemas.js';
import { errorResponseSchema } from './common.schemas.js';

/**
 * `/admin/alerts` (list, get, create, ack/resolve/dismiss, stats, thresholds) and the data plane's
 * `POST /internal/alerts/report` (docs/alerts.md).
 */

const tags = ['alerts'];

/** Longest a response waits for one webhook enqueue after commit (ms); past it the detector tick publishes it. */
const ENQUEUE_TIMEOUT_MS = 1_000;

function alertsDeps(env: RouteEnv, ctx: RouteContext): alerts.AlertsDeps {
  return {
    write: writeDeps(env, ctx),
    now: () => new Date(),
    enqueue: async (delivery) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        enqueue(env.deps.queues, 'webhooks', delivery, { jobId: webhookJobId(delivery) }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`webhooks enqueue timed out after ${ENQUEUE_TIMEOUT_MS} ms`)), ENQUEUE_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    },
    onAnnounceError: (err) =>
      ctx.state.logger.warn({ err: { message: (err as Error).message } }, 'alert announcement failed after commit; the detector tick will publish it'),
  };
}

/** Data planes write as the internal actor (no person or tenant behind the token). */
function internalContext(ctx: RouteContext): WriteContext {
  return { actor: { type: 'internal', id: 'data-plane' }, requestId: ctx.state.requestId, ip: ctx.ip };
}

const TRANSITION_ROUTES: Array<{ path: string; action: AlertAction; summary: string }> = [
  { path: 'ack', action: 'acknowledge', summary: 'Acknowledge an active alert' },
  { path: 'resolve', action: 'resolve', summary: 'Resolve an active or acknowledged alert (announced as `alert.resolved`)' },
  { path: 'dismiss', action: 'dismiss', summary: 'Dismiss an active or acknowledged alert (mutes its fingerprint while it keeps firing)' },
];

export const alertRoutes: ApiRoute[] = [
  defineRoute({
    method: 'get',
    path: '/admin/alerts',
    summary: 'Alerts, newest first',
    description: 'Keyset-paginated: pass the `next_cursor` of one page as `cursor` to get the next. `since`/`until` filter on `last_seen_at`.',
    tags,
    auth: 'admin',
    request: { query: listAlertsQuerySchema },
    responses: { 200: { description: 'A page of alerts', schema: alertListSchema } },
    handler: (_ctx, { query }, { deps }) => {
      const { status, severity, ...rest } = query;
      return alerts.listAlertsPage(deps.knex, { ...rest, ...(status ? { status } : {}), ...(severity ? { severity } : {}) });
    },
  }),
  defineRoute({
    method: 'get',
    path: '/admin/alerts/stats',
    summary: 'Alert counts by status, severity and type',
    tags,
    auth: 'admin',
    request: { query: alertStatsQuerySchema },
    responses: { 200: { description: 'Counts', schema: alertStatsSchema } },
    handler: (_ctx, { query }, { deps }) => alerts.alertStats(deps.knex, query.since ? { since: query.since } : {}),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/alerts/thresholds',
    summary: 'The alert detector thresholds (every threshold, with defaults)',
    tags,
    auth: 'admin',
    responses: { 200: { description: 'The thresholds in effect, the defaults and what an admin set', schema: thresholdsSchema } },
    handler: (_ctx, _input, { deps }) => alerts.getThresholds(deps.knex),
  }),
  defineRoute({
    method: 'put',
    path: '/admin/alerts/thresholds',
    summary: 'Change alert detector thresholds',
    description:
      'Merges: the thresholds named in the body are set, `null` resets one to its default, the others keep their value. Unknown names are refused (400 naming each). The detector reads them at its next tick (within a minute).',
    tags,
    auth: 'admin',
    request: { body: updateThresholdsSchema },
    responses: { 200: { description: 'The thresholds after the change', schema: thresholdsSchema } },
    handler: (ctx, { body }, env) => alerts.updateThresholds(alertsDeps(env, ctx), writeContext(ctx), body),
  }),
  defineRoute({
    method: 'get',
    path: '/admin/alerts/:id',
    summary: 'Get an alert',
    tags,
    auth: 'admin',
    request: { params: alertIdParamsSchema },
    responses: { 200: { description: 'The alert', schema: alertSchema } },
    handler: (_ctx, { params }, { deps }) => alerts.getAlert(deps.knex, params.id),
  }),
  defineRoute({
    method: 'post',
    path: '/admin/alerts',
    summary: 'Raise a manual alert',
    description:
      'Without a `fingerprint` the alert is always new (201). With one it is deduplicated like any report: an open alert with the same fingerprint absorbs it (200, its count grows; severity only rises, announced as `alert.escalated`). A new alert is announced as `alert.created`.',
    tags,
    auth: 'admin',
    request: { body: createAlertSchema },
    responses: {
      201: { description: 'Created', schema: alertSchema },
      200: { description: 'Folded into an existing alert with the same fingerprint', schema: alertSchema },
    },
    handler: async (ctx, { body }, env) => {
      const result = await alerts.reportAlert(alertsDeps(env, ctx), writeContext(ctx), { ...body, metadata: { ...body.metadata, source: 'admin' } });
      ctx.status = result.created ? 201 : 200;
      return result.alert;
    },
  }),
  ...TRANSITION_ROUTES.map(({ path, action, summary }) =>
    defineRoute({
      method: 'post',
      path: `/admin/alerts/:id/${path}`,
      summary,
      description:
        'Records who and when. An alert not in a status the action applies to is a 409 `invalid_transition` whose `details` name the current (`from`) and requested (`to`) status.',
      tags,
      auth: 'admin',
      request: { params: alertIdParamsSchema },
      responses: {
        200: { description: 'The alert after the change', schema: alertSchema },
        409: { description: '`invalid_transition`: the alert is not in a status this action applies to', schema: errorResponseSchema },
      },
      handler: (ctx, { params }, env) => alerts.transition(alertsDeps(env, ctx), writeContext(ctx), params.id, action),
    }),
  ),
  defineRoute({
    method: 'post',
    path: '/internal/alerts/report',
    summary: 'Report an alert from a data plane (deduplicated by fingerprint, 5-minute cooldown)',
    description:
      'Validated like the `provider-events` `alert` event. An open alert with the fingerprint absorbs the report (`deduplicated`); a dismissed one still firing, or one resolved less than 5 minutes ago, does too (`suppressed`); otherwise a new alert is created (201) and announced. A report that raises an open alert\'s severity is announced as `alert.escalated`.',
    tags: ['internal', 'alerts'],
    auth: 'internal',
    request: { body: reportAlertSchema },
    responses: {
      201: { description: 'A new alert', schema: reportResultSchema },
      200: { description: 'Folded into an existing alert', schema: reportResultSchema },
    },
    handler: async (ctx, { body }, env) => {
      const { alert_type, at, metadata, related_type, related_id, ...rest } = body;
      const result = await alerts.reportAlert(alertsDeps(env, ctx), internalContext(ctx), {
        ...rest,
        type: alert_type,
        ...(related_type !== undefined ? { related_type } : {}),
        ...(related_id !== undefined ? { related_id } : {}),
        metadata: { ...metadata, source: 'data_plane', ...(at !== undefined ? { observed_at: at } : {}) },
      });
      ctx.status = result.created ? 201 : 200;
      return result;
    },
  }),
];
