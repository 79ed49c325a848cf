import { InputError, ShipcheckError } from '../errors.js';

/** The API answered with an error status; `status` is the HTTP status. */
export class ApiError extends ShipcheckError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** A thin JSON client of the shipcheck API; the CLI's only way to reach the control plane. */
export class ApiClient {
  constructor(readonly baseUrl: string) {
    if (!/^https?:\/\//.test(baseUrl))
      throw new InputError(`server URL "${baseUrl}" must start with http:// or https://`);
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = this.baseUrl.replace(/\/$/, '') + path;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(process.env.SHIPCHECK_TOKEN ? { authorization: `Bearer ${process.env.SHIPCHECK_TOKEN}` } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ShipcheckError(
        `cannot reach shipcheck at ${this.baseUrl} (${cause}); is "shipcheck up" running?`,
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { error: text };
    }
    if (!response.ok) {
      const message = (json as { error?: string }).error ?? `HTTP ${response.status}`;
      throw new ApiError(message, response.status);
    }
    return json as T;
  }
}
