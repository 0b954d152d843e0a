"""Fronts over a method's settings: Pareto set, hypervolume, selection on validation rows
only, the over-forgetting flag, and the sweep plan a front runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medlethe.results.evaluation import CLUSTER_LABEL
from medlethe.sweep.front import halves, hypervolume, method_fronts, pareto
from tests.metrics.test_run_metrics import make_run

N = 24  # patients per split, one row each


def test_hypervolume_and_pareto_by_hand() -> None:
    points = [(0.2, 0.9), (0.5, 0.6), (0.9, 0.2), (0.4, 0.5)]  # the last is dominated
    assert pareto(points) == [0, 1, 2]
    # from the right: (0.9-0.5)*0.2 + (0.5-0.2)*0.6 + 0.2*0.9
    assert hypervolume(points[:3]) == pytest.approx(0.08 + 0.18 + 0.18)
    assert hypervolume(points) == pytest.approx(0.44)  # a dominated point adds nothing
    assert hypervolume([(1.3, 1.1)]) == 1.0  # clipped into the unit square


def _runs(scores: dict[str, dict[str, float]], bump: dict[str, tuple[str, float]] | None = None
          ) -> dict[int, dict]:  # type: ignore[type-arg]
    """Two seeds of runs whose rows score ``scores[label][split]`` (a little noise per
    seed and row); ``bump``: label -> (half, delta) added to that half's forget rows."""
    out = {}
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        by = {}
        for label, per in scores.items():
            values, labels = {}, {}
            for split, mean in per.items():
                col = mean + rng.normal(0, 0.01, N)
                units = [f"{split}-p{i}" for i in range(N)]
                if bump and label in bump and split == "forget":
                    col = col + bump[label][1] * halves(units, "t")[bump[label][0]]
                values[split] = {"rouge_l_recall": list(col)}
                labels[split] = {CLUSTER_LABEL: units}
            by[label] = make_run(values, labels, run_id=f"{label}-{seed}")
        out[seed] = by
    return out


SCORES = {
    "target": {"forget": 0.9, "retain": 0.9, "holdout": 0.5},
    "oracle": {"forget": 0.3, "retain": 0.88, "holdout": 0.5},
    "M[a=1]": {"forget": 0.55, "retain": 0.88, "holdout": 0.5},  # past half way, utility kept
    "M[a=2]": {"forget": 0.35, "retain": 0.7, "holdout": 0.4},  # near the oracle, costly
    "M[a=3]": {"forget": 0.7, "retain": 0.8, "holdout": 0.45},  # dominated by a=1
    "M[a=4]": {"forget": 0.0, "retain": 0.7, "holdout": 0.5},  # past the oracle: dominated
}


def test_front_is_chosen_on_validation_rows_and_reported_on_the_others() -> None:
    (found,) = method_fronts(_runs(SCORES), "t", n_resamples=200)
    assert found["front"] == ["M[a=1]", "M[a=2]"] and found["seeds"] == [0, 1]
    rows = {r["label"]: r for r in found["settings"]}
    assert rows["M[a=1]"]["progress"]["value"] == pytest.approx(0.35 / 0.6, abs=0.02)
    assert rows["M[a=4]"]["over_forgets"] and not rows["M[a=2]"]["over_forgets"]
    hv = found["hypervolume"]
    assert hv["low"] <= hv["value"] <= hv["high"]
    # a setting made better on the report half only stays off the front; its reported
    # numbers move, its validation numbers do not
    better = method_fronts(_runs(SCORES, {"M[a=3]": ("report", -0.2)}), "t", n_resamples=200)
    assert better[0]["front"] == found["front"]
    moved = {r["label"]: r for r in better[0]["settings"]}["M[a=3]"]
    assert moved["validation"] == rows["M[a=3]"]["validation"]
    assert moved["forgetting"]["value"] > rows["M[a=3]"]["forgetting"]["value"] + 0.2
    # made better on the validation half, it is chosen
    chosen = method_fronts(_runs(SCORES, {"M[a=3]": ("validation", -0.2)}), "t",
                           n_resamples=200)[0]
    assert "M[a=3]" in chosen["front"]


