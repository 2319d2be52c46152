/**
 * Reads Prometheus' text exposition format into `{ 'name{label="value"}': number }`, one entry a
 * sample, labels as written. Comments (`# HELP`, `# TYPE`) are checked to come before samples.
 */
export function parsePrometheusText(text: string): Record<string, number> {
  const samples: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    samples[match[1]] = Number(match[2]);
  }
  return samples;
}

/** GET `url` (a `/metrics` endpoint): its samples, after checking status and content type. */
export async function scrape(url: string): Promise<Record<string, number>> {
  const response = await fetch(url);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${text}`);
  const type = response.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain; version=0.0.4')) throw new Error(`GET ${url}: content-type ${type}`);
  return parsePrometheusText(text);
}
