"""The static leaderboard: built from the demo's results (leaderboard/submissions), opened in
headless Chromium, and bad submissions rejected one by one without affecting the rest."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from medlethe.leaderboard import SubmissionError, build_site, validate_submission
from tests.conftest import ROOT, run_cli

DEMO = ROOT / "leaderboard" / "submissions" / "demo-tiny-synthclinic-patient-10"
SCREENSHOTS = ROOT / "build" / "screenshots"


def demo_files() -> list[Path]:
    return sorted(DEMO.glob("results_*.json"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    report = build_site([ROOT / "leaderboard" / "submissions"], out)
    assert report.rejected == [], report.rejected
    return out


class Rows(HTMLParser):
    """Run ids of the #runs table rows, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-run"):
            self.runs.append(str(a["data-run"]))


def scenario_page(site: Path) -> Path:
    (page,) = site.glob("scenario-synthclinic-patient-10-*.html")
    return page


@pytest.mark.slow
def test_site_has_tables_scatter_heatmap_and_run_pages(site: Path) -> None:
    index = (site / "index.html").read_text()
    page = scenario_page(site)
    assert page.name in index
    page_html = page.read_text()
    # one point per run, each linked to its page, drawn by matplotlib with its label
    assert page_html.count('id="tradeoff-point-') == len(demo_files())
    assert page_html.count('id="tradeoff-label-') == len(demo_files())
    assert page_html.count('xlink:href="runs/') == len(demo_files())
    index = (site / "index.html").read_text()
    assert 'id="submissions"' in index and "medlethe developers" in index
    assert "2026-11-30" in index
    assert (
        'id="heatmap"' in page_html
        and "<script src" not in page_html
        and "http"
        not in page_html.split("<svg", 1)[0].replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    for f in demo_files():
        run_id = json.loads(f.read_text())["run_id"]
        run_page = (site / "runs" / f"{run_id}.html").read_text()
        assert "medlethe run --model tiny --scenario synthclinic/patient-10" in run_page
        assert "finetune_fingerprint" in run_page  # full provenance


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
            shell=True,
            capture_output=True,
            timeout=900,
            check=False,
        )
        found = shutil.which("chromium")
    if found is None:
        pytest.skip(
            "Debian's chromium is not installed and could not be installed here "
            "(apt-get install chromium as root)"
        )
    return found


