"""The ``medlethe`` command. Sub-commands import what they need, so ``--help`` is fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from medlethe import __version__
from medlethe.errors import MedletheError


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _kv(value: str) -> dict[str, Any]:
    """``a=1,b=x`` -> {"a": 1, "b": "x"}; values parse as JSON where they can."""
    import json

    out: dict[str, Any] = {}
    for item in _csv(value):
        key, sep, raw = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, sep, *body])


def _disabled(args: argparse.Namespace) -> list[str]:
    out = []
    for item in args.plugin_flags or []:
        if not item.startswith("no:"):
            raise MedletheError(f"-p takes 'no:NAME' to disable a plugin, got {item!r}")
        out.append(item[3:])
    return out


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from medlethe.evaluator import evaluate

    cache: Any = False if args.no_cache else (args.cache or True)
    out = evaluate(
        args.model,
        args.tasks,
        adapter=args.adapter,
        backend=args.backend,
        backend_args=args.backend_args,
        output=args.output,
        limit=args.limit,
        splits=args.splits,
        log_samples=args.log_samples,
        cache=cache,
        seed=args.seed,
        disabled_plugins=_disabled(args),
        command=["medlethe", *sys.argv[1:]],
    )
    rows = []
    for m in out.results.metrics:
        value = "n/a" if m.value is None else f"{m.value:.4f}"
        ci = f"[{m.ci.low:.4f}, {m.ci.high:.4f}]" if m.ci else "-"
        arrow = "↑" if m.direction == "higher" else "↓"
        rows.append([m.task, m.split, f"{m.metric} {arrow}", value, ci, str(m.n)])
    print(_table(rows, ["task", "split", "metric", "value", "95% CI", "n"]))
    req = out.results.requests
    print(f"\nmodel calls: {req.model_calls}, cache hits: {req.cache_hits}")
    if out.results_path:
        print(f"results: {out.results_path}")
    if out.samples_path:
        print(f"samples: {out.samples_path}")
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    from medlethe.registry import get_registry

    reg = get_registry(_disabled(args))
    rows = []
    for p in reg.plugins:
        comps = reg.of_plugin(p.name)
        summary = ", ".join(f"{c.kind}:{c.name}" for c in comps) or "-"
        rows.append([p.name, p.distribution, p.version, summary])
    print(_table(rows, ["plugin", "distribution", "version", "components"]))
    return 0


def _cmd_list(kind: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from medlethe.registry import get_registry

        reg = get_registry(_disabled(args))
        rows = [
            [c.name, c.plugin.name, c.description]
            for c in (reg.components[kind][n] for n in reg.names(kind))
        ]
        print(_table(rows, [kind, "plugin", "description"]))
        return 0

    return run


def _cmd_validate(args: argparse.Namespace) -> int:
    from medlethe.task.yaml_task import ConfigTask

    for path in args.files:
        task = ConfigTask.from_file(path)
        print(f"ok: {path} (task {task.name!r}, version {task.version}, {task.output_type})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medlethe",
        description="Measure how well a language model forgets medical data.",
    )
    parser.add_argument("--version", action="version", version=f"medlethe {__version__}")
    parser.add_argument(
        "-p", dest="plugin_flags", action="append", metavar="no:NAME",
        help="disable a plugin by name (repeatable); see 'medlethe plugins'",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="evaluate a model on tasks and write results")
    ev.add_argument("--model", required=True, help="hub id or local model folder")
    ev.add_argument("--adapter", help="a PEFT adapter folder applied on top of the model")
    ev.add_argument("--backend", default="hf", help="backend name (default: hf)")
    ev.add_argument("--backend-args", type=_kv, default={}, metavar="K=V,...",
                    help="backend arguments, e.g. batch_size=8,dtype=bfloat16")
    ev.add_argument("--tasks", type=_csv, required=True,
                    help="comma-separated task names or YAML paths")
    ev.add_argument("--splits", type=_csv, help="only these splits (comma-separated)")
    ev.add_argument("--output", help="folder for results_<run>.json")
    ev.add_argument("--limit", type=int, help="first N rows of each split (for smoke tests)")
    ev.add_argument("--log-samples", action="store_true",
                    help="also write per-sample prompts and answers (may hold patient text)")
    ev.add_argument("--cache", help="SQLite response cache file (default ~/.cache/medlethe)")
    ev.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    ev.add_argument("--seed", type=int, default=1234)
    ev.set_defaults(func=_cmd_evaluate)

    sub.add_parser("plugins", help="list plugins, distributions and components").set_defaults(
        func=_cmd_plugins
    )
    for kind in ("task", "method", "metric", "backend"):
        sub.add_parser(f"{kind}s", help=f"list registered {kind}s").set_defaults(
            func=_cmd_list(kind)
        )
    va = sub.add_parser("validate", help="validate task YAML files")
    va.add_argument("files", nargs="+")
    va.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except MedletheError as exc:
        print(f"medlethe: error: {exc}", file=sys.stderr)
        return 2
