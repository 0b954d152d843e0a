"""Reading a pack's rows from the Hugging Face hub or a local copy, with checked fields.

``source`` is either a hub id (read with ``datasets.load_dataset``, exactly as on a machine with
hub access), a local folder in the hub's layout (``data/train-00000-of-00001.parquet``, ...),
or a single ``.jsonl``, ``.json``, ``.parquet`` or ``.csv`` file (one split). Every row is
checked against the pack's field list; a missing or mistyped field is an error that names the
file, the split, the row (1-based) and the field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medlethe.errors import DatasetError
from medlethe.task import quiet_datasets

Rows = list[dict[str, Any]]
_BUILDERS = {".parquet": "parquet", ".csv": "csv"}
_TYPE_NAMES = {str: "string", int: "integer", float: "number", list: "list"}


@dataclass(frozen=True)
class Field:
    """One field every row must have: its type(s) and, optionally, the values allowed."""

    name: str
    types: tuple[type, ...]
    values: tuple[Any, ...] | None = None
    required: bool = True
    #: other names the field has in real releases (read as ``name``)
    aliases: tuple[str, ...] = ()

    def describe(self) -> str:
        kinds = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types)
        if self.values is not None:
            kinds += f" in {{{', '.join(map(repr, self.values))}}}"
        return f"{self.name} ({kinds})"


def _looks_local(source: str) -> bool:
    return source.startswith((".", "/", "~")) or Path(source).suffix in {
        ".jsonl",
        ".json",
        ".parquet",
        ".csv",
    }


def _check_file(path: Path, pack: str) -> None:
    """A local data file that is empty is refused with that reason (the loaders' own
    errors do not say it)."""
    if path.stat().st_size == 0:
        raise DatasetError(
            f"{pack}: {path} is empty (0 bytes: no rows); pass a file with at least one record."
        )


def _check_utf8(path: Path, pack: str) -> None:
    """Refuse ``path`` (a text file) when it is not UTF-8; called once a reader failed."""
    if not path.is_file() or path.suffix == ".parquet":
        return
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for _ in iter(lambda: fh.read(1 << 20), ""):
                pass
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, pack, exc) from exc


def _not_utf8(where: object, pack: str, exc: UnicodeDecodeError) -> DatasetError:
    return DatasetError(
        f"{pack}: {where} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as "
        "UTF-8 (e.g. iconv -f latin1 -t utf-8 IN > OUT) and pass that file."
    )


def _read_json(path: Path, pack: str) -> Rows:
    try:  # a byte-order mark is read, as CSV's is
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, pack, exc) from exc
    if path.suffix == ".json" and text.lstrip().startswith("["):
        data = json.loads(text)
        if not all(isinstance(r, dict) for r in data):
            raise DatasetError(f"{path}: a .json file must hold a list of objects (rows).")
        return list(data)
    rows: Rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}, line {n}: not valid JSON ({exc.msg}).") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{path}, line {n}: each line must be a JSON object (one row).")
        rows.append(row)
    return rows


def _load_with_datasets(source: str, revision: str | None, pack: str, **kwargs: Any) -> Any:
    import datasets  # heavy: imported when a pack first reads data

    if kwargs.get("data_files") or Path(source).expanduser().exists():
        quiet_datasets()  # a local file: no download to follow
    try:
        return datasets.load_dataset(source, revision=revision, **kwargs)
    except FileNotFoundError as exc:
        raise DatasetError(
            f"{pack}: dataset {source!r} was not found ({exc}). On a machine with hub access "
            "it downloads by itself; otherwise copy it and pass the local folder or file "
            "with --task-args source=PATH."
        ) from exc
    except Exception as exc:  # network, gated access, malformed files: name the source
        cause = _root_cause(exc)
        files = kwargs.get("data_files")
        if files or Path(source).expanduser().exists():
            where = ", ".join(map(str, files.values())) if isinstance(files, dict) else source
            for file in (files.values() if isinstance(files, dict) else [source]):
                _check_utf8(Path(str(file)), pack)  # the readers say it in their own words
            if "corresponds to no data" in str(cause):
                raise DatasetError(
                    f"{pack}: {where} has no rows (a header line at most); pass a file with "
                    "at least one record."
                ) from exc
            raise DatasetError(
                f"{pack}: reading {where} failed: {type(cause).__name__}: {cause}. Fix the "
                "file (docs/tasks.md gives each pack's columns)."
            ) from exc
        raise DatasetError(
            f"{pack}: loading dataset {source!r} failed: {type(cause).__name__}: {cause}. "
            "Pass a local copy with --task-args source=PATH, or check access to the hub id."
        ) from exc


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception behind ``exc`` (datasets wraps a reader's error in its own)."""
    while True:
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None:
            return exc
        exc = inner


