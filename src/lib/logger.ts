import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Secrets are kept out of logs twice: by path (headers and fields known to carry them) and by
 * pattern (anything that looks like one of our keys, a provider key or a bearer token, wherever
 * it appears in a string). See invariant 6 of DESIGN §9.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-goog-api-key"]',
  'req.headers["x-internal-token"]',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["x-goog-api-key"]',
  'headers["x-internal-token"]',
  '*.api_key',
  '*.apiKey',
  '*.secret',
  '*.password',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.adminToken',
  '*.internalToken',
  'api_key',
  'apiKey',
  'secret',
  'password',
  'token',
  'access_token',
  'refresh_token',
  'dsn',
  '*.dsn',
];

const SECRET_PATTERNS: RegExp[] = [
  /\bez(?:adm|int|m|k)_[A-Za-z0-9_-]{8,}/g, // our admin, internal, master and child keys
  /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}/g, // OpenAI / Anthropic style keys
  /\bAIza[0-9A-Za-z_-]{20,}/g, // Google API keys
  /\bya29\.[0-9A-Za-z_.-]{20,}/g, // Google OAuth access tokens
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /([?&](?:key|api_key|token|access_token)=)[^&\s"']+/gi,
  /(postgres(?:ql)?:\/\/[^:/\s]+:)[^@\s]+(?=@)/gi, // passwords in DSNs
  /(rediss?:\/\/[^:/\s]*:)[^@\s]+(?=@)/gi,
];

/** Replaces anything that looks like a secret in a string. */
export function redactString(value: string): string {
  let out = value;
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (match, prefix?: string) =>
      typeof prefix === 'string' && match.startsWith(prefix) && prefix.length < match.length ? `${prefix}[REDACTED]` : '[REDACTED]',
    );
  }
  return out;
}

function redactDeep(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactString(value);
  if (depth <= 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth - 1));
  if (value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v, depth - 1);
  return out;
}

const errSerializer = (err: unknown): unknown => {
  const serialized = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  return redactDeep(serialized, 4);
};

export function createLogger(options: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? process.env.EZ_LOG_LEVEL ?? 'info',
    base: { service: options.name ?? 'ez-api' },
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    serializers: { err: errSerializer, error: errSerializer },
    formatters: { log: (obj) => redactDeep(obj, 4) as Record<string, unknown> },
    hooks: {
      logMethod(args, method) {
        const redacted = args.map((a) => (typeof a === 'string' ? redactString(a) : a)) as Parameters<typeof method>;
        method.apply(this, redacted);
      },
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** The process-wide root logger; modules take `logger.child({ module: '…' })`. */
export const logger: Logger = createLogger();
