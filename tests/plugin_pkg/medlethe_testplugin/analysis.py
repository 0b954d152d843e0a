"""A sweep analysis from a third party: how many seeds stand behind each model's answer
score, per scenario (shown on the sweep's page as a table)."""

from __future__ import annotations

from medlethe import Analysis
from medlethe.sweep import model_labels, row_index


class SeedsPerModel(Analysis):
    """How many seeds stand behind each model's forget answer score."""

    title = "Seeds behind each answer score"

    def compute(self, rows):
        idx = row_index(rows)
        out = []
        for scenario in sorted({r["scenario"] for r in rows}):
            for label in model_labels([r for r in rows if r["scenario"] == scenario]):
                row = idx.get((scenario, label, scenario, "forget", None, "rouge_l_recall"))
                if row is not None:
                    out.append([scenario, label, row["n_seeds"]])
        return out or None

    def sections(self, value, folder, base):
        return [{"title": self.title, "header": ["scenario", "model", "seeds"],
                 "rows": [[s, m, str(n)] for s, m, n in value]}]