def browse(chromium: str, url: str, *extra: str) -> str:
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=3000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_site_in_headless_chromium(site: Path, chromium: str) -> None:
    page = scenario_page(site)
    url = page.resolve().as_uri()
    dom = browse(chromium, url, "--dump-dom")
    static = Rows()
    static.feed(page.read_text())
    loaded = Rows()
    loaded.feed(dom)
    assert loaded.runs == static.runs and len(loaded.runs) == len(demo_files())
    assert dom.count('id="tradeoff-point-') == len(demo_files())
    # the hash form of sorting (a shared link) still works
    assert re.search(r'data-dir="desc"', browse(chromium, f"{url}#sort=afe-desc", "--dump-dom"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "leaderboard.png"
    browse(chromium, url, f"--screenshot={shot}", "--window-size=1400,1800")
    assert shot.stat().st_size > 10_000


def forget_scores() -> dict[str, float]:
    """Run id -> forget ROUGE-L of every demo run, read from its results file."""
    values = {}
    for f in demo_files():
        res = json.loads(f.read_text())
        m = next(
            m for m in res["metrics"]
            if m["metric"] == "rouge_l_recall" and m["split"] == "forget"
            and m["task"] == "synthclinic/patient-10" and m["subset"] is None
            and m["against"] is None
        )
        values[res["run_id"]] = m["value"]
    return values


def test_click_sorts_and_opens_a_run(site: Path, chromium: str) -> None:
    """A real click in a real browser (Playwright driving this Chromium): clicking the forget
    ROUGE-L header sorts the rows ascending, clicking again descending, and clicking a run's
    link opens that run's page."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright is not installed (pip install playwright; it drives the system "
               "Chromium, no browser download)")
    page_file = scenario_page(site)
    url = page_file.resolve().as_uri()
    static = Rows()
    static.feed(page_file.read_text())
    shown, values = static.runs, forget_scores()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url)
            header = page.locator('#runs th[data-key="forget_rouge_l"]')
            for direction, reverse in (("asc", False), ("desc", True)):
                header.click()
                assert header.get_attribute("data-dir") == direction
                order = page.eval_on_selector_all(
                    "#runs tbody tr", "rows => rows.map(r => r.dataset.run)")
                got = [values[r] for r in order]
                assert got == sorted(got, reverse=reverse) and order != shown, got
            first = order[0]
            page.locator(f'#runs tr[data-run="{first}"] td a').click()
            page.wait_for_load_state()
            assert page.url.endswith(f"runs/{first}.html")
            assert first in page.content()
        finally:
            browser.close()


def test_front_aims_at_the_oracle_not_at_zero() -> None:
    """A collapsed model (forget 0, retain 0.1) is beaten by a run near the oracle's forget
    score with more utility; the untouched target is a reference, never on the front."""
    from medlethe.report import Point, front

    pts = [Point("target", 0.9, 0.9, role="target"), Point("oracle", 0.3, 0.8, role="oracle"),
           Point("near", 0.32, 0.78), Point("collapsed", 0.0, 0.1), Point("kept", 0.6, 0.85),
           Point("worse", 0.5, 0.6)]
    assert [p.label for p in front(pts, 0.3)] == ["near", "kept"]
    # without an oracle, lower forget scores count as nearer: the collapsed run is back
    assert [p.label for p in front(pts, None)] == ["collapsed", "near", "kept"]


LAYOUT = """() => {
  const box = e => { const r = e.getBoundingClientRect();
                     return [r.left, r.top, r.right, r.bottom]; };
  return {
    page: document.documentElement.scrollWidth,
    boxes: Array.from(document.querySelectorAll(".wide")).map(e => box(e)[2]),
    labels: Array.from(document.querySelectorAll('[id^="tradeoff-label-"]')).map(box),
  };
}"""


def overlaps(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1


def test_overlaps_sees_overlapping_boxes() -> None:
    assert overlaps([0, 0, 10, 10], [5, 5, 15, 15])
    assert not overlaps([0, 0, 10, 10], [10, 0, 20, 10])


@pytest.mark.slow
def test_pages_fit_1400px_and_plot_labels_do_not_overlap(site: Path, chromium: str) -> None:
    """In Chromium at 1400 px: no page scrolls sideways, every table's box fits the
    viewport (a wider table scrolls inside it, first column sticky), and no two labels of a
    trade-off plot overlap; a screenshot of each page is kept for a reader."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pages = [site / "index.html", *sorted(site.glob("scenario-*.html")),
             *sorted((site / "runs").glob("*.html"))[:2]]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            view = browser.new_page(viewport={"width": 1400, "height": 900})
            labelled = 0
            for page in pages:
                view.goto(page.resolve().as_uri())
                got = view.evaluate(LAYOUT)
                assert got["page"] <= 1400, (page.name, got["page"])
                assert all(right <= 1400 for right in got["boxes"]), (page.name, got["boxes"])
                boxes = got["labels"]
                clash = [(i, j) for i in range(len(boxes)) for j in range(i)
                         if overlaps(boxes[i], boxes[j])]
                assert not clash, (page.name, clash)
                labelled += len(boxes)
                view.screenshot(path=str(SCREENSHOTS / f"layout-{page.stem}.png"),
                                full_page=True)
            assert labelled >= len(demo_files())  # the plots were there to check
        finally:
            browser.close()


# -- bad submissions -----------------------------------------------------------------------
def _submission(tmp_path: Path, name: str, edit) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / name
    folder.mkdir()
    for i, f in enumerate(demo_files()[:2]):
        raw = json.loads(f.read_text())
        edit(raw, i)
        (folder / f.name).write_text(json.dumps(raw))
    return folder


def _note(raw: dict, i: int) -> None:  # type: ignore[type-arg]
    from medlethe.tasks.synthclinic.task import SynthclinicTask

    patient = SynthclinicTask("patient-10").forget[0]
    raw["model"]["provenance"]["comment"] = patient.note


def _name(raw: dict, i: int) -> None:  # type: ignore[type-arg]
    from medlethe.tasks.synthclinic.task import SynthclinicTask

    raw["model"]["provenance"]["who"] = SynthclinicTask("patient-10").forget[0].name


def _script(raw: dict, i: int) -> None:  # type: ignore[type-arg]
    raw["backend"]["args"]["note"] = "<script>alert(1)</script>"


def _schema(raw: dict, i: int) -> None:  # type: ignore[type-arg]
    raw["schema_version"] = 99


def _mixed(raw: dict, i: int) -> None:  # type: ignore[type-arg]
    if i == 1:
        for task in raw["tasks"].values():
            task["version"] = "999"


def _provenance(raw: dict, i: int) -> None:  # type: ignore[type-arg]
    del raw["model"]["fingerprint"]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_note, "free text"),
        (_name, "identifier of a person"),
        (_script, "markup"),
        (_schema, "unknown schema_version 99"),
        (_mixed, "mixed task versions"),
        (_provenance, "required provenance is missing"),
    ],
)
def test_bad_submission_is_rejected_alone(tmp_path: Path, edit, reason: str) -> None:  # type: ignore[no-untyped-def]
    bad = _submission(tmp_path, "bad", edit)
    with pytest.raises(SubmissionError, match=re.escape(reason)):
        validate_submission(bad)
    good = _submission(tmp_path, "good", lambda raw, i: None)
    report = build_site([good, bad], tmp_path / "site")
    assert [src for src, _ in report.rejected] == [str(bad)]
    assert [s.source for s in report.accepted] == [good]
    index = (tmp_path / "site" / "index.html").read_text()
    assert str(escape(reason)) in index and "<script>alert" not in index
    site_text = "".join(p.read_text() for p in (tmp_path / "site").rglob("*.html"))
    assert "<script>alert" not in site_text and "&lt;script&gt;alert" not in site_text


