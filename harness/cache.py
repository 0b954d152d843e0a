"""An SQLite response cache in front of any backend: reruns and resumed runs skip done work.

Keys are sha256(backend fingerprint, request kind, request fields). Results are committed a
chunk at a time, so a run killed half-way loses at most one chunk.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from medlethe.backends.base import (
    Backend,
    ClassifyRequest,
    ClassifyResult,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    classify_result_from_json,
    generate_result_from_json,
    loglikelihood_result_from_json,
    result_to_json,
)
from medlethe.errors import MedletheError
from medlethe.paths import ensure_dir

Req = TypeVar("Req", GenerateRequest, LoglikelihoodRequest, ClassifyRequest)
Res = TypeVar("Res", GenerateResult, LoglikelihoodResult, ClassifyResult)

CACHE_FORMAT = 1
#: how long one connection waits for another's lock before giving up
BUSY_TIMEOUT_S = 60.0


class CacheError(MedletheError):
    """The response cache cannot be opened."""


def _retry_locked(op: Callable[[], Any], attempts: int = 200) -> Any:
    """``op()``, retried while SQLite answers "database is locked" (about 30 s at most)."""
    for i in range(attempts):
        try:
            return op()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(0.05 + 0.1 * random.random())
    return None


class ResponseCache:
    """A key-value store of model responses in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        ensure_dir(self.path.parent, "the response cache folder (MEDLETHE_CACHE_DIR)")
        try:
            # Several processes may open a new cache at once: wait for each other's locks
            # (busy timeout), and retry the switch to WAL, which SQLite refuses outright
            # while another connection holds the database.
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            _retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            _retry_locked(lambda: self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, kind TEXT, value TEXT)"
            ))
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise CacheError(
                f"Cannot open the response cache {self.path}: {exc}. Delete the file (it only "
                "holds cached responses) or point --cache / MEDLETHE_CACHE_DIR elsewhere."
            ) from exc

    def _damaged(self, exc: Exception) -> CacheError:
        if "locked" in str(exc):
            return CacheError(
                f"The response cache {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_S:.0f} s; rerun when it is done, or give this run its own "
                "--cache file."
            )
        return CacheError(
            f"The response cache {self.path} is damaged ({type(exc).__name__}: {exc}). It only "
            "holds cached model answers: delete it (and its -wal/-shm files) and rerun, or "
            "rerun with --no-cache or another --cache / MEDLETHE_CACHE_DIR."
        )

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
                )
                found.update({k: json.loads(v) for k, v in rows})
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise self._damaged(exc) from exc
        return found

    def put_many(self, kind: str, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO responses (key, kind, value) VALUES (?, ?, ?)",
                [(k, kind, json.dumps(v)) for k, v in items],
            )
            self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def close(self) -> None:
        self._db.close()


def request_key(
    fingerprint: str, kind: str, request: GenerateRequest | LoglikelihoodRequest | ClassifyRequest
) -> str:
    payload = {"format": CACHE_FORMAT, "model": fingerprint, "kind": kind, **asdict(request)}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class CachedBackend:
    """Wraps a backend: answers what the cache has, asks the backend for the rest."""

    def __init__(self, backend: Backend, cache: ResponseCache | None, *, progress: bool = True):
        self.backend = backend
        self.cache = cache
        self.progress = progress
        self.cache_hits = 0

    def _run(
        self,
        kind: str,
        requests: Sequence[Req],
        compute: Callable[[Sequence[Req]], list[Res]],
        decode: Callable[[dict[str, Any]], Res],
        desc: str,
    ) -> list[Res]:
        fp = self.backend.fingerprint()
        keys = [request_key(fp, kind, r) for r in requests]
        stored = self.cache.get_many(keys) if self.cache is not None else {}
        results: dict[str, Res] = {k: decode(v) for k, v in stored.items()}
        self.cache_hits += sum(1 for k in keys if k in results)
        todo: dict[str, Req] = {}
        for k, r in zip(keys, requests, strict=True):
            if k not in results:
                todo.setdefault(k, r)
        if todo:
            pending = list(todo.items())
            # requests with a context (log-likelihoods): longest contexts first over the
            # whole call, not only inside each chunk: batches pad less, and the options of
            # one question (one context) stay in one chunk, where a backend can share the
            # context's forward pass; others (no context) keep their order (a stable sort)
            pending.sort(key=lambda kr: -len(getattr(kr[1], "context", "")))
            step = max(self.backend.preferred_chunk, 1)
            with tqdm(
                total=len(pending), desc=desc, unit="req", disable=not self.progress
            ) as bar:
                for start in range(0, len(pending), step):
                    chunk = pending[start : start + step]
                    answers = compute([r for _, r in chunk])
                    for (k, _), a in zip(chunk, answers, strict=True):
                        results[k] = a
                    if self.cache is not None:
                        self.cache.put_many(
                            kind,
                            [
                                (k, result_to_json(a))
                                for (k, _), a in zip(chunk, answers, strict=True)
                            ],
                        )
                    bar.update(len(chunk))
        return [results[k] for k in keys]

    def generate(self, requests: Sequence[GenerateRequest], desc: str = "generate") -> list[
        GenerateResult
    ]:
        return self._run(
            "generate", requests, self.backend.generate, generate_result_from_json, desc
        )

    def classify(
        self, requests: Sequence[ClassifyRequest], desc: str = "classify"
    ) -> list[ClassifyResult]:
        return self._run(
            "classify", requests, self.backend.classify, classify_result_from_json, desc
        )

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], desc: str = "loglikelihood"
    ) -> list[LoglikelihoodResult]:
        return self._run(
            "loglikelihood",
            requests,
            self.backend.loglikelihood,
            loglikelihood_result_from_json,
            desc,
        )
