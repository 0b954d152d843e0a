"""Guarantees that are not a command-line error: file modes, stable fingerprints, concurrent
cache use, a site writer that stays in its folder, portable recorded paths."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from medlethe.cache import ResponseCache
from medlethe.fingerprint import model_fingerprint
from medlethe.leaderboard.build import inside
from medlethe.leaderboard.validate import IdentifierMatcher, SubmissionError
from medlethe.paths import portable
from medlethe.results.io import atomic_write_text


def test_outputs_get_the_users_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "out.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o644


def test_fingerprint_ignores_run_records_not_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"layers": 2}')
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "medlethe_unlearn.json").write_text('{"seconds": 1.5}')
    first = model_fingerprint(str(tmp_path))
    (tmp_path / "medlethe_unlearn.json").write_text('{"seconds": 2.7}')
    assert model_fingerprint(str(tmp_path)) == first
    (tmp_path / "model.safetensors").write_bytes(b"other weights")
    assert model_fingerprint(str(tmp_path)) != first


def _open_and_write(args: tuple[str, int, object]) -> str:
    path, i, barrier = args
    if barrier is not None:
        barrier.wait()  # type: ignore[attr-defined]
    cache = ResponseCache(path)
    cache.put_many("generate", [(f"key-{i}", {"text": str(i)})])
    cache.close()
    return "ok"


def test_new_cache_opened_by_many_processes_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "responses.sqlite")
    n = 16
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(n)
        with ctx.Pool(n) as pool:
            assert pool.map(_open_and_write, [(path, i, barrier) for i in range(n)]) == ["ok"] * n
    cache = ResponseCache(path)
    assert len(cache.get_many([f"key-{i}" for i in range(n)])) == n
    cache.close()


@pytest.mark.slow
def test_cache_waits_for_a_lock_held_longer_than_sqlites_default(tmp_path: Path) -> None:
    """Another process holds the database for 6 s (SQLite's default wait is 5 s): opening
    the cache waits for it instead of failing with "database is locked"."""
    path = tmp_path / "responses.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        pending = pool.apply_async(_open_and_write, ((str(path), 0, None),))
        time.sleep(6)
        holder.execute("COMMIT")
        assert pending.get(timeout=120) == "ok"
    holder.close()


def test_site_writer_stays_in_its_folder(tmp_path: Path) -> None:
    assert inside(tmp_path, "runs/20261130T171759-0d489bc4.html").parent == tmp_path / "runs"
    with pytest.raises(SubmissionError, match="outside the site folder"):
        inside(tmp_path, "runs/../../escaped.html")


def test_identifiers_match_however_written() -> None:
    match = IdentifierMatcher(["Ulric I. Jarvinen", "6624905", "1 October 2019"])
    for text in ("ulric  i. jarvinen", "Jarvinen, Ulric I.", "mrn 6624905", "1 october 2019"):
        assert match.found(text), text
    for text in ("Ulric", "66249050", "2026-11-30T17:17:59+00:00", "October 2019"):
        assert not match.found(text), text


def test_recorded_paths_are_portable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDLETHE_CACHE_DIR", str(tmp_path / "cache"))
    assert portable(str(tmp_path / "cache" / "finetune" / "x")) == "cache:finetune/x"
    assert portable(str(Path.cwd() / "models" / "m")) == "models/m"
    assert portable("org/model") == "org/model"
