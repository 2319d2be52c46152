import { FIGURES } from './figures.js';
import type { TargetSummary } from './summary.js';

const COLORS = ['#7f7f7f', '#e6a532', '#d1495b', '#8e5ea2', '#1f77b4', '#2ca02c', '#17becf', '#bcbd22'];
const BAR = 16;
const GROUP_GAP = 30;
/** Wide enough for the longest figure label under its group. */
const MIN_GROUP_WIDTH = 104;
const MIN_WIDTH = 720;
const LEFT = 56;
/** Room for the title and for the value labels above the tallest bars. */
const TOP = 72;
const PLOT_HEIGHT = 240;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A bar chart of every figure's median ratio to the baseline, one group per figure and one bar
 * per target, as plain SVG (no dependencies, renders on GitHub). Bars taller than the axis are
 * cut and labelled with their value.
 */
export function renderChart(
  summaries: TargetSummary[],
  baseline: string,
  scenarios: string[],
  repetitions: number,
): string {
  const figures = FIGURES.filter(
    (f) => scenarios.includes(f.scenario) && summaries.some((s) => Number.isFinite(s.figures[f.key]?.ratio.median)),
  );
  const groupWidth = Math.max(MIN_GROUP_WIDTH, summaries.length * BAR + GROUP_GAP);
  const width = Math.max(MIN_WIDTH, LEFT + Math.max(1, figures.length) * groupWidth + 20);
  const legendTop = TOP + PLOT_HEIGHT + 50;
  const height = legendTop + Math.ceil(summaries.length / 3) * 18 + 10;
  const ratios = figures.flatMap((f) => summaries.map((s) => s.figures[f.key]?.ratio.median ?? NaN));
  // Half-steps up to the largest ratio, at least 1.5x, at most 4x (taller bars are cut).
  const top = Math.min(4, Math.max(1.5, Math.ceil(Math.max(...ratios.filter(Number.isFinite), 0) * 2) / 2));
  const y = (ratio: number) => TOP + PLOT_HEIGHT - (Math.min(ratio, top) / top) * PLOT_HEIGHT;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">Ratio to ${escape(baseline)}, same run (median of ${repetitions})</text>`,
    `<text x="${LEFT}" y="38" fill="#555">throughput: higher is better; every other figure: lower is better</text>`,
  ];
  for (let tick = 0; tick <= top + 1e-9; tick += 0.5) {
    const at = y(tick);
    const stroke = tick === 1 ? '#333' : '#ddd';
    parts.push(
      `<line x1="${LEFT}" x2="${width - 20}" y1="${at}" y2="${at}" stroke="${stroke}"${tick === 1 ? ' stroke-dasharray="4 3"' : ''}/>`,
      `<text x="${LEFT - 6}" y="${at + 4}" text-anchor="end" fill="#555">${tick.toFixed(1)}x</text>`,
    );
  }
  figures.forEach((figure, g) => {
    const x0 = LEFT + g * groupWidth + (groupWidth - summaries.length * BAR) / 2;
    summaries.forEach((summary, i) => {
      const found = summary.figures[figure.key];
      if (!found || !Number.isFinite(found.ratio.median)) return;
      const ratio = found.ratio.median;
      const x = x0 + i * BAR;
      const barTop = y(ratio);
      const cut = ratio > top;
      const label = `${ratio.toFixed(2)}${cut ? '↑' : ''}`;
      parts.push(
        `<rect x="${x + 1}" y="${barTop}" width="${BAR - 2}" height="${y(0) - barTop}" fill="${COLORS[i % COLORS.length]}">` +
          `<title>${escape(`${summary.target}, ${figure.label}: ${label}x (${figure.format(found.value.median)})`)}</title></rect>`,
        // A cut bar carries its value inside, at the top; the others above them.
        cut
          ? `<text transform="translate(${x + BAR / 2 + 3},${barTop + 4}) rotate(-90)" text-anchor="end" font-size="9" fill="#fff">${label}</text>`
          : `<text transform="translate(${x + BAR / 2 + 3},${barTop - 3}) rotate(-90)" font-size="9" fill="#333">${label}</text>`,
      );
    });
    parts.push(
      `<text x="${LEFT + g * groupWidth + groupWidth / 2}" y="${TOP + PLOT_HEIGHT + 16}" text-anchor="middle">${escape(figure.label)}</text>`,
    );
  });
  summaries.forEach((summary, i) => {
    const x = LEFT + (i % 3) * 230;
    const at = legendTop + Math.floor(i / 3) * 18;
    parts.push(
      `<rect x="${x}" y="${at - 10}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${x + 18}" y="${at}">${escape(summary.target)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
