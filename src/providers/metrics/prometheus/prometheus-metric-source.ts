import { ProviderError } from '../../../errors.js';
import { formatDuration } from '../../../util/duration.js';
import type { MetricSource, WindowStats } from '../types.js';

/** The queries a Prometheus metric source runs; each may be overridden in `metrics.queries`. */
export type PrometheusQueryName =
  'error_rate' | 'latency_p50' | 'latency_p90' | 'latency_p95' | 'latency_p99' | 'request_rate' | 'requests';

/** Options of {@link PrometheusMetricSource}; `url` is the Prometheus base URL, e.g. `http://prom:9090`. */
export interface PrometheusMetricSourceOptions {
  url: string;
  service: string;
  /** PromQL templates with `{{service}}`, `{{version}}` and `{{window}}`, replacing the defaults. */
  queries?: Partial<Record<PrometheusQueryName, string>>;
  /** Per-query timeout; DEFAULT_PROMETHEUS_TIMEOUT_MS when omitted. */
  timeoutMs?: number;
  /** Injected for tests; the global fetch otherwise. */
  fetch?: typeof fetch;
}

/** How long one instant query may take before the measurement is given up as inconclusive. */
export const DEFAULT_PROMETHEUS_TIMEOUT_MS = 5000;

const SELECTOR = 'service="{{service}}",version="{{version}}"';
const SERVER_ERRORS = 'code=~"5.."';
const MS_PER_SECOND = 1000;

function quantileQuery(q: number): string {
  // histogram_quantile answers in seconds, the unit of the histogram; WindowStats wants milliseconds.
  return `histogram_quantile(${q}, sum by (le) (rate(http_request_duration_seconds_bucket{${SELECTOR}}[{{window}}]))) * ${MS_PER_SECOND}`;
}

/**
 * Default PromQL for the conventional `http_requests_total{service,version,code}` counter and
 * `http_request_duration_seconds` histogram. `or vector(0)` makes "no series yet" read as zero for
 * counts (a version that never served, or never failed) instead of an empty answer.
 */
export const DEFAULT_PROMETHEUS_QUERIES: Readonly<Record<PrometheusQueryName, string>> = {
  error_rate:
    `(sum(rate(http_requests_total{${SELECTOR},${SERVER_ERRORS}}[{{window}}])) or vector(0))` +
    ` / sum(rate(http_requests_total{${SELECTOR}}[{{window}}]))`,
  latency_p50: quantileQuery(0.5),
  latency_p90: quantileQuery(0.9),
  latency_p95: quantileQuery(0.95),
  latency_p99: quantileQuery(0.99),
  request_rate: `sum(rate(http_requests_total{${SELECTOR}}[{{window}}])) or vector(0)`,
  requests: `sum(increase(http_requests_total{${SELECTOR}}[{{window}}])) or vector(0)`,
};

const QUERY_NAMES = Object.keys(DEFAULT_PROMETHEUS_QUERIES) as PrometheusQueryName[];
const QUERY_PATH = '/api/v1/query';
/** How much of an unexpected body goes into an error message: enough to recognise, not a page dump. */
const BODY_SNIPPET_CHARS = 200;
const PROMETHEUS_INFINITY: Record<string, number> = { '+Inf': Infinity, '-Inf': -Infinity };

/** Escapes a value for a double-quoted PromQL string, so a version like `a"b` cannot change the query. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Renders a window as a PromQL range: `60s`, or `1500ms` when it is not whole seconds. */
export function promqlRange(windowMs: number): string {
  const ms = Math.max(1, Math.round(windowMs));
  return ms % MS_PER_SECOND === 0 ? `${ms / MS_PER_SECOND}s` : `${ms}ms`;
}

/** Fills `{{service}}`, `{{version}}` and `{{window}}` in a query template. */
export function renderQuery(template: string, service: string, version: string, windowMs: number): string {
  return template
    .replace(/\{\{service\}\}/g, escapeLabelValue(service))
    .replace(/\{\{version\}\}/g, escapeLabelValue(version))
    .replace(/\{\{window\}\}/g, promqlRange(windowMs));
}

interface QueryResponse {
  status?: unknown;
  errorType?: unknown;
  error?: unknown;
  data?: { resultType?: unknown; result?: unknown };
}

function parseSampleValue(raw: unknown): number {
  if (typeof raw !== 'string') return Number.NaN;
  return PROMETHEUS_INFINITY[raw] ?? Number(raw);
}

