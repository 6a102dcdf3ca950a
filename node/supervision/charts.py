"""Charts drawn as SVG on the server: no script, no CDN, readable in any browser and in print."""

import math
from html import escape

PALETTE = ("#2e7d32", "#1565c0", "#ef6c00", "#6a1b9a", "#c62828", "#00838f")


def nice_scale(peak: float, *, whole: bool = False, steps: int = 4) -> tuple[float, list[float], int]:
    """The axis top, its ticks and the decimals to print them with: a step of 1, 2 or 5 × 10^k, so that every
    tick reads differently (never "1, 1, 0, 0, 0"); `whole`: counts, whose step is at least 1."""
    if not peak > 1e-9:  # nothing (or less than a milligram): an axis from 0 to 1
        peak = 1.0
    raw = peak / steps
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if whole:
        step = max(1.0, math.ceil(step))
    top = step * max(1, math.ceil(peak / step - 1e-9))
    ticks = [step * i for i in range(round(top / step) + 1)]
    decimals = 0 if whole or step >= 1 else max(0, -math.floor(math.log10(step)))
    return top, ticks, decimals


def bar_chart(title: str, labels: list[str], series: dict[str, list[float]], *, width: int = 720,
              height: int = 260, unit: str = "", whole: bool = False) -> str:  # fmt: skip
    """Grouped vertical bars: one group per label, one bar per series, with a legend and a y scale. The SVG
    scales to its box (viewBox), so a phone shows it whole."""
    left, bottom, top = 60, 40, 30
    plot_w, plot_h = width - left - 10, height - top - bottom
    peak, ticks, decimals = nice_scale(max((v for values in series.values() for v in values), default=0), whole=whole)
    groups = max(len(labels), 1)
    slot = plot_w / groups
    bar = max(1.0, slot * 0.8 / max(len(series), 1))
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' height='{height}'"
        f" class='chart' role='img' aria-label='{escape(title)}'><title>{escape(title)}</title>",
        f"<text x='{left}' y='18' font-size='14' font-weight='bold'>{escape(title)}</text>",
        f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='#333'/>",
    ]
    for value in ticks:
        y = top + plot_h - plot_h * value / peak
        parts.append(
            f"<text x='{left - 6}' y='{y + 4:.1f}' font-size='10' text-anchor='end'>{value:,.{decimals}f}</text>"
        )
        parts.append(f"<line x1='{left}' y1='{y:.1f}' x2='{left + plot_w}' y2='{y:.1f}' stroke='#ddd'/>")
    for s_index, (name, values) in enumerate(series.items()):
        colour = PALETTE[s_index % len(PALETTE)]
        for g_index, value in enumerate(values):
            h = plot_h * value / peak
            x = left + g_index * slot + slot * 0.1 + s_index * bar
            parts.append(
                f"<rect class='bar' x='{x:.1f}' y='{top + plot_h - h:.1f}' width='{bar:.1f}' height='{h:.1f}'"
                f" fill='{colour}'><title>{escape(labels[g_index])} {escape(name)}: {value:,.2f}{unit}</title></rect>"
            )
        parts.append(
            f"<rect x='{left + plot_w - 150}' y='{top + 4 + 14 * s_index}' width='10' height='10' fill='{colour}'/>"
            f"<text x='{left + plot_w - 136}' y='{top + 13 + 14 * s_index}' font-size='11'>{escape(name)}</text>"
        )
    every = max(1, groups // 12)
    for g_index, label in enumerate(labels):
        if g_index % every == 0:
            x = left + g_index * slot + slot / 2
            parts.append(
                f"<text x='{x:.1f}' y='{top + plot_h + 16}' font-size='10' text-anchor='middle'>{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
