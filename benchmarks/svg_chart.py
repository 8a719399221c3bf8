"""A static grouped-bar chart as plain SVG (no kaleido or matplotlib here), for the README.

Bars per (group, series) with interval whiskers and dashed horizontal reference lines.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#9d755d")


def write_grouped_bars_svg(
    path: Path,
    *,
    groups: list[str],
    series: list[str],
    values: dict[tuple[str, str], tuple[float, float, float]],
    references: dict[str, float],
    title: str,
    ylabel: str,
) -> None:
    """Write the chart.

    Args:
        values: (group, series) -> (value, low, high), all in [0, 1].
        references: label -> y of a dashed line.
    """
    width, height, left, top, bottom = 960, 420, 60, 50, 70
    plot_w, plot_h = width - left - 170, height - top - bottom
    y = lambda v: top + plot_h * (1 - max(0.0, min(1.0, v)))  # noqa: E731
    slot = plot_w / len(groups)
    bar = slot * 0.8 / len(series)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>',
        f'<text transform="translate(16,{top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(ylabel)}</text>",
    ]
    for tick in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick)}" y2="{y(tick)}" stroke="#eee"/>'
        )
        out.append(f'<text x="{left - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:.1f}</text>')
    for g, group in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        out.append(
            f'<text x="{left + (g + 0.5) * slot}" y="{top + plot_h + 18}" text-anchor="middle">'
            f"{escape(group)}</text>"
        )
        for s, name in enumerate(series):
            if (group, name) not in values:
                continue
            value, low, high = values[(group, name)]
            x = x0 + s * bar
            out.append(
                f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar * 0.92:.1f}" '
                f'height="{y(0) - y(value):.1f}" fill="{PALETTE[s % len(PALETTE)]}"/>'
            )
            mid = x + bar * 0.46
            out.append(
                f'<line x1="{mid:.1f}" x2="{mid:.1f}" y1="{y(low):.1f}" y2="{y(high):.1f}" '
                'stroke="black"/>'
            )
    for label, ref in references.items():
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(ref):.1f}" y2="{y(ref):.1f}" '
            'stroke="#555" stroke-dasharray="6,4"/>'
        )
        out.append(
            f'<text x="{left + plot_w - 4}" y="{y(ref) - 4:.1f}" text-anchor="end" fill="#555">'
            f"{escape(label)} {ref:.3f}</text>"
        )
    for s, name in enumerate(series):
        ly = top + 10 + s * 20
        out.append(
            f'<rect x="{left + plot_w + 20}" y="{ly - 10}" width="12" height="12" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/>'
        )
        out.append(f'<text x="{left + plot_w + 38}" y="{ly}">{escape(name)}</text>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out))