def load_records(
    source: str | Path,
    *,
    pack: str,
    fields: Sequence[Field],
    revision: str | None = None,
    file_split: str = "train",
) -> dict[str, Rows]:
    """Rows per split of a hub id, local hub-layout folder, or single file (``file_split``)."""
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        _check_file(path, pack)
        if path.suffix in (".jsonl", ".json"):
            splits = {file_split: _read_json(path, pack)}
        elif path.suffix in _BUILDERS:
            ds = _load_with_datasets(
                _BUILDERS[path.suffix], None, pack, data_files={file_split: str(path)}
            )
            splits = {name: ds[name].to_list() for name in ds}
        else:
            raise DatasetError(
                f"{pack}: {path} is not a .jsonl, .json, .parquet or .csv file, nor a folder."
            )
    elif path.is_dir() or not _looks_local(text):
        ds = _load_with_datasets(str(path) if path.is_dir() else text, revision, pack)
        splits = {name: ds[name].to_list() for name in ds}
    else:
        raise DatasetError(f"{pack}: {path} does not exist; pass an existing file or folder.")
    if not any(splits.values()):
        raise DatasetError(
            f"{pack}: {text} has no rows; pass a file or dataset with at least one record."
        )
    for split, rows in splits.items():
        check_rows(rows, fields, origin=f"{pack}: {text} [split {split}]")
    return splits


def _known_variant(row: dict[str, Any], f: Field) -> Any:
    """The field's value, read under an alias when the release names it so, and an integral
    float (``3.0``, as some releases and parquet conversions store integers) as an integer;
    the row is rewritten to the canonical form."""
    if row.get(f.name) is None:
        alias = next((a for a in f.aliases if row.get(a) is not None), None)
        if alias is not None:
            row[f.name] = row[alias]
    value = row.get(f.name)
    if (
        isinstance(value, float) and int in f.types and float not in f.types
        and value.is_integer()
    ):
        row[f.name] = value = int(value)
    return value


def check_rows(rows: Sequence[dict[str, Any]], fields: Sequence[Field], *, origin: str) -> None:
    """Raise :class:`DatasetError` at the first row with a missing or mistyped field, after
    reading each field's known variants (aliases, integral floats)."""
    expected = ", ".join(f.describe() for f in fields)
    for i, row in enumerate(rows, 1):
        for f in fields:
            value = _known_variant(row, f)
            where = f"{origin}, row {i}, field {f.name!r}"
            if value is None:
                if not f.required:
                    continue
                raise DatasetError(
                    f"{where}: missing. Every row needs: {expected}. Fix the row or the file."
                )
            if isinstance(value, bool) or not isinstance(value, f.types):
                raise DatasetError(
                    f"{where}: {type(value).__name__} {value!r:.60} where {f.describe()} is "
                    "expected. Fix the row or the file."
                )
            if f.values is not None and value not in f.values:
                raise DatasetError(
                    f"{where}: {value!r:.60} is not one of {', '.join(map(repr, f.values))}."
                )