def test_a_front_reads_its_roles_on_other_splits() -> None:
    """A multiple-choice pack's front reads its training rows (forget_train, retain_train):
    the same front as on forget and retain, whatever the held-out splits say."""
    moved = {label: {"forget_train": per["forget"], "retain_train": per["retain"],
                     "forget": 0.25, "retain": 0.25} for label, per in SCORES.items()}
    roles = {"forget": "forget_train", "retain": "retain_train"}
    (found,) = method_fronts(_runs(moved), "t", n_resamples=200, splits=roles)
    (plain,) = method_fronts(_runs({k: {s: v[s] for s in ("forget", "retain")}
                                    for k, v in SCORES.items()}), "t", n_resamples=200)
    assert found["front"] == plain["front"] == ["M[a=1]", "M[a=2]"]
    assert found["splits"] == roles
    from pydantic import ValidationError

    from medlethe.sweep import Plan

    with pytest.raises(ValidationError, match="roles forget, retain and holdout"):
        Plan(scenarios=["t"], front_splits={"forgotten": "forget_train"})


def test_forget_progress_flags_a_model_below_the_oracle() -> None:
    from medlethe.registry import get_registry
    from medlethe.report import over_forgets

    runs = _runs({k: SCORES[k] for k in ("target", "oracle", "M[a=1]", "M[a=4]")})[0]
    metric = get_registry().get("metric", "forget_progress").build()
    refs = {"target": runs["target"], "oracle": runs["oracle"]}
    for label, expect, flagged in (("M[a=1]", 0.35 / 0.6, False), ("M[a=4]", 1.5, True)):
        (m,) = [r for r in metric.compute(runs[label], refs, 0) if r.split == "forget"]
        assert m.value == pytest.approx(expect, abs=0.03) and m.against == "target"
        res = runs[label].results.model_copy(update={"metrics": [m]})
        assert over_forgets(res) is flagged


def test_a_front_plan_sweeps_the_method_space_default_first() -> None:
    from medlethe.methods.duolearn import DuoLearn
    from medlethe.sweep import Plan

    plan = Plan(scenarios=["synthclinic/patient-10"], front=["DuoLearn"])
    assert plan.methods == ["DuoLearn"]
    space = DuoLearn.search_space()
    variants = plan.variants(["DuoLearn"], {"DuoLearn": space},
                             {"DuoLearn": DuoLearn().params.model_dump()})
    assert len(variants) == len(space["fisher_budget"]) * len(space["learning_rate"])
    assert variants[0][2] == {"fisher_budget": 1e-3, "learning_rate": 2e-2}  # the default
    with pytest.raises(ValueError, match="front names GradDiff"):
        Plan(scenarios=["synthclinic/patient-10"], methods=["NPO"], front=["GradDiff"])


