// /shadow.html: the shadow report as a page a person reads, in the spirit of Diffy's UI:
// per route the match ratio and the fields in which the new service differs from the
// monolith, with the fields that are noise (they differ between two monolith answers as
// often) shown apart. Server-rendered, no script, refreshed every few seconds; every
// value that came from a response or a config is escaped.
import type { FieldReport } from './route-stats.js';
import type { RouteShadowReport, ShadowReport } from './registry.js';

const REFRESH_SECONDS = 5;

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

function percent(part: number, whole: number): string {
  if (whole === 0) return '–';
  const value = (100 * part) / whole;
  return `${value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

function samples(field: FieldReport): string {
  if (field.samples === undefined || field.samples.length === 0) return '';
  const rows = field.samples
    .map(
      (s) =>
        `<li><span class="monolith">${escapeHtml(s.monolith)}</span> → <span class="candidate">${escapeHtml(s.candidate)}</span></li>`,
    )
    .join('');
  return `<ul class="samples">${rows}</ul>`;
}

function fieldTable(
  kind: 'differences' | 'noise',
  fields: FieldReport[],
  compared: number,
): string {
  const rows = fields
    .map(
      (f) =>
        `<tr><td class="field"><code>${escapeHtml(f.field)}</code></td><td>${f.mismatches}</td><td>${percent(f.mismatches, compared)}</td><td>${f.noise}</td><td>${samples(f)}</td></tr>`,
    )
    .join('');
  return `<table class="${kind}"><thead><tr><th>Field</th><th>Differed from the monolith</th><th>Of comparisons</th><th>Monolith differed from itself</th><th>Samples (monolith → new service)</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function routeSection(route: RouteShadowReport): string {
  const r = route.requests;
  const what = route.reverse
    ? `${route.percent}% of the requests ${escapeHtml(route.backend)} serves, copied to the monolith`
    : `${route.percent}% of the requests the monolith serves, copied to ${escapeHtml(route.backend)}`;
  const differences =
    route.differences.length === 0
      ? `<p class="none">No real differences${route.compared === 0 ? ' yet: nothing compared' : ''}.</p>`
      : fieldTable('differences', route.differences, route.compared);
  const noise =
    route.noise.length === 0
      ? ''
      : `<h3>Noise: fields that differ between two monolith answers as often</h3>${fieldTable('noise', route.noise, route.compared)}`;
  return `<section class="route" data-route="${escapeHtml(route.route)}">
<h2>${escapeHtml(route.route)}</h2>
<p class="what">${what}; noise cancellation ${route.noiseCancellation ? 'on' : 'off'}.</p>
<p class="summary"><strong class="match-ratio">${percent(r.match + r.noise, route.compared)}</strong> of ${route.compared} comparisons matched (${r.match} exactly, ${r.noise} up to noise); <strong>${r.mismatch}</strong> mismatched; ${r.error} copies failed; ${r.skipped} skipped.</p>
<h3>Differences</h3>
${differences}
${noise}
</section>`;
}

export function renderShadowPage(report: ShadowReport): string {
  const routes =
    report.routes.length === 0
      ? '<p class="none">No route of this gateway shadows traffic (spec.routes[].shadow).</p>'
      : report.routes.map(routeSection).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<title>Figway: shadow comparisons</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
table.differences td.field { color: #a00; font-weight: bold; }
table.noise { color: #777; }
.samples { margin: 0; padding-left: 1em; font-family: monospace; }
.match-ratio { font-size: 1.3em; }
</style>
</head>
<body>
<h1>Shadow comparisons</h1>
<p>${report.inFlight} of at most ${report.maxInFlight} comparisons in flight. JSON: <a href="/shadow">/shadow</a>.</p>
${routes}
</body>
</html>
`;
}
