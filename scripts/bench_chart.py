#!/usr/bin/env python3
"""Draws criterion's results for `benches/pool.rs` as an SVG bar chart.

Usage:
    cargo bench -p iobuf-benches --features commonware --bench pool -- --warm-up-time 1 --measurement-time 3
    python3 scripts/bench_chart.py target/criterion docs/benchmarks.svg

One block per workload (criterion group), one bar per implementation,
scaled within the block (the slowest fills the width) and labelled with its
median time. Shorter is faster. Standard library only.
"""

import json
import pathlib
import sys
from xml.sax.saxutils import escape

WIDTH = 980
LABEL_W = 330
BAR_H = 18
GAP = 5
BLOCK_GAP = 26
HEADER_H = 22
BAR_MAX = WIDTH - LABEL_W - 110
COLOURS = {
    "iobuf::BoundedPool": "#d9480f",
    "iobuf::BoundedPool (ring only)": "#f08c00",
}
PEER_COLOUR = "#5c7cfa"


def load(root: pathlib.Path):
    groups = {}
    for bench in root.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        group = meta["group_id"]
        name = meta["function_id"] or meta.get("value_str") or "?"
        groups.setdefault(group, []).append((name, est["median"]["point_estimate"]))
    return groups


def fmt(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def order(group: str):
    """Groups in the order the bench runs them; thread counts ascending."""
    kinds = ["get_put/threads=1", "get_put/threads=", "get_write2k", "get64", "exhaustion", "wakeup"]
    for i, k in enumerate(kinds):
        if k in group:
            digits = "".join(c for c in group.split("threads=")[-1] if c.isdigit())
            return (i, int(digits) if digits else 0, group)
    return (len(kinds), 0, group)


def draw(groups) -> str:
    parts = []
    y = 40
    for group in sorted(groups, key=order):
        rows = sorted(groups[group], key=lambda r: r[1])
        slowest = max(t for _, t in rows)
        parts.append(
            f'<text x="10" y="{y}" font-weight="bold">{escape(group)}</text>'
        )
        y += HEADER_H - 10
        for name, t in rows:
            w = max(2.0, BAR_MAX * t / slowest)
            colour = COLOURS.get(name, PEER_COLOUR)
            weight = ' font-weight="bold"' if name in COLOURS else ""
            parts.append(
                f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 5}" text-anchor="end"{weight}>'
                f"{escape(name)}</text>"
                f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR_H}" fill="{colour}"/>'
                f'<text x="{LABEL_W + w + 6:.1f}" y="{y + BAR_H - 5}">{fmt(t)}</text>'
            )
            y += BAR_H + GAP
        y += BLOCK_GAP
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" '
        f'viewBox="0 0 {WIDTH} {y}" font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="10" y="20" font-size="14" font-weight="bold">'
        f"iobuf vs peers: median time per operation (shorter is faster)</text>"
    )
    return head + "".join(parts) + "</svg>\n"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    groups = load(pathlib.Path(sys.argv[1]))
    if not groups:
        print(f"no criterion results under {sys.argv[1]}", file=sys.stderr)
        return 1
    pathlib.Path(sys.argv[2]).write_text(draw(groups))
    print(f"wrote {sys.argv[2]}: {len(groups)} workloads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
