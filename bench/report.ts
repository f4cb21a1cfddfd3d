import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_DATA_DIR, ROOT } from './processes.js';

/**
 * Markdown for bench/RESULTS.md: one section per scenario (tables, then every figure beside its
 * DESIGN §10 target with pass/fail), under a header naming the machine, the date and the commit.
 * A run of some scenarios replaces their sections and keeps the others (each section says when and
 * at which commit it was measured). Quick runs (BENCH_QUICK=1) are smoke tests: their numbers go to
 * .data/bench/RESULTS.quick.md, never to bench/RESULTS.md.
 */

export interface Verdict {
  figure: string;
  measured: string;
  target: string;
  /** null: reported for context, no target. */
  pass: boolean | null;
}

export interface ScenarioReport {
  /** Tables and notes (markdown). */
  body: string;
  verdicts: Verdict[];
}

/** BENCH_QUICK=1: tiny request counts, to prove the scenarios work end to end. */
export function isQuick(): boolean {
  return process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
}

/** `full` normally, `quick` under BENCH_QUICK (never below `min`). */
export function count(full: number, quick: number): number {
  return isQuick() ? quick : full;
}

export function resultsPath(): string {
  if (process.env.BENCH_RESULTS) return path.resolve(process.env.BENCH_RESULTS);
  return isQuick() ? path.join(BENCH_DATA_DIR, 'RESULTS.quick.md') : path.join(ROOT, 'bench', 'RESULTS.md');
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function verdictTable(verdicts: readonly Verdict[]): string {
  return table(
    ['figure', 'measured', 'DESIGN §10 target', 'result'],
    verdicts.map((v) => [v.figure, v.measured, v.target, v.pass === null ? '—' : v.pass ? '**pass**' : '**FAIL**']),
  );
}

export const ms = (value: number, digits = 2) => `${value.toFixed(digits)} ms`;
export const ratio = (value: number) => `${value.toFixed(2)}×`;

export function machineLine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() || 'unknown CPU';
  return `${model}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export interface RunInfo {
  commit: string;
  runtime: string;
  startedAt: Date;
}

function sectionMarkdown(name: string, report: ScenarioReport, info: RunInfo): string {
  const parts = [`## ${name}`, '', `_Measured ${info.startedAt.toISOString()} at commit \`${info.commit.slice(0, 12)}\`${isQuick() ? ' (BENCH_QUICK smoke run: not a measurement)' : ''}._`, '', report.body];
  if (report.verdicts.length) parts.push('', verdictTable(report.verdicts));
  return parts.join('\n');
}

/** Sections of an existing results file, by scenario name. */
function existingSections(file: string): Map<string, string> {
  const sections = new Map<string, string>();
  if (!existsSync(file)) return sections;
  const text = readFileSync(file, 'utf8');
  for (const chunk of text.split(/\n(?=## )/)) {
    const match = /^## (\S+)/.exec(chunk);
    if (match) sections.set(match[1]!, chunk.trimEnd());
  }
  return sections;
}

/** Writes (merges) the results file; returns its path. `order` is the full scenario list. */
export function writeResults(reports: ReadonlyMap<string, ScenarioReport>, info: RunInfo, order: readonly string[]): string {
  const file = resultsPath();
  const sections = existingSections(file);
  for (const [name, report] of reports) sections.set(name, sectionMarkdown(name, report, info));
  const header = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (bench/run.ts); what each scenario measures and how to read it: docs/benchmarks.md.',
    'Every gateway figure is measured beside its yardstick (the mock called directly, a bare undici proxy) in the same run,',
    'alternating short rounds, and compared with the targets of DESIGN §10.',
    '',
    `- Machine: ${machineLine()}`,
    `- Last run: ${info.startedAt.toISOString()}, commit \`${info.commit}\``,
    `- Gateway, api and worker run as: ${info.runtime}; the mock upstream, the bare proxy and the load generator run under tsx`,
    `- Load generator, mock, proxies, PostgreSQL and Redis share this machine: a process's CPU per request is its own; throughput is the whole machine's`,
  ];
  const known = [...order.filter((n) => sections.has(n)), ...[...sections.keys()].filter((n) => !order.includes(n))];
  const text = [header.join('\n'), ...known.map((n) => sections.get(n)!)].join('\n\n') + '\n';
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}