@pytest.mark.parametrize(
    ("about", "reason"),
    [({"by": "<b>lab</b>", "submitted": "2026-12-01"}, "markup"),
     ({"by": "lab", "submitted": "yesterday"}, "YYYY-MM-DD"),
     ({"by": "lab", "submitted": "2026-12-01", "email": "x"}, "exactly 'by' and 'submitted'")],
)
def test_submission_record_is_checked(tmp_path: Path, about: dict, reason: str) -> None:  # type: ignore[type-arg]
    sub = _submission(tmp_path, "sub", lambda raw, i: None)
    assert validate_submission(sub).by == ""  # no record: anonymous, dated by its runs
    (sub / "submission.json").write_text(json.dumps(about))
    with pytest.raises(SubmissionError, match=re.escape(reason)):
        validate_submission(sub)


@pytest.mark.slow
def test_cli_validate_and_build(tmp_path: Path) -> None:
    ok = run_cli("leaderboard", "validate", str(DEMO))
    assert ok.returncode == 0 and "ok:" in ok.stdout, ok.stderr
    bad = _submission(tmp_path, "bad", _script)
    rejected = run_cli("leaderboard", "validate", str(bad))
    assert rejected.returncode == 1 and "markup" in rejected.stderr
    built = run_cli("leaderboard", "build", str(DEMO), str(bad), "--out", str(tmp_path / "s"))
    assert built.returncode == 0, built.stderr
    assert f"leaderboard: {(tmp_path / 's' / 'index.html').resolve()}" in built.stdout
    assert "rejected" in built.stderr


# -- the submission flow -------------------------------------------------------------------
@pytest.mark.parametrize("folder", sorted(
    p.name for p in (ROOT / "leaderboard" / "submissions").iterdir() if p.is_dir()))