@pytest.mark.slow
def test_a_front_sweep_within_its_budget_then_resumed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A front sweep whose budget is spent before any method job starts leaves them for
    the next run; run again, it traces the front, in the aggregate and on the page."""
    import json

    from medlethe.sweep import Plan, Sweep

    fields = {
        "model": "tiny", "scenarios": ["synthclinic/patient-25"], "front": ["GradAscent"],
        "grid": {"GradAscent": {"epochs": [1, 3]}}, "seeds": [0],
        "task_args": {"n_patients": 22, "n_holdout": 11},
        "train_args": {"qa_epochs": 3, "text_epochs": 1}, "splits": ["forget", "retain", "holdout"],
    }
    cut = Sweep(Plan(**fields, budget_minutes=1e-6), tmp_path / "s", echo=False).run()
    assert len(cut.failures) == 2 and all("time budget" in f["error"] for f in cut.failures)
    out = Sweep(Plan(**fields), tmp_path / "s", echo=False).run()
    assert not out.failures
    doc = json.loads((tmp_path / "s" / "aggregate.json").read_text())
    (front,) = doc["fronts"]
    assert front["method"] == "GradAscent" and front["seeds"] == [0] and front["runs"] == 2
    assert {r["label"] for r in front["settings"]} == {"GradAscent[epochs=1]",
                                                      "GradAscent[epochs=3]"}
    assert front["front"] and front["selected_on"] == "validation"
    html = (tmp_path / "s" / "index.html").read_text()
    assert "Fronts: synthclinic/patient-25" in html and "hypervolume" in html
    hv = html.split("Hypervolume: ", 1)[1].split("</table>", 1)[0]  # click-sortable
    assert '<table class="sortable">' in hv and hv.count('sortable"') == 6
    # the leaderboard: the front is on the page of the scenario whose runs made it
    from medlethe.leaderboard import build_site

    site = build_site([tmp_path / "s"], tmp_path / "site")
    assert not site.rejected
    (scen,) = (tmp_path / "site").glob("scenario-synthclinic-patient-25-*.html")
    page = scen.read_text()
    assert 'id="fronts"' in page and "Hypervolume: synthclinic/patient-25" in page
    assert page.count("GradAscent[epochs=") >= 2 and 'href="sweep-s-' in page
    figures = tmp_path / "site" / "figures" / scen.stem
    assert (figures / "front-synthclinic_patient-25.png").is_file()
    assert "1 front</a>" in (tmp_path / "site" / "index.html").read_text()
    # the summary alone (what one submits) joins the runs' page by the data it records...
    alone = tmp_path / "summary-only"
    alone.mkdir()
    (alone / "sweep_summary.json").write_text((tmp_path / "s" / "sweep_summary.json").read_text())
    build_site([tmp_path / "s", alone], tmp_path / "both")
    (scen,) = (tmp_path / "both").glob("scenario-synthclinic-patient-25-*.html")
    assert "GradAscent (s)" in scen.read_text() and "GradAscent (summary-only)" in scen.read_text()
    # ... and has a page of its own where no runs on its data are submitted
    build_site([alone], tmp_path / "alone")
    (scen,) = (tmp_path / "alone").glob("scenario-synthclinic-patient-25-*.html")
    assert 'id="fronts"' in scen.read_text() and "No runs on these data" in scen.read_text()


def test_a_sweeps_fronts_go_to_the_page_of_runs_on_its_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A scenario with two groups (other data): a sweep's front goes to the group of runs on
    its data, known from its summary or else from its own runs; with neither it has a page
    of its own (new data) or none (an older summary without its runs). A method traced by
    two sweeps of one page is labelled with each sweep."""
    from types import SimpleNamespace as NS

    from medlethe.leaderboard.build import group_fronts
    from medlethe.results.comparability import comparability

    scenario = "synthclinic/patient-10"

    def res(data: str) -> object:
        task = NS(name=scenario, version=2, data_fingerprints={"forget": data}, args={},
                  limit=None)
        return NS(tasks={scenario: task}, model=NS(provenance={"scenario": scenario},
                                                   name_or_path="tiny"))

    def sweep(folder: str, runs: list[tuple[Path, object]], data: object = None) -> object:
        summary: dict[str, object] = {"fronts": [{"scenario": scenario, "method": "NPO"}]}
        if data is not None:
            summary["comparability"] = {scenario: comparability(data)}  # type: ignore[arg-type]
        return NS(source=tmp_path / folder, runs=runs,
                  sweeps=[(tmp_path / folder / "sweep_summary.json", summary)])

    a, b = res("aaaa"), res("bbbb")
    groups = {(scenario, "ga"): [NS(path=tmp_path / "x" / "r1.json", results=a)],
              (scenario, "gb"): [NS(path=tmp_path / "x" / "r2.json", results=b)]}
    out = group_fronts([
        sweep("s1", [], data=a),  # a summary alone, recording its data
        sweep("s2", [(tmp_path / "s2" / "results" / "r.json", a)]),  # an older one with runs
        sweep("s3", [(tmp_path / "s3" / "results" / "r.json", b)], data=b),
        sweep("s4", [], data=res("cccc")),  # data no submitted run has
        sweep("s5", []),  # an older summary alone
    ], groups)  # type: ignore[arg-type]
    assert [f["method"] for f in out[(scenario, "ga")]] == ["NPO (s1)", "NPO (s2)"]
    (fb,) = out[(scenario, "gb")]
    assert fb["method"] == "NPO" and fb["sweep"] == "s3" and fb["sweep_page"].startswith(
        "sweep-s3-") and fb["versions"] == [f"{scenario} v2"]
    (alone,) = set(out) - {(scenario, "ga"), (scenario, "gb")}
    assert [f["sweep"] for f in out[alone]] == ["s4"]



def test_a_front_figure_gives_the_same_bytes_twice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The inline SVG of a figure (the leaderboard's pages hold them) has no date and no
    random ids: two builds of the same front give the same bytes."""
    from medlethe.sweep import front_sections

    fronts = method_fronts(_runs(SCORES), "t", n_resamples=200)
    first, again = (front_sections(fronts, tmp_path / d, tmp_path)[0]["svg"] for d in "ab")
    assert "<svg" in first and "dc:date" not in first and first == again
