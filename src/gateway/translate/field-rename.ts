import { InvalidFieldError, UnsupportedFieldError } from './errors.js';

/**
 * A composed translation (client → intermediate chat request → upstream) refuses fields by their
 * names in the intermediate request; the client must hear its own names. `rename` maps an
 * intermediate field path to the client's (undefined: keep it).
 */
export function renameFieldError(err: unknown, rename: (field: string) => string | undefined): unknown {
  if (!(err instanceof UnsupportedFieldError) && !(err instanceof InvalidFieldError)) return err;
  const to = rename(err.field);
  if (to === undefined || to === err.field) return err;
  const prefix = err instanceof UnsupportedFieldError ? `unsupported field "${err.field}"` : `invalid field "${err.field}": `;
  const rest = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : '';
  if (err instanceof InvalidFieldError) return new InvalidFieldError(to, rest);
  return new UnsupportedFieldError(to, rest.startsWith(': ') ? rest.slice(2) : undefined);
}

/** Runs `translate`, renaming the field of a refusal it throws. */
export function withFieldNames<T>(translate: () => T, rename: (field: string) => string | undefined): T {
  try {
    return translate();
  } catch (err) {
    throw renameFieldError(err, rename);
  }
}
