"""A picture of a ``fanout.py`` run: deliveries per second per workload and server, as SVG.

Reads the run's text output (the ``workload=... server=... deliveries_per_s=...`` lines, as
printed and as docs/benchmarks.md quotes them) and draws grouped bars on a logarithmic scale,
one group per workload, each bar labelled with its rate and the server's CPU µs per delivery.
Standard library only: the figure is drawn from the printed figures, never by hand.

Usage: python benchmarks/plot_fanout.py RUN.txt OUT.svg
"""

from __future__ import annotations

import math
import re
import sys
from html import escape
from pathlib import Path

LINE = re.compile(
    r"^workload=(?P<workload>\S+) server=(?P<server>\S+) deliveries_per_s=(?P<rate>\d+)"
    r" cpu_us_per_delivery=(?P<cpu>[\d.]+|n/a)"
)
COLOURS = {
    "sansio_rooms_asyncio": "#2b7bba",
    "sansio_rooms_trio": "#7fb3d5",
    "python_socketio": "#e67e22",
    "node_socketio": "#6aa84f",
}
BAR, GAP, LEFT, WIDTH, LABEL = 16, 14, 110, 900, 230


def read(text: str) -> dict[str, dict[str, tuple[int, str]]]:
    """``{workload: {server: (deliveries_per_s, cpu_us_per_delivery)}}``, in printed order."""
    rows: dict[str, dict[str, tuple[int, str]]] = {}
    for line in text.splitlines():
        match = LINE.match(line.strip())
        if match:
            rows.setdefault(match["workload"], {})[match["server"]] = (
                int(match["rate"]),
                match["cpu"],
            )
    return rows


def draw(rows: dict[str, dict[str, tuple[int, str]]]) -> str:
    """The SVG document."""
    if not rows:
        raise ValueError("no 'workload=... server=... deliveries_per_s=...' lines in the input")
    top = max(rate for servers in rows.values() for rate, _ in servers.values())
    decades = math.ceil(math.log10(top))
    low = 3  # 1,000 deliveries/s at the left edge
    span = WIDTH - LEFT - LABEL

    def x(rate: int) -> float:
        return LEFT + span * (math.log10(max(rate, 10**low)) - low) / (decades - low)

    parts: list[str] = []
    y = 40
    for workload, servers in rows.items():
        parts.append(f'<text x="8" y="{y + BAR}" font-weight="bold">{escape(workload)}</text>')
        for server, (rate, cpu) in servers.items():
            end = x(rate)
            colour = COLOURS.get(server, "#999")
            parts.append(
                f'<rect x="{LEFT}" y="{y}" width="{end - LEFT:.1f}" height="{BAR - 2}" '
                f'fill="{colour}"><title>{escape(server)}</title></rect>'
            )
            label = f"{rate:,}/s, {cpu} µs"
            parts.append(f'<text x="{end + 4:.1f}" y="{y + BAR - 5}">{escape(label)}</text>')
            y += BAR
        y += GAP
    height = y + 40
    axis = [f'<line x1="{LEFT}" y1="30" x2="{LEFT}" y2="{y}" stroke="#333"/>']
    for power in range(low, decades + 1):
        position = x(10**power)
        axis.append(
            f'<line x1="{position:.1f}" y1="30" x2="{position:.1f}" y2="{y}" stroke="#ddd"/>'
            f'<text x="{position:.1f}" y="{y + 14}" text-anchor="middle">{10**power:,}</text>'
        )
    legend = []
    for index, (server, colour) in enumerate(COLOURS.items()):
        lx = LEFT + index * 190
        legend.append(
            f'<rect x="{lx}" y="8" width="12" height="12" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="18">{escape(server)}</text>'
        )
    title = "deliveries per second (log scale), with the server's CPU µs per delivery"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        'font-family="sans-serif" font-size="11">'
        '<rect width="100%" height="100%" fill="white"/>'
        + "".join(axis + legend + parts)
        + f'<text x="{LEFT}" y="{height - 8}">{escape(title)}</text></svg>\n'
    )


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    source, target = (Path(arg) for arg in sys.argv[1:])
    target.write_text(draw(read(source.read_text(encoding="utf-8"))), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
