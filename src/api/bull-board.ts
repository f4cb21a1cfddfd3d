import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { KoaAdapter } from '@bull-board/koa';
import type { Queue } from 'bullmq';
import type { Middleware } from 'koa';

type BoardServerAdapter = Parameters<typeof createBullBoard>[0]['serverAdapter'];
import type { ApiState } from './context.js';

export const BULL_BOARD_PATH = '/admin/queues';

/** The board's UI: scripts from this origin only; inline styles and its Google Fonts stylesheet. */
export const BULL_BOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
  "font-src 'self' https://fonts.gstatic.com",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const isBullBoardPath = (path: string): boolean => path === BULL_BOARD_PATH || path.startsWith(`${BULL_BOARD_PATH}/`);

/**
 * Bull Board at /admin/queues behind `auth` (admin auth with a Basic challenge, so a browser
 * prompts). Requests outside the prefix pass straight through.
 */
export function bullBoard(options: { queues: readonly Queue[]; auth: Middleware<ApiState> }): Middleware<ApiState> {
  const serverAdapter = new KoaAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: options.queues.map((queue) => new BullMQAdapter(queue)),
    // @bull-board/koa pins its own copy of @bull-board/api's typings (a patch release apart);
    // the runtime contract is the same interface.
    serverAdapter: serverAdapter as unknown as BoardServerAdapter,
    options: { uiConfig: { boardTitle: 'EZ-API queues' } },
  });
  const board = serverAdapter.registerPlugin() as Middleware<ApiState>;
  return async (ctx, next) => {
    if (!isBullBoardPath(ctx.path)) return next();
    await options.auth(ctx, async () => {
      ctx.set('Content-Security-Policy', BULL_BOARD_CSP);
      await board(ctx, next);
    });
  };
}
