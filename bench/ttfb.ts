/**
 * `npm run bench -- ttfb`: time to the first byte of a streamed answer, calling the mock directly,
 * through the bare proxy and through the gateway (alternating rounds). The mock sends its first SSE
 * chunk at once and the others CHUNK_INTERVAL_MS apart, so a proxy that waits (a fixed delay, a
 * buffered body) shows up as a first byte later than the interval.
 */
import { benchEnv } from './env.js';
import { targetsFor } from './gateway-overhead.js';
import { count, ms, table, type ScenarioReport, type Verdict } from './report.js';
import { assertNoErrors, measureInRounds, type TargetFigures } from './rounds.js';

/** DESIGN §10: time to first byte ≤ bare's + 0.5 ms. */
export const TTFB_SLACK_MS = 0.5;
const CHUNKS = 10;
const CHUNK_INTERVAL_MS = 5;
const signed = (value: number) => `${value >= 0 ? '+' : '−'}${ms(Math.abs(value))}`;

export async function measureTtfb(): Promise<ScenarioReport> {
  const env = await benchEnv();
  await env.mock.configure({ delayMs: 0, chunks: CHUNKS, chunkIntervalMs: CHUNK_INTERVAL_MS });
  const rows: string[][] = [];
  const verdicts: Verdict[] = [];
  for (const [connections, requests] of [
    [1, count(150, 6)],
    [16, count(960, 32)],
  ] as const) {
    const figures = await measureInRounds(targetsFor(env, true), { path: '/v1/chat/completions', connections, requests, rounds: 3, warmup: Math.min(100, Math.ceil(requests / 3)), firstByte: true });
    assertNoErrors(figures, `ttfb ${connections} conn`);
    const [direct, bare, gateway] = figures as [TargetFigures, TargetFigures, TargetFigures];
    for (const f of figures) {
      rows.push([String(connections), f.label, String(f.requests), (f.ttfbP50Ms ?? 0).toFixed(3), (f.ttfbP99Ms ?? 0).toFixed(3), f.p50Ms.toFixed(2), f.p99Ms.toFixed(2)]);
    }
    const gw = gateway.ttfbP50Ms ?? 0;
    const bp = bare.ttfbP50Ms ?? 0;
    verdicts.push({ figure: `TTFB p50 gateway, ${connections} conn`, measured: `${ms(gw, 3)} (bare ${ms(bp, 3)})`, target: `≤ bare + ${TTFB_SLACK_MS} ms = ${ms(bp + TTFB_SLACK_MS, 3)}`, pass: gw <= bp + TTFB_SLACK_MS });
    verdicts.push({
      figure: `TTFB p99 gateway, ${connections} conn`,
      measured: `${ms(gateway.ttfbP99Ms ?? 0, 3)} (bare ${ms(bare.ttfbP99Ms ?? 0, 3)})`,
      target: 'context',
      pass: null,
    });
    // Forwarded as they arrive: against the bare proxy in the same rounds, the first byte is not a
    // chunk gap later (a fixed delay or a buffered body would be), nor is the end of the stream.
    const firstLag = gw - bp;
    const endLag = gateway.p50Ms - bare.p50Ms;
    verdicts.push({
      figure: `chunks forwarded as they arrive, ${connections} conn`,
      measured: `first byte ${signed(firstLag)}, stream end ${signed(endLag)} vs bare (direct end ${ms(direct.p50Ms)})`,
      // With one connection nothing queues, so a lag can only be the proxy holding chunks back; with
      // 16, CPU per request (queueing) adds to it too: shown for context.
      target: connections === 1 ? `both < ${CHUNK_INTERVAL_MS} ms (one chunk gap)` : 'context',
      pass: connections === 1 ? firstLag < CHUNK_INTERVAL_MS && endLag < CHUNK_INTERVAL_MS : null,
    });
  }
  const body = [
    table(['conns', 'target', 'streams', 'TTFB p50 ms', 'TTFB p99 ms', 'stream end p50 ms', 'stream end p99 ms'], rows),
    '',
    `Each stream: ${CHUNKS} content chunks ${CHUNK_INTERVAL_MS} ms apart (the first at once), then a usage chunk and \`[DONE]\`. TTFB is request start → first body byte at the client.`,
  ].join('\n');
  return { body, verdicts };
}
