import type { Config, OAuthTypeSettings } from '../../lib/config.js';
import { OAUTH_TYPES, type ProviderType } from '../provider-presets.js';

/**
 * The OAuth clients of the subscription provider types, as data (PROVIDERS.md, docs/oauth-refresh.md):
 * where each type's refresh token is exchanged, with which public client id, in which body
 * encoding, and how long before expiry its access token is renewed. Endpoints, client ids, client
 * secrets and lead times come from configuration when set (EZ_OAUTH_*), so tests and private
 * deployments can point them elsewhere.
 */

export type OAuthType = Extract<ProviderType, 'codex' | 'claude-code' | 'gemini-cli' | 'antigravity'>;

export interface OAuthClient {
  type: OAuthType;
  tokenUrl: string;
  clientId: string;
  /** Google's installed-app clients need one; it comes from configuration only. */
  clientSecret: string | undefined;
  /** `form`: application/x-www-form-urlencoded; `json`: application/json. */
  encoding: 'form' | 'json';
  /** Sent as `scope` when set (Codex asks for the same scopes again). */
  scope: string | undefined;
  /** A Google client cannot refresh without its secret. */
  requiresClientSecret: boolean;
  /** Renew the access token when it expires within this long (ms). */
  leadMs: number;
}

type Defaults = Omit<OAuthClient, 'type' | 'clientSecret' | 'leadMs'>;

const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export const OAUTH_CLIENT_DEFAULTS: Readonly<Record<OAuthType, Defaults>> = {
  codex: {
    tokenUrl: 'https://auth.openai.com/oauth/token',
    clientId: 'app_EMoamEEZ73f0CkXaXp7hrann',
    encoding: 'form',
    scope: 'openid profile email',
    requiresClientSecret: false,
  },
  'claude-code': {
    tokenUrl: 'https://console.anthropic.com/v1/oauth/token',
    clientId: '9d1c250a-e61b-44d9-88ed-5944d1962f5e',
    encoding: 'json',
    scope: undefined,
    requiresClientSecret: false,
  },
  'gemini-cli': {
    tokenUrl: GOOGLE_TOKEN_URL,
    clientId: '681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com',
    encoding: 'form',
    scope: undefined,
    requiresClientSecret: true,
  },
  antigravity: {
    tokenUrl: GOOGLE_TOKEN_URL,
    clientId: '884354919052-36trc1jjb3tguiac32ov6cod268c5blh.apps.googleusercontent.com',
    encoding: 'form',
    scope: undefined,
    requiresClientSecret: true,
  },
};

export const OAUTH_REFRESH_TYPES = Object.keys(OAUTH_CLIENT_DEFAULTS) as OAuthType[];

export function isOAuthType(type: string): type is OAuthType {
  return (OAUTH_TYPES as ReadonlySet<string>).has(type) && Object.hasOwn(OAUTH_CLIENT_DEFAULTS, type);
}

/** The client of `type` under the configured overrides. */
export function oauthClient(oauth: Config['oauth'], type: OAuthType): OAuthClient {
  const defaults = OAUTH_CLIENT_DEFAULTS[type];
  const settings: OAuthTypeSettings = oauth.types[type];
  return {
    ...defaults,
    type,
    tokenUrl: settings.tokenUrl ?? defaults.tokenUrl,
    clientId: settings.clientId ?? defaults.clientId,
    clientSecret: settings.clientSecret,
    leadMs: settings.leadMs,
  };
}
