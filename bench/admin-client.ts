/**
 * The benchmark's way into the control plane: plain HTTP calls to the admin API with the admin
 * token, exactly as an operator's script would make them. Non-2xx answers throw with the error body.
 */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async call<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(90_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 1_000)}`);
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return (await this.call<T>('POST', path, body)).body;
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return (await this.call<T>('PATCH', path, body)).body;
  }

  async get<T>(path: string): Promise<T> {
    return (await this.call<T>('GET', path)).body;
  }
}
