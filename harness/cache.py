"""An SQLite response cache in front of any backend: reruns and resumed runs skip done work.

Keys are sha256(backend fingerprint, request kind, request fields). Results are committed a
chunk at a time, so a run killed half-way loses at most one chunk.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from medlethe.backends.base import (
    Backend,
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    generate_result_from_json,
    loglikelihood_result_from_json,
    result_to_json,
)

Req = TypeVar("Req", GenerateRequest, LoglikelihoodRequest)
Res = TypeVar("Res", GenerateResult, LoglikelihoodResult)

CACHE_FORMAT = 1


class ResponseCache:
    """A key-value store of model responses in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, kind TEXT, value TEXT)"
        )
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
            )
            found.update({k: json.loads(v) for k, v in rows})
        return found

    def put_many(self, kind: str, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO responses (key, kind, value) VALUES (?, ?, ?)",
            [(k, kind, json.dumps(v)) for k, v in items],
        )
        self._db.commit()

    def close(self) -> None:
        self._db.close()


def request_key(
    fingerprint: str, kind: str, request: GenerateRequest | LoglikelihoodRequest
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
