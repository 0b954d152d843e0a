"""Figures: every PNG and inline SVG medlethe draws goes through here (matplotlib, Agg)."""

from __future__ import annotations

import io
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
    fig.savefig(buf, format="svg")
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
