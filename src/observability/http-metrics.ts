/**
 * The HTTP request counter and duration histogram, kept in plain fields per series and shown to the
 * registry exactly as prom-client's Counter and Histogram show theirs (same names, labels, buckets
 * and text). prom-client checks and joins the label object of every observation, twice a request
 * (counter and histogram): 1.1 µs a request in a loop on an idle machine, 3 on a busy one, where a
 * series looked up by one string costs 0.2.
 */
import type { Registry } from 'prom-client';

type Labels = { method: string; route: string; status: string };

interface Series {
  labels: Labels;
  count: number;
  sum: number;
  /** Observations per bucket (not cumulative), the last one past every bound (+Inf). */
  perBucket: number[];
}

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export class HttpRequestMetrics {
  private series = new Map<string, Series>();

  constructor(
    registry: Registry,
    names: { counter: string; histogram: string },
    help: { counter: string; histogram: string },
    private readonly buckets: readonly number[],
  ) {
    const register = (name: string, helpText: string, type: 'counter' | 'histogram', values: () => Value[]) =>
      registry.registerMetric({
        name,
        help: helpText,
        type,
        aggregator: 'sum',
        get: async () => ({ name, help: helpText, type, aggregator: 'sum', values: values() }),
        reset: () => (this.series = new Map()),
      } as unknown as Parameters<Registry['registerMetric']>[0]);
    register(names.counter, help.counter, 'counter', () => [...this.series.values()].map((s) => ({ value: s.count, labels: s.labels })));
    register(names.histogram, help.histogram, 'histogram', () => this.histogramValues(names.histogram));
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { method, route, status: String(status) }, count: 0, sum: 0, perBucket: new Array<number>(this.buckets.length + 1).fill(0) };
      this.series.set(key, s);
    }
    s.count += 1;
    s.sum += seconds;
    let i = 0;
    while (i < this.buckets.length && seconds > this.buckets[i]!) i++;
    s.perBucket[i]! += 1;
  }

  /** As prom-client's Histogram: per series its cumulative buckets (`le` first), then +Inf, _sum and _count. */
  private histogramValues(name: string): Value[] {
    const values: Value[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += s.perBucket[i]!;
        values.push({ value: cumulative, labels: { le, ...s.labels }, metricName: `${name}_bucket` });
      });
      values.push({ value: s.count, labels: { le: '+Inf', ...s.labels }, metricName: `${name}_bucket` });
      values.push({ value: s.sum, labels: s.labels, metricName: `${name}_sum` });
      values.push({ value: s.count, labels: s.labels, metricName: `${name}_count` });
    }
    return values;
  }
}