/** A finite number, or undefined for NaN (0/0 over an idle window) and infinities. */
function finite(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

/** Reads request counts and latencies of one service's versions from Prometheus instant queries. */
export class PrometheusMetricSource implements MetricSource {
  readonly type = 'prometheus';

  private readonly baseUrl: string;
  private readonly service: string;
  private readonly queries: Record<PrometheusQueryName, string>;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: PrometheusMetricSourceOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
    this.service = options.service;
    this.queries = { ...DEFAULT_PROMETHEUS_QUERIES };
    for (const name of QUERY_NAMES) {
      const override = options.queries?.[name];
      if (override !== undefined) this.queries[name] = override;
    }
    this.timeoutMs = options.timeoutMs ?? DEFAULT_PROMETHEUS_TIMEOUT_MS;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /**
   * Stats for `version` over the last `windowMs`, from seven instant queries run together. Throws
   * ProviderError when Prometheus is unreachable, slow, not Prometheus, rejects a query, or returns
   * no series for the request count; zero requests and undefined quantiles for an idle version.
   */
  async window(version: string, windowMs: number): Promise<WindowStats> {
    const run = (name: PrometheusQueryName): Promise<number | undefined> =>
      this.query(name, renderQuery(this.queries[name], this.service, version, windowMs));
    const [requestsRaw, errorRate, rate, p50, p90, p95, p99] = await Promise.all([
      run('requests'),
      run('error_rate'),
      run('request_rate'),
      run('latency_p50'),
      run('latency_p90'),
      run('latency_p95'),
      run('latency_p99'),
    ]);

    if (requestsRaw === undefined) {
      // A silent zero here would hide a wrong metric name behind "not enough traffic" forever.
      throw new ProviderError(
        `requests query for ${this.service} ${version} returned no series; check metrics.queries.requests`,
      );
    }
    const requests = Number.isFinite(requestsRaw) ? Math.max(0, Math.round(requestsRaw)) : 0;
    if (requests === 0) {
      return {
        requests: 0,
        errors: 0,
        byClass: { '5xx': 0, total: 0 },
        p50: undefined,
        p90: undefined,
        p95: undefined,
        p99: undefined,
        rps: 0,
      };
    }

    if (errorRate === undefined || !Number.isFinite(errorRate)) {
      // Requests without an error rate would read as zero errors: a pass nobody measured.
      throw new ProviderError(
        `error_rate query for ${this.service} ${version} returned ${errorRate === undefined ? 'no series' : errorRate} ` +
          `while the requests query counted ${requests}; check metrics.queries.error_rate`,
      );
    }
    const errors = Math.min(requests, Math.max(0, Math.round(requests * errorRate)));
    return {
      requests,
      errors,
      byClass: { '5xx': errors, total: requests },
      p50: finite(p50),
      p90: finite(p90),
      p95: finite(p95),
      p99: finite(p99),
      rps: finite(rate) ?? requests / (windowMs / MS_PER_SECOND),
    };
  }

  /** Runs one instant query; undefined for an empty result, NaN for a NaN sample. */
  private async query(name: PrometheusQueryName, promql: string): Promise<number | undefined> {
    const url = `${this.baseUrl}${QUERY_PATH}?query=${encodeURIComponent(promql)}`;
    let status: number;
    let contentType: string;
    let body: string;
    try {
      const response = await this.fetch(url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.status;
      contentType = response.headers.get('content-type') ?? '';
      body = await response.text();
    } catch (err) {
      throw this.transportError(err);
    }

    const trimmed = body.trimStart();
    if (/html/i.test(contentType) || trimmed.startsWith('<')) {
      throw new ProviderError(
        `metrics.url answered HTML, not the Prometheus API (HTTP ${status} from ${this.baseUrl}${QUERY_PATH}); ` +
          `set it to the Prometheus base URL, e.g. http://prometheus:9090`,
      );
    }
    let parsed: QueryResponse;
    try {
      parsed = JSON.parse(body) as QueryResponse;
    } catch {
      throw new ProviderError(
        `metrics.url answered HTTP ${status} with something that is not JSON, not the Prometheus API: ` +
          JSON.stringify(trimmed.slice(0, BODY_SNIPPET_CHARS)),
      );
    }
    if (parsed.status === 'error') {
      throw new ProviderError(
        `Prometheus rejected the ${name} query (HTTP ${status}, ${String(parsed.errorType)}): ${String(parsed.error)}; query: ${promql}`,
      );
    }
    if (status < 200 || status >= 300 || parsed.status !== 'success' || parsed.data === undefined) {
      throw new ProviderError(
        `metrics.url answered HTTP ${status} without a Prometheus query result: ${JSON.stringify(trimmed.slice(0, BODY_SNIPPET_CHARS))}`,
      );
    }
    return this.readValue(name, promql, parsed.data);
  }

  private readValue(
    name: PrometheusQueryName,
    promql: string,
    data: NonNullable<QueryResponse['data']>,
  ): number | undefined {
    const { resultType, result } = data;
    if (resultType === 'scalar' && Array.isArray(result)) return parseSampleValue(result[1]);
    if (resultType === 'vector' && Array.isArray(result)) {
      if (result.length === 0) return undefined;
      if (result.length > 1) {
        // Picking one series of several would measure an arbitrary instance or status code.
        throw new ProviderError(
          `the ${name} query returned ${result.length} series, expected one; aggregate it with sum(): ${promql}`,
        );
      }
      const sample = result[0] as { value?: unknown };
      return Array.isArray(sample.value) ? parseSampleValue(sample.value[1]) : Number.NaN;
    }
    throw new ProviderError(
      `the ${name} query returned a ${String(resultType)}, expected an instant vector or scalar: ${promql}`,
    );
  }

  private transportError(err: unknown): ProviderError {
    const error = err as Error & { cause?: { code?: string; message?: string } };
    if (error.name === 'TimeoutError' || error.name === 'AbortError') {
      return new ProviderError(
        `metrics.url ${this.baseUrl} did not answer within ${formatDuration(this.timeoutMs)} (metrics.timeout)`,
        { cause: err },
      );
    }
    const detail = error.cause?.code ?? error.cause?.message ?? error.message;
    return new ProviderError(`cannot reach metrics.url ${this.baseUrl}: ${detail}`, { cause: err });
  }
}
