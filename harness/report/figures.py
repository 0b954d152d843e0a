"""Figures: every PNG and inline SVG medlethe draws goes through here (matplotlib, Agg)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def inline_figure(fig: Any, png: Path) -> str:
    """Save ``fig`` as ``png`` (its folder made) and return it as inline SVG."""
    plt = pyplot()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    buf = io.StringIO()
    # text stays text (readable, searchable); a fixed salt for the SVG's ids and no date:
    # the same figure gives the same bytes on every build
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "medlethe"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def heatmap_figure(rows: list[str], cols: list[str], values: list[list[float | None]], *,
                   title: str, colorbar: str, bold_diagonal: bool = False) -> Any:
    """A red heatmap of ``values`` (``None``: blank) with each cell's number;
    ``bold_diagonal``: the diagonal's numbers in bold (a square matrix whose diagonal is
    special)."""
    import numpy as np

    plt = pyplot()
    data = np.array([[np.nan if v is None else v for v in r] for r in values], dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(cols), 1.2 + 0.45 * len(rows)))
    finite = data[np.isfinite(data)]
    im = ax.imshow(data, cmap="Reds", aspect="auto",
                   vmin=min(0.0, float(finite.min(initial=0))),
                   vmax=max(0.05, float(finite.max(initial=0))))
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(data[i, j]):
                ax.text(j, i, f"{data[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        fontweight="bold" if bold_diagonal and i == j else "normal")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=colorbar)
    fig.tight_layout()
    return fig


def heatmap(rows: list[str], cols: list[str], values: list[list[float | None]], *,
            title: str, colorbar: str, path: Path) -> Path:
    """:func:`heatmap_figure` saved as a PNG at ``path``."""
    fig = heatmap_figure(rows, cols, values, title=title, colorbar=colorbar)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    pyplot().close(fig)
    return path


@dataclass(frozen=True)
class Point:
    """One run on a trade-off plot: its label, forget score ``x`` and utility ``y`` with
    their intervals (``None``: no interval), the page it links to, and its role (``target``
    and ``oracle`` are drawn as references, anything else as a method)."""

    label: str
    x: float
    y: float
    x_ci: tuple[float, float] | None = None
    y_ci: tuple[float, float] | None = None
    url: str = ""
    role: str = "unlearned"


def front(points: Sequence[Point], oracle_x: float | None) -> list[Point]:
    """The runs no other unlearned run beats on both counts: a forget score at least as
    near the oracle's (over- and under-forgetting both count) and a utility at least as
    high, one of them strictly. Without an oracle, lower forget scores count as nearer.
    The target and the oracle are references, never on the front; sorted by distance."""

    def dist(p: Point) -> float:
        return abs(p.x - oracle_x) if oracle_x is not None else p.x

    runs = [p for p in points if p.role not in ("target", "oracle")]
    out = [p for p in runs if not any(
        dist(q) <= dist(p) and q.y >= p.y and (dist(q) < dist(p) or q.y > p.y) for q in runs)]
    return sorted(out, key=dist)


def tradeoff_figure(points: Sequence[Point], *, x_label: str, y_label: str,
                    id_prefix: str = "tradeoff") -> Any:
    """Forgetting (x) against utility (y): each run with its interval bars on both axes and
    its label placed clear of the others (adjustText); the first oracle's and target's
    scores as reference lines; the front toward the oracle (:func:`front`) as a line. SVG
    ids: ``{id_prefix}-point-N`` per run and ``{id_prefix}-label-N`` per label, in the
    order of ``points``; a run's marker links to its ``url``."""
    from adjustText import adjust_text

    plt = pyplot()
    ref = {p.role: p for p in reversed(points) if p.role in ("target", "oracle")}
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    styles = {"oracle": ("tab:green", "--"), "target": ("tab:gray", ":")}
    for role, (color, dash) in styles.items():
        if role in ref:
            ax.axvline(ref[role].x, color=color, ls=dash, lw=1, label=f"{role} forget score")
            ax.axhline(ref[role].y, color=color, ls=dash, lw=1, alpha=0.6,
                       label=f"{role} utility")
    best = front(points, ref["oracle"].x if "oracle" in ref else None)
    if len(best) > 1:
        ax.plot([p.x for p in best], [p.y for p in best], color="#c0392b", lw=1, alpha=0.7,
                label="front toward the oracle")
    on_front = {id(p) for p in best}
    texts = []
    for i, p in enumerate(points):
        color = styles[p.role][0] if p.role in styles else (
            "#c0392b" if id(p) in on_front else "#34495e")
        xerr = [[p.x - p.x_ci[0]], [p.x_ci[1] - p.x]] if p.x_ci else None
        yerr = [[p.y - p.y_ci[0]], [p.y_ci[1] - p.y]] if p.y_ci else None
        bars = ax.errorbar([p.x], [p.y], xerr=xerr, yerr=yerr, fmt="s" if p.role in styles
                           else "o", color=color, ms=5, capsize=2, lw=0.8)
        bars[0].set_gid(f"{id_prefix}-point-{i}")
        if p.url:
            bars[0].set_url(p.url)
        text = ax.text(p.x, p.y, p.label, fontsize=8, color=color, parse_math=False)
        text.set_gid(f"{id_prefix}-label-{i}")
        texts.append(text)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0.0), frameon=False)
    fig.tight_layout()
    if texts:
        adjust_text(texts, ax=ax, expand=(1.3, 1.6),
                    arrowprops={"arrowstyle": "-", "color": "#999", "lw": 0.5})
    return fig


def fronts_figure(fronts: Sequence[dict[str, Any]]) -> Any:
    """Each method's settings on one scenario (``medlethe.sweep.front``): forgetting (x)
    against utility (y), both scaled so that the oracle sits at (1, 1); every setting with
    its interval bars, each method's front as a line with a band between its settings'
    interval ends, and the oracle as a point."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, f in enumerate(fronts):
        color = colors[i % len(colors)]
        rows = {r["label"]: r for r in f["settings"]}
        for r in rows.values():
            x, y = r["forgetting"], r["utility"]
            xerr = [[x["value"] - x["low"]], [x["high"] - x["value"]]] if x["low"] is not None \
                else None
            yerr = [[y["value"] - y["low"]], [y["high"] - y["value"]]] if y["low"] is not None \
                else None
            ax.errorbar([x["value"]], [y["value"]], xerr=xerr, yerr=yerr, fmt="o",
                        color=color, ms=4, capsize=2, lw=0.6,
                        alpha=1.0 if r["on_front"] else 0.35)
        on = sorted((rows[k] for k in f["front"]), key=lambda r: r["forgetting"]["value"])
        xs = [r["forgetting"]["value"] for r in on]
        ax.plot(xs, [r["utility"]["value"] for r in on], color=color, lw=1.4,
                label=f"{f['method']} (HV {f['hypervolume']['value']:.2f})")
        if all(r["utility"]["low"] is not None for r in on) and len(on) > 1:
            ax.fill_between(xs, [r["utility"]["low"] for r in on],
                            [r["utility"]["high"] for r in on], color=color, alpha=0.12)
    ax.plot([1], [1], marker="*", ms=12, color="tab:green", ls="none", label="oracle")
    ax.set_xlabel("forgetting (1: the oracle's forget score; report rows)")
    ax.set_ylabel("utility / oracle's (retain, holdout)")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(1.01, 0.0), frameon=False)
    fig.tight_layout()
    return fig