@pytest.mark.slow
def test_every_checked_in_submission_passes_the_pull_request_check(folder: str) -> None:
    """What a pull request's check runs on each submission folder."""
    sub = validate_submission(ROOT / "leaderboard" / "submissions" / folder)
    assert sub.runs or sub.sweeps
    allowed = re.compile(
        r"^(results_[0-9T-]+-[0-9a-f]{8}\.json|sweep_summary\.json|submission\.json)$")
    for f in (ROOT / "leaderboard" / "submissions" / folder).rglob("*"):
        assert f.is_dir() or allowed.match(f.name), f"{f} is not a submission file"


@pytest.mark.slow
def test_submit_writes_a_valid_folder_or_nothing(tmp_path: Path) -> None:
    into = tmp_path / "submissions"
    run = tmp_path / "my-run" / "results"
    run.mkdir(parents=True)
    for f in demo_files()[:3]:
        shutil.copy(f, run)
    (run / "values_x.json").write_text("{}")  # per-sample values never travel
    # the demo's target did not know the paraphrase split: refused without --force
    proc = run_cli("leaderboard", "submit", str(run.parent), "--name", "my-run",
                   "--by", "lab-x", "--into", str(into))
    assert proc.returncode == 1 and "synthclinic/patient-10:paraphrase" in proc.stderr
    assert not (into / "my-run").exists()
    proc = run_cli("leaderboard", "submit", str(run.parent), "--name", "my-run",
                   "--by", "lab-x", "--into", str(into), "--force")
    assert proc.returncode == 0, proc.stderr
    assert "warning: failed preconditions" in proc.stderr
    written = sorted(p.name for p in (into / "my-run").iterdir())
    assert written == sorted([*(f.name for f in demo_files()[:3]), "submission.json"])
    sub = validate_submission(into / "my-run")
    assert sub.by == "lab-x" and re.match(r"^\d{4}-\d{2}-\d{2}$", sub.submitted)
    bad = tmp_path / "bad"
    bad.mkdir()
    raw = json.loads(demo_files()[0].read_text())
    raw["backend"]["args"]["note"] = "<b>hi</b>"
    (bad / demo_files()[0].name).write_text(json.dumps(raw))
    proc = run_cli("leaderboard", "submit", str(bad), "--name", "bad-run", "--by", "lab-x",
                   "--into", str(into))
    assert proc.returncode == 1 and "markup" in proc.stderr
    assert sorted(p.name for p in into.iterdir()) == ["my-run"]  # nothing else written
    proc = run_cli("leaderboard", "submit", str(run.parent), "--name", "my-run",
                   "--by", "lab-x", "--into", str(into), "--force")
    assert proc.returncode == 1 and "exists" in proc.stderr
    # outside a checkout, and without --into: refused, nothing written where it runs
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    proc = run_cli("leaderboard", "submit", str(run.parent), "--name", "other-run",
                   "--by", "lab-x", "--force", cwd=outside)
    assert proc.returncode == 1 and "not inside a checkout" in proc.stderr
    assert list(outside.iterdir()) == []


def _copy_with(dest: Path, change: Callable[[dict], None], tag: str) -> Path:
    """The demo submission in ``dest`` with each results file changed by ``change`` (and
    run ids of its own, so that both submissions can be built into one site)."""
    dest.mkdir()
    for f in demo_files():
        raw = json.loads(f.read_text())
        raw["run_id"] = tag + raw["run_id"][len(tag):]  # another date: another run id
        change(raw)
        (dest / f"results_{raw['run_id']}.json").write_text(json.dumps(raw))
    return dest


