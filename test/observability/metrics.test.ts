/**
 * Metrics: what each feeding call puts in the Prometheus text, the scrape-time callbacks (queue
 * depth, jobs by state) asked at each scrape, a failing callback not failing the scrape, and the
 * process metrics under the darkroom_ prefix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics, processMetrics } from '../../src/observability/metrics.ts';
import { sample, samples } from './prom.ts';

test('HTTP requests are counted by method, route pattern and status, and timed', async () => {
  const m = new Metrics({ defaultMetrics: false });
  m.httpRequest('GET', '/v1/image/:id', 200, 0.02);
  m.httpRequest('GET', '/v1/image/:id', 200, 0.2);
  m.httpRequest('POST', '/v1/image/generation/create', 400, 0.001);
  m.httpRequest('BREW', 'unmatched', 404, 0.001);
  const { contentType, body } = await m.render();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  assert.match(body, /# TYPE darkroom_http_requests_total counter/);
  assert.equal(sample(body, 'darkroom_http_requests_total', { method: 'GET', route: '/v1/image/:id', status: '200' }), 2);
  assert.equal(sample(body, 'darkroom_http_requests_total', { method: 'POST', route: '/v1/image/generation/create', status: '400' }), 1);
  // An unknown method does not become a label value of its own.
  assert.equal(sample(body, 'darkroom_http_requests_total', { method: 'OTHER', route: 'unmatched', status: '404' }), 1);
  assert.equal(sample(body, 'darkroom_http_request_duration_seconds_count', { route: '/v1/image/:id' }), 2);
  assert.equal(sample(body, 'darkroom_http_request_duration_seconds_bucket', { route: '/v1/image/:id', le: '0.025' }), 1);
  assert.ok(Math.abs(sample(body, 'darkroom_http_request_duration_seconds_sum', { route: '/v1/image/:id' }) - 0.22) < 1e-9);
});

test('job side: job seconds by kind and status, step seconds, images, credits debited and refunded', async () => {
  const m = new Metrics({ defaultMetrics: false });
  m.jobFinished('generation', 'succeeded', 3.5);
  m.jobFinished('generation', 'failed', 0.3);
  m.jobFinished('upscale', 'succeeded', 1);
  for (let i = 0; i < 20; i++) m.step(0.04);
  m.images(4);
  m.images(0);
  m.credits('debited', 6);
  m.credits('refunded', 2);
  m.credits('debited', 1);
  const { body } = await m.render();
  assert.equal(sample(body, 'darkroom_job_duration_seconds_count', { kind: 'generation', status: 'succeeded' }), 1);
  assert.equal(sample(body, 'darkroom_job_duration_seconds_sum', { kind: 'generation', status: 'succeeded' }), 3.5);
  assert.equal(sample(body, 'darkroom_job_duration_seconds_count', { kind: 'generation', status: 'failed' }), 1);
  assert.equal(sample(body, 'darkroom_job_duration_seconds_count', { kind: 'upscale', status: 'succeeded' }), 1);
  assert.equal(sample(body, 'darkroom_denoising_step_duration_seconds_count'), 20);
  assert.equal(sample(body, 'darkroom_denoising_step_duration_seconds_bucket', { le: '0.05' }), 20);
  assert.equal(sample(body, 'darkroom_denoising_step_duration_seconds_bucket', { le: '0.025' }), 0);
  assert.equal(sample(body, 'darkroom_images_generated_total'), 4);
  assert.equal(sample(body, 'darkroom_credits_debited_total'), 7);
  assert.equal(sample(body, 'darkroom_credits_refunded_total'), 2);
  assert.match(body, /# TYPE darkroom_images_generated_total counter/);
});

test('queue depth and jobs by state are asked of their callbacks at each scrape; states that vanish leave', async () => {
  const m = new Metrics({ defaultMetrics: false });
  let scrapes = 0;
  let rows = [
    { kind: 'generation', state: 'queued', count: 3 },
    { kind: 'generation', state: 'running', count: 1 },
    { kind: 'upscale', state: 'succeeded', count: 7 },
  ];
  m.setQueueDepth(() => ({ waiting: 3 + scrapes++, running: 1 }));
  m.jobsByState(async () => rows);
  let { body } = await m.render();
  assert.equal(sample(body, 'darkroom_queue_jobs', { state: 'waiting' }), 3);
  assert.equal(sample(body, 'darkroom_queue_jobs', { state: 'running' }), 1);
  assert.equal(sample(body, 'darkroom_jobs', { kind: 'generation', state: 'queued' }), 3);
  assert.equal(sample(body, 'darkroom_jobs', { kind: 'upscale', state: 'succeeded' }), 7);
  rows = [{ kind: 'generation', state: 'succeeded', count: 4 }];
  ({ body } = await m.render());
  assert.equal(sample(body, 'darkroom_queue_jobs', { state: 'waiting' }), 4, 'asked again');
  assert.deepEqual(samples(body, 'darkroom_jobs'), [{ labels: { kind: 'generation', state: 'succeeded' }, value: 4 }]);
});

test('a failing callback leaves its gauge empty and is reported; the scrape still answers', async () => {
  const errors: string[] = [];
  const m = new Metrics({ defaultMetrics: false, onCollectError: (metric, err) => errors.push(`${metric}: ${(err as Error).message}`) });
  m.setQueueDepth(() => ({ waiting: 2, running: 0 }));
  m.jobsByState(async () => {
    throw new Error('database is closed');
  });
  m.images(1);
  const { body } = await m.render();
  assert.deepEqual(errors, ['darkroom_jobs: database is closed']);
  assert.deepEqual(samples(body, 'darkroom_jobs'), []);
  assert.equal(sample(body, 'darkroom_queue_jobs', { state: 'waiting' }), 2);
  assert.equal(sample(body, 'darkroom_images_generated_total'), 1);
});

test('one registry per process, with the process metrics under the darkroom_ prefix', async () => {
  assert.equal(processMetrics(), processMetrics());
  // prom-client counts CPU from when the registry was made, and the kernel accounts it in ticks (4-10 ms):
  // without some work in between, the first reading can be 0.
  const busyUntil = performance.now() + 50;
  while (performance.now() < busyUntil);
  const { body } = await processMetrics().render();
  assert.ok(sample(body, 'darkroom_process_cpu_user_seconds_total') > 0);
  assert.ok(sample(body, 'darkroom_process_resident_memory_bytes') > 0 || sample(body, 'darkroom_nodejs_heap_size_used_bytes') > 0);
  assert.match(body, /^darkroom_nodejs_version_info\{/m);
  assert.doesNotMatch(body, /^process_cpu/m, 'no unprefixed names');
});
