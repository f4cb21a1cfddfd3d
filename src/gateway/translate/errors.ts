import { GatewayError } from '../errors.js';

/**
 * Refusals raised while translating a client request into another dialect. Both are
 * `invalid_request` GatewayErrors, so the gateway answers 400 in the client's own format with
 * `param` naming the offending field (a JSON path such as `messages[2].content[0].image_url.url`).
 */

/** The field is valid in the client's dialect but cannot be expressed upstream. */
export class UnsupportedFieldError extends GatewayError {
  constructor(
    readonly field: string,
    reason?: string,
  ) {
    super('invalid_request', reason === undefined ? `unsupported field "${field}"` : `unsupported field "${field}": ${reason}`, {
      param: field,
    });
    this.name = 'UnsupportedFieldError';
  }
}

/** The field is malformed (wrong type, unparseable JSON, missing where required). */
export class InvalidFieldError extends GatewayError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super('invalid_request', `invalid field "${field}": ${reason}`, { param: field });
    this.name = 'InvalidFieldError';
  }
}