def test_runs_on_other_data_are_another_group_labelled_by_what_differs(tmp_path: Path) -> None:
    def sixty_patients(raw: dict) -> None:
        raw["model"]["provenance"]["task_args"] = {"n_patients": 60}
        for t in raw["tasks"].values():
            t["args"] = {"n_patients": 60}
            t["data_fingerprints"] = {s: "sha256:" + "0" * 64 for s in t["data_fingerprints"]}

    other = _copy_with(tmp_path / "sixty", sixty_patients, "1999")
    site = build_site([DEMO, other], tmp_path / "site")
    assert not site.rejected, site.rejected
    pages = sorted((tmp_path / "site").glob("scenario-synthclinic-patient-10-*.html"))
    assert len(pages) == 2  # never ranked together
    index = (tmp_path / "site" / "index.html").read_text()
    assert "task arguments: n_patients=60" in index and "task arguments: (none)" in index
    texts = [p.read_text() for p in pages]
    assert sum("n_patients=60" in t for t in texts) == 1


def test_a_run_on_the_first_rows_only_is_refused(tmp_path: Path) -> None:
    def limited(raw: dict) -> None:
        for t in raw["tasks"].values():
            t["limit"] = 8

    with pytest.raises(SubmissionError, match=r"first 8 rows .*--limit"):
        validate_submission(_copy_with(tmp_path / "limited", limited, "1998"))


def test_a_share_is_shown_as_a_percentage_everywhere(site: Path) -> None:
    steu = next(site.glob("scenario-synthclinic-notes-*.html")).read_text()
    assert re.search(r"% params modified", steu)
    raw = next(json.loads(f.read_text()) for f in (
        ROOT / "leaderboard" / "submissions" / "tiny-bert-synthclinic-notes-forget-class-oncology"
    ).glob("results_*.json") if json.loads(f.read_text()).get("method"))
    share = next(m["value"] for m in raw["metrics"] if m["metric"] == "params_modified")
    assert f"{100 * share:.1f}" in steu or f"{100 * share:.3f}" in steu


def test_the_declared_ranking_puts_the_oracle_like_run_first(site: Path) -> None:
    from medlethe.leaderboard.ranking import RULE

    page = next(site.glob("scenario-synthclinic-patient-10-*.html")).read_text()
    table = page[page.index('id="ranking"'):page.index("</table>", page.index('id="ranking"'))]
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=\"l\"><a [^>]*>([^<]*)</a></td>"
                      r"\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>[^<]*</td>\s*"
                      r"<td class=\"l\">([^<]*)</td>", table)
    by = {label: (rank, dist, keep, why) for rank, label, dist, keep, why in rows}
    # Retrain is the oracle: distance 0, rank 1; GradAscent collapses: not ranked
    assert by["Retrain"][0] == "1" and by["Retrain"][1].startswith("0.000")
    assert by["GradAscent"][0] == "-" and "utility below 95%" in by["GradAscent"][3]
    ranks = [int(r) for r, *_ in by.values() if r != "-"]
    assert ranks == sorted(ranks) and ranks[0] == 1  # best first; ties share a rank
    assert escape(RULE) in page
    index = (site / "index.html").read_text()
    assert "Retrain (0.000" in index


@pytest.mark.parametrize(("field", "value"), [("comparability", ["not", "a", "mapping"]),
                                              ("fronts", [{"method": "NPO"}])])
def test_a_summary_whose_fronts_cannot_be_placed_is_rejected_alone(
        tmp_path: Path, field: str, value: object) -> None:
    """A sweep summary whose fronts or comparability are not what 'medlethe sweep' writes
    is rejected with the field named; the other submissions still build."""
    shipped = ROOT / "leaderboard" / "submissions" / "fronts-tiny-synthclinic-patient-10-3seeds"
    raw = json.loads((shipped / "sweep_summary.json").read_text())
    raw[field] = value
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "sweep_summary.json").write_text(json.dumps(raw))
    with pytest.raises(SubmissionError, match=f"field {field} is not"):
        validate_submission(bad)
    report = build_site([shipped, bad], tmp_path / "site")
    assert [src for src, _ in report.rejected] == [str(bad)]
    (page,) = (tmp_path / "site").glob("scenario-synthclinic-patient-10-*.html")
    assert "Hypervolume: synthclinic/patient-10" in page.read_text()
