"""Human-readable summaries of runs: console tables, the compact headline table, the
collateral matrix and a static HTML page. Public (the leaderboard and scripts use it);
names load on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING

from medlethe._optional import lazy_attributes

if TYPE_CHECKING:
    from medlethe.kind import Row
    from medlethe.report.figures import (
        Point,
        front,
        heatmap_figure,
        inline_figure,
        pyplot,
        tradeoff_figure,
    )
    from medlethe.report.pages import page_environment
    from medlethe.report.text import (
        all_columns,
        attacked,
        cell,
        collateral_matrix,
        find,
        headline,
        hidden,
        load_run_dir,
        markdown,
        marked,
        over_forgets,
        print_report,
        sections,
        show_report,
        tables,
        task_for,
    )

_TEXT = ("all_columns", "attacked", "cell", "collateral_matrix", "find", "headline",
         "hidden", "load_run_dir", "markdown", "marked", "over_forgets", "print_report",
         "sections",
         "show_report", "tables", "task_for")
_LAZY = {"Row": "medlethe.kind", "page_environment": "medlethe.report.pages",
         "inline_figure": "medlethe.report.figures", "pyplot": "medlethe.report.figures",
         **{name: "medlethe.report.figures" for name in ("Point", "front", "heatmap_figure",
                                                         "tradeoff_figure")},
         **{name: "medlethe.report.text" for name in _TEXT}}

__getattr__ = lazy_attributes("medlethe.report", _LAZY, globals())

__all__ = [
    "Point",
    "Row",
    "all_columns",
    "attacked",
    "cell",
    "collateral_matrix",
    "find",
    "front",
    "headline",
    "heatmap_figure",
    "hidden",
    "inline_figure",
    "load_run_dir",
    "markdown",
    "marked",
    "over_forgets",
    "page_environment",
    "print_report",
    "pyplot",
    "sections",
    "show_report",
    "tables",
    "task_for",
    "tradeoff_figure",
]
