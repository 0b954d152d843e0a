"""The ``medlethe`` command. Sub-commands import what they need, so ``--help`` is fast."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from medlethe import __version__
from medlethe.errors import MedletheError


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _attacks(value: str) -> list[str]:
    """``a,b[x=1,y=2]`` -> the attack entries (commas inside brackets stay)."""
    from medlethe.attack_run import split_entries

    return split_entries(value)


def _kv(value: str) -> dict[str, Any]:
    """``a=1,b=x`` -> {"a": 1, "b": "x"}; values parse as JSON where they can."""
    from medlethe.spec import key_value

    out: dict[str, Any] = {}
    for item in _csv(value):
        pair = key_value(item)
        if pair is None:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {item!r}")
        out[pair[0]] = pair[1]
    return out


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def fmt(row: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def _disabled(args: argparse.Namespace) -> tuple[str, ...]:
    """The plugins ``-p no:NAME`` switches off (any other ``-p`` value is an error)."""
    disabled = []
    for item in args.plugin_flags or []:
        if not item.startswith("no:"):
            raise MedletheError(f"-p takes 'no:NAME' to disable a plugin, got {item!r}")
        disabled.append(item[3:])
    return tuple(disabled)


def _registry(args: argparse.Namespace) -> Any:
    """The registry of this command: every installed plugin minus those ``-p no:NAME``
    (and ``MEDLETHE_DISABLE_PLUGINS``) switch off. Every stage receives it."""
    from medlethe.registry import get_registry

    return get_registry(_disabled(args))


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from medlethe.chat import ChatFormat
    from medlethe.evaluator import evaluate

    if args.system_instruction and not args.apply_chat_template:
        raise MedletheError("--system-instruction needs --apply-chat-template")

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
        task_args=args.task_args,
        log_samples=args.log_samples,
        cache=cache,
        seed=args.seed,
        registry=_registry(args),
        command=["medlethe", *sys.argv[1:]],
        chat=ChatFormat(args.apply_chat_template, args.system_instruction),
    )
    rows = []
    for m in out.results.metrics:
        value = "n/a" if m.value is None else f"{m.value:.4f}"
        ci = f"[{m.ci.low:.4f}, {m.ci.high:.4f}]" if m.ci else "-"
        arrow = {"higher": " ↑", "lower": " ↓"}.get(m.direction, "")
        rows.append(
            [m.task, m.split, m.subset or "all", f"{m.metric}{arrow}", value, ci, str(m.n)]
        )
    print(_table(rows, ["task", "split", "subset", "metric", "value", "95% CI", "n"]))
    req = out.results.requests
    print(f"\nmodel calls: {req.model_calls}, cache hits: {req.cache_hits}")
    if out.path:
        print(f"results: {out.path}")
    if out.samples_path:
        print(f"samples: {out.samples_path}")
    return 0


def _train_config(model: str, overrides: dict[str, Any], task: Any = None) -> Any:
    from medlethe.training.pipeline import train_config

    return train_config(model, overrides, task)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from medlethe.training.pipeline import finetune, load_scenario

    task = load_scenario(args.scenario, args.task_args, registry=_registry(args))
    config = _train_config(args.model, args.train_args, task)
    out = finetune(args.model, task, args.on, config=config)
    if not _main_process():
        return 0
    state = "cached" if out.cached else f"trained in {out.seconds:.0f} s"
    print(f"{'target' if args.on == 'train' else 'oracle'} ({state}): {out.path}")
    return 0


def _sweep(plan: Any, args: argparse.Namespace, output: str) -> int:
    from medlethe.sweep import Sweep

    sweep = Sweep(plan, output, disabled=_disabled(args),
                  command=("medlethe", *sys.argv[1:]))
    out = sweep.run(args.executor, args.ray_address)
    if out.failures:
        print(f"medlethe: {len(out.failures)} job(s) failed; {out.aggregate_path} lists "
              "them, and running the same command again retries them.", file=sys.stderr)
        return 1
    return 0


def _run_spec(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """The run spec the flags describe (over ``--spec``'s where given) and the scenarios
    (several make a sweep)."""
    from medlethe.spec import RunSpec, load_spec, run_spec

    given = {k: v for k, v in vars(args).items() if k in RunSpec.model_fields}
    scenarios = [s for item in given.pop("scenario", []) for s in _csv(item)]
    for name in ("method_args", "attack_args"):
        if name in given:
            given[name] = _method_args(given[name], f"--{name.replace('_', '-')}")
    base = load_spec(args.spec) if args.spec else None
    spec = run_spec(base, scenarios[0] if scenarios else None, **given)
    return spec, scenarios or [spec.scenario]


def _cmd_run(args: argparse.Namespace) -> int:
    from medlethe.run import run_pipeline
    from medlethe.spec import RunFields

    spec, scenarios = _run_spec(args)
    if args.seeds is not None or len(scenarios) > 1:
        from medlethe.sweep import Plan
        from medlethe.training.device import launched

        if launched() > 1:
            raise MedletheError("a sweep (--seeds, or several scenarios) runs its jobs in "
                                "processes of its own: run it without accelerate launch, "
                                "one `medlethe run` per launch.")
        if "seed" in vars(args):
            raise MedletheError("--seed and --seeds together: a sweep seeds each run with its "
                                "own seed; give only --seeds.")
        shared = {k: getattr(spec, k) for k in RunFields.model_fields}
        plan = Plan(**shared, scenarios=scenarios, seeds=args.seeds or [0])
        return _sweep(plan, args, spec.output)
    out = run_pipeline(spec, registry=_registry(args), command=["medlethe", *sys.argv[1:]])
    failed = [f["method"] for f in out.summary["failures"]]
    if failed and _main_process():
        print(f"medlethe: {len(failed)} method(s) failed ({', '.join(failed)}); the others "
              f"ran and {out.summary_path} lists why.", file=sys.stderr)
        return 1
    return 0


def _cmd_new_kind(args: argparse.Namespace) -> int:
    from medlethe.scaffold import new_kind

    root = new_kind(args.name, args.output)
    print(f"wrote {root}\nnext: pip install -e {root} && medlethe kinds && "
          f"medlethe run --model mlp --scenario {args.name}/lab-abnormality --backend "
          f"{args.name} --methods {args.name}/GradDiff")
    return 0


def _cmd_new_method(args: argparse.Namespace) -> int:
    from medlethe.scaffold import new_method

    root = new_method(args.name, args.output)
    print(f"wrote {root}\nnext: pip install -e {root} && medlethe methods && "
          f"pytest {root / 'tests'}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from medlethe.sweep import Plan, load_plan

    given = {k: v for k, v in (("scenarios", args.scenario), ("model", args.model),
                               ("front", args.front), ("seeds", args.seeds),
                               ("budget_minutes", args.budget_minutes)) if v is not None}
    if args.plan is None and not args.scenario:
        raise MedletheError("medlethe sweep: give a plan file, or --scenario (with --front "
                            "METHOD for a front: medlethe sweep --front DuoLearn --scenario "
                            "synthclinic/patient-10 --seeds 0,1,2).")
    base = load_plan(args.plan).model_dump(exclude_unset=True) if args.plan else {}
    plan = Plan.model_validate({**base, **given})
    return _sweep(plan, args, args.output or plan.output or "medlethe-sweep")


def _cmd_audit(args: argparse.Namespace) -> int:
    """``medlethe audit ...`` (exit 0: every patient forgotten, 1: any not, 2: an error)
    and ``medlethe audit verify RECORD``."""
    from pathlib import Path

    from medlethe.audit import AuditError, audit, verify, write

    if args.words:
        if args.words[0] != "verify" or len(args.words) != 2:
            raise AuditError(f"medlethe audit {' '.join(args.words)}: did you mean "
                             "'medlethe audit verify RECORD'?")
        record = verify(args.words[1])
        print(f"{args.words[1]}: intact ({record['record_sha256']}); verdict "
              f"{record['verdict']} for {record['request']['patients']} patient(s)")
        return 0
    missing = [f for f in ("model", "target", "scenario", "request") if not getattr(args, f)]
    if missing:
        raise AuditError("medlethe audit needs " + ", ".join(f"--{f}" for f in missing)
                         + " (or: medlethe audit verify RECORD).")
    out = Path(args.output)
    if args.salt_file:
        salt = Path(args.salt_file).read_bytes().strip()
    else:
        import secrets

        salt = secrets.token_hex(32).encode()
        out.mkdir(parents=True, exist_ok=True)
        (out / "SALT-keep-apart.txt").write_bytes(salt + b"\n")
    try:
        record = audit(args.model, args.scenario, args.request, target=args.target,
                       adapter=args.adapter, references=args.reference or [],
                       task_args=args.task_args, level=args.level, statistic=args.statistic,
                       membership=args.membership, attacks=args.attacks,
                       salt=salt, progress=not args.quiet)
    except MedletheError:
        raise
    except Exception as exc:  # an audit that did not finish is an error (exit 2), not a verdict
        raise AuditError(f"the audit stopped: {type(exc).__name__}: {exc}") from exc
    path = write(record, out)
    c = record["counts"]
    print(f"{record['verdict']}: {c['forgotten']} forgotten, {c['not shown forgotten']} not "
          f"shown forgotten, {c['inconclusive']} inconclusive of "
          f"{record['request']['patients']}\nrecord: {path}\npage:   {path.with_suffix('.html')}")
    if not args.salt_file:
        print(f"salt:   {out / 'SALT-keep-apart.txt'} (give it to the requester, keep it "
              "apart from the record)")
    return 0 if record["verdict"] == "forgotten" else 1


def _add_audit(sub: Any) -> None:
    """``medlethe audit``."""
    au = sub.add_parser("audit", help="audit one deletion request: a verdict per patient "
                        "and a tamper-evident record (docs/audit.md)")
    au.add_argument("words", nargs="*", metavar="verify RECORD", help="check that an audit "
                    "record is unchanged (medlethe audit verify RECORD), and stop")
    au.add_argument("--model", help="the unlearned model (folder)")
    au.add_argument("--adapter", help="its PEFT adapter, where it has one")
    au.add_argument("--target", help="the model before unlearning (folder)")
    au.add_argument("--scenario", help="the scenario it unlearned (registered task)")
    au.add_argument("--request", help="the request: a file of patient ids, one per line")
    au.add_argument("--reference", action="append", metavar="DIR", help="a model that "
                    "never saw the forget set (oracle; repeatable: 4 or more use U-LiRA)")
    au.add_argument("--task-args", type=_kv, metavar="K=V,...", default=None)
    au.add_argument("--level", type=float, default=0.05, help="false discovery rate level")
    au.add_argument("--statistic", default="mia_loss", help="membership score per record: "
                    "mia_loss, mia_zlib, mia_min_k, mia_min_k_pp")
    au.add_argument("--membership", default="rank", choices=("rank", "empirical"),
                    help="membership test without 4 references: empirical (patients against "
                    "holdout patients) or rank (records against holdout records)")
    au.add_argument("--attacks", type=_attacks, default=[], metavar="A,A[K=V],...",
                    help="attack the model too and test each attacked model (a patient "
                    "recovered under an attack is not forgotten); 'medlethe attacks' lists them")
    au.add_argument("--salt-file", help="the requester's salt for the patient keys "
                    "(default: a new one, written beside the record for the requester)")
    au.add_argument("--output", default="medlethe-audit", help="folder of the record")
    au.add_argument("--quiet", action="store_true", help="no progress bars")
    au.set_defaults(func=_cmd_audit)


def _method_args(items: dict[str, Any], flag: str = "--method-args"
                 ) -> dict[str, dict[str, Any]]:
    """``{"NPO.beta": 0.2}`` -> ``{"NPO": {"beta": 0.2}}``."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in items.items():
        method, sep, param = key.rpartition(".")
        if not sep or not method:
            raise MedletheError(f"{flag} takes NAME.PARAM=VALUE, got {key!r}")
        out.setdefault(method, {})[param] = value
    return out


def _cmd_unlearn(args: argparse.Namespace) -> int:
    from medlethe.training.pipeline import finetune, load_scenario
    from medlethe.unlearn.pipeline import build_method, unlearn

    registry = _registry(args)
    build_method(args.method, args.params, registry=registry)  # fail before fine-tuning
    task = load_scenario(args.scenario, args.task_args, registry=registry)
    target = finetune(args.model, task, "train", config=_train_config(args.model, {}, task))
    result = unlearn(args.method, task, target, args.model, params=args.params,
                     registry=registry)
    if not _main_process():
        return 0
    state = "cached" if result.cached else f"done in {result.seconds:.0f} s"
    where = result.output.adapter or result.output.path
    kind = "adapter" if result.output.adapter else "model"
    print(f"{args.method} ({state}): {kind} {where}")
    return 0


def _cmd_leaderboard_build(args: argparse.Namespace) -> int:
    from medlethe.leaderboard import build_site

    report = build_site(args.results, args.out, _registry(args))
    runs = sum(len(s.runs) for s in report.accepted)
    print(f"accepted {len(report.accepted)} submission(s), {runs} run(s)")
    for src, reason in report.rejected:
        print(f"rejected {src}: {reason}", file=sys.stderr)
    print(f"leaderboard: {report.index.resolve()}")
    return 0


def _cmd_leaderboard_validate(args: argparse.Namespace) -> int:
    from medlethe.leaderboard import SubmissionError, validate_submission
    from medlethe.leaderboard.validate import Known

    status = 0
    known = Known(_registry(args))
    for path in args.files:
        try:
            sub = validate_submission(path, known=known)
        except SubmissionError as exc:
            print(f"rejected: {exc}", file=sys.stderr)
            status = 1
        else:
            print(f"ok: {path} ({len(sub.runs)} run(s))")
    return status


def _cmd_leaderboard_submit(args: argparse.Namespace) -> int:
    from medlethe.leaderboard import SubmissionError
    from medlethe.leaderboard.submit import submit, unmet
    from medlethe.leaderboard.validate import Known

    try:
        sub = submit(args.results, args.name, into=args.into, known=Known(_registry(args)),
                     force=args.force, by=args.by)
    except SubmissionError as exc:
        print(f"rejected (nothing written): {exc}", file=sys.stderr)
        return 1
    if unmet(sub):
        print(f"medlethe: warning: failed preconditions ({', '.join(unmet(sub))}) submitted "
              "with --force: those cells are greyed and never ranked.", file=sys.stderr)
    print(f"wrote {sub.source}: {len(sub.runs)} run(s), {len(sub.sweeps)} sweep summary(ies); "
          "add it in a pull request (git add it, commit, push).")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from medlethe.report.text import print_report

    if (Path(args.run_dir) / "aggregate.json").exists():
        from medlethe.sweep.html import headline_tables, markdown
        from medlethe.sweep.report import load_aggregate

        doc = load_aggregate(args.run_dir)
        for table in headline_tables(doc):
            print(f"\n{table['scenario']}\n")
            print(markdown(doc, table["scenario"]))
        print(f"\nreport: {Path(args.run_dir) / 'index.html'}")
        return 0

    print_report(args.run_dir, heatmap=not args.no_heatmap, as_markdown=args.markdown)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from medlethe.judge import compare_files
    from medlethe.results import read_results

    refs = {r: v for r, v in (("target", args.target), ("oracle", args.oracle)) if v}
    if not refs:
        raise MedletheError("medlethe compare needs --target and/or --oracle (a results file "
                            "or a run id in the same folder).")
    from medlethe.metrics.preconditions import warn

    before = len(read_results(args.results).metrics)
    res = compare_files(args.results, refs, registry=_registry(args)).results
    print(f"{args.results}: {len(res.metrics) - before} comparison results added "
          f"(references: {res.references})")
    warn(res.preconditions)
    return 0


def _cmd_plugins(args: argparse.Namespace) -> int:
    import shutil
    import textwrap

    reg = _registry(args)
    rows = [[p.name, p.distribution, p.version] for p in reg.plugins]
    lines = _table([[*r, ""] for r in rows], ["plugin", "distribution", "version",
                                               "components"]).splitlines()
    indent = len(lines[0]) - len("components")
    width = max(shutil.get_terminal_size((100, 24)).columns, indent + 40)
    print("\n".join(lines[:2]))
    for line, p in zip(lines[2:], reg.plugins, strict=True):
        comps = ", ".join(f"{c.kind}:{c.name}" for c in reg.of_plugin(p.name)) or "-"
        wrapped = textwrap.wrap(comps, width - indent, break_on_hyphens=False) or ["-"]
        print(line.ljust(indent) + wrapped[0])
        for more in wrapped[1:]:
            print(" " * indent + more)
    return 0


def _cmd_list(kind: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        reg = _registry(args)
        if getattr(args, "params", None):
            return _method_params(reg, args.params)
        if getattr(args, "args", None):
            return _task_args(reg, args.args)
        rows = [
            [c.name, c.plugin.name, c.summary()]
            for c in (reg.components[kind][n] for n in reg.names(kind))
        ]
        print(_table(rows, [kind, "plugin", "description"]))
        if kind == "task":
            print("\n'medlethe tasks --args NAME' shows the --task-args a task takes.")
        return 0

    return run


def _task_args(reg: Any, name: str) -> int:
    """``medlethe tasks --args NAME``: the ``--task-args`` a task takes."""
    import inspect

    rows = [[arg, "(required)" if default is inspect.Parameter.empty else repr(default)]
            for arg, default in reg.get("task", name).arguments()]
    if not rows:
        print(f"task {name} takes no --task-args")
        return 0
    print(_table(rows, ["argument", "default"]))
    print(f"\ngive them as --task-args KEY=VALUE,... (e.g. {rows[0][0]}=...)")
    return 0


def _method_params(reg: Any, name: str) -> int:
    """``medlethe methods --params NAME``: a method's hyperparameters."""
    from medlethe.unlearn.pipeline import build_method

    _, method = build_method(name, registry=reg)
    rows = []
    for field, info in type(method.params).model_fields.items():
        default = getattr(method.params, field)
        kind = getattr(info.annotation, "__name__", None) or str(info.annotation)
        rows.append([field, kind, repr(default),
                     info.description or ""])
    print(_table(rows, ["parameter", "type", "default", "description"]))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from medlethe.errors import UnknownComponentError
    from medlethe.task.yaml_task import ConfigTask

    registry = _registry(args)
    for path in args.files:
        task = ConfigTask.from_file(path)
        for spec in task.metric_specs():  # every metric it names must be installed
            try:
                registry.get("metric", spec.name)
            except UnknownComponentError as exc:
                raise MedletheError(f"{path}: metrics: {exc}") from exc
        sizes = []
        for split in task.split_names():  # the data too: every row must become an instance
            n = len(task.instances(split))
            if n == 0:
                raise MedletheError(
                    f"{path}: split {split!r} has no rows; check its data file and 'where:'."
                )
            sizes.append(f"{split} {n}")
        print(f"ok: {path} (task {task.name!r}, version {task.version}, {task.output_type}; "
              f"rows: {', '.join(sizes)})")
    return 0


def _seeds(value: str) -> list[int]:
    try:
        return [int(v) for v in _csv(value)]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--seeds takes whole numbers, e.g. 0,1,2: {exc}") from exc


def _spec_flag(p: argparse.ArgumentParser) -> Callable[..., None]:
    """A flag adder for the fields of the run spec: ``--field-name``, its help the field's
    description and its default, and absent from the parsed namespace unless given (so
    that ``--spec``'s values stand)."""
    from medlethe.spec import RunSpec

    def flag(name: str, help_extra: str = "", **kwargs: Any) -> None:
        field = RunSpec.model_fields[name]
        default = field.get_default(call_default_factory=True)
        shown = f" (default: {default})" if default not in (None, {}, [], False) else ""
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, default=argparse.SUPPRESS,
                       help=f"{field.description}{help_extra}{shown}", **kwargs)

    return flag


def _sweep_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seeds", type=_seeds, metavar="S,S,...",
                   help="training seeds: run everything once per seed, aggregate across them")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="run jobs in this process (local) or as Ray tasks (ray)")
    p.add_argument("--ray-address", help="a Ray cluster's address (default: start Ray here)")


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
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an unexpected error")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="CPU threads for torch (default: torch's own, one per core); "
                             "on a shared machine give the cores you may use")
    sub = parser.add_subparsers(dest="command", required=True)

    _add_evaluate(sub)
    _add_finetune(sub)
    _add_run(sub)
    _add_new(sub)
    _add_sweep(sub)
    _add_audit(sub)
    _add_unlearn(sub)
    _add_report(sub)
    _add_compare(sub)
    _add_listers(sub)
    _add_leaderboard(sub)
    _add_validate(sub)
    return parser


def _add_evaluate(sub: Any) -> None:
    """``medlethe evaluate``."""
    ev = sub.add_parser("evaluate", help="evaluate a model on tasks and write results")
    ev.add_argument("--model", required=True, help="hub id or local model folder")
    ev.add_argument("--adapter", help="a PEFT adapter folder applied on top of the model")
    ev.add_argument("--backend", default="hf", help="backend name (default: hf)")
    ev.add_argument("--backend-args", type=_kv, default={}, metavar="K=V,...",
                    help="backend arguments, e.g. batch_size=8,dtype=bfloat16")
    ev.add_argument("--tasks", type=_csv, required=True,
                    help="comma-separated task names or YAML paths")
    ev.add_argument("--splits", type=_csv, help="only these splits (comma-separated)")
    ev.add_argument("--task-args", type=_kv, default={}, metavar="K=V,...",
                    help="arguments for registered tasks, e.g. n_patients=440,seed=1")
    ev.add_argument("--output", help="folder for results_<run>.json")
    ev.add_argument("--limit", type=int, help="first N rows of each split (for smoke tests)")
    ev.add_argument("--log-samples", action="store_true",
                    help="also write per-sample prompts and answers (may hold patient text)")
    ev.add_argument("--cache", help="SQLite response cache file (default ~/.cache/medlethe)")
    ev.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    ev.add_argument("--seed", type=int, default=1234)
    ev.add_argument("--apply-chat-template", action="store_true",
                    help="wrap prompts in the model's chat template (as lm-eval's flag)")
    ev.add_argument("--system-instruction", help="a system turn before each prompt "
                    "(with --apply-chat-template)")
    ev.set_defaults(func=_cmd_evaluate)


def _add_finetune(sub: Any) -> None:
    """``medlethe finetune``."""
    ft = sub.add_parser("finetune", help="fine-tune a target (on train) or an oracle (on retain)")
    ft.add_argument("--model", required=True, help="tiny, smollm2-135m, a hub id or a folder")
    ft.add_argument("--scenario", required=True, help="a task with training data")
    ft.add_argument("--on", choices=("train", "retain"), required=True,
                    help="train: the target model; retain: the oracle")
    ft.add_argument("--task-args", type=_kv, default={}, metavar="K=V,...")
    ft.add_argument("--train-args", type=_kv, default={}, metavar="K=V,...",
                    help="override hyperparameters, e.g. qa_epochs=10,lora_rank=8")
    ft.set_defaults(func=_cmd_finetune)


def _add_run(sub: Any) -> None:
    """``medlethe run``: one flag per field of the run spec."""
    rn = sub.add_parser(
        "run", help="fine-tune target and oracle, evaluate them on every split, summarise",
        description="Each flag sets a field of the run spec (medlethe.RunSpec), recorded "
        "in every results file; --spec FILE starts from a spec file or a results file's "
        "spec (the flags given replace its fields).",
    )
    rn.add_argument("--spec", metavar="FILE",
                    help="a run spec (JSON), or a results file whose recorded spec to run again")
    flag = _spec_flag(rn)
    flag("model")
    flag("scenario", action="append", help_extra="; repeat it, or give a comma-separated "
         "list, to sweep several")
    flag("output")
    flag("backend")
    flag("backend_args", type=_kv, metavar="K=V,...")
    flag("task_args", type=_kv, metavar="K=V,...")
    flag("splits", type=_csv, metavar="S,S,...")
    flag("limit", type=int, metavar="N")
    flag("log_samples", action="store_true")
    flag("methods", type=_csv, metavar="M,M,...", help_extra="; '' for none")
    flag("method_args", type=_kv, metavar="M.K=V,...")
    flag("attacks", type=_attacks, metavar="A,A[K=V],...")
    flag("attack_args", type=_kv, metavar="A.K=V,...")
    flag("train_args", type=_kv, metavar="K=V,...")
    flag("seed", type=int)
    flag("cache", metavar="FILE")
    rn.add_argument("--no-cache", dest="cache", action="store_false",
                    default=argparse.SUPPRESS, help="do not read or write the response cache")
    flag("utility_tasks", action="append", metavar="lmeval:TASK[,TASK...]")
    flag("utility_args", type=_kv, metavar="K=V,...")
    _sweep_flags(rn)
    rn.set_defaults(func=_cmd_run)


def _add_new(sub: Any) -> None:
    """``medlethe new method|kind``."""
    nw = sub.add_parser("new", help="write a plugin package from a template")
    nw_sub = nw.add_subparsers(dest="what", required=True)
    nm = nw_sub.add_parser("method", help="an installable plugin with one loss method and tests")
    nm.add_argument("name", help="the method's name, e.g. MyLoss")
    nm.add_argument("--output", default=".", help="folder to write the package folder into")
    nm.set_defaults(func=_cmd_new_method)
    nk = nw_sub.add_parser("kind", help="an installable plugin with a kind of task (its model "
                           "family, backend, task, method and metrics) and a test")
    nk.add_argument("name", help="the kind's name (the output_type of its tasks), e.g. ehr-rows")
    nk.add_argument("--output", default=".", help="folder to write the package folder into")
    nk.set_defaults(func=_cmd_new_kind)


def _add_sweep(sub: Any) -> None:
    """``medlethe sweep``."""
    sw = sub.add_parser("sweep", help="run a plan: scenarios x methods x seeds, locally or on Ray")
    sw.add_argument("plan", nargs="?", help="a plan YAML file (docs/sweeps.md); or give "
                    "--scenario")
    sw.add_argument("--output", help="output folder (default: the plan's, else medlethe-sweep)")
    sw.add_argument("--scenario", type=_csv, metavar="S,S,...",
                    help="scenarios (over the plan's)")
    sw.add_argument("--model", help="base model (over the plan's)")
    sw.add_argument("--front", type=_csv, metavar="M,M,...", help="trace these methods' "
                    "fronts over their search spaces (docs/fronts.md)")
    sw.add_argument("--budget-minutes", type=float, metavar="MIN", help="wall-clock "
                    "minutes for method jobs; the rest are left for the next run")
    _sweep_flags(sw)
    sw.set_defaults(func=_cmd_sweep)


def _add_unlearn(sub: Any) -> None:
    """``medlethe unlearn``."""
    ul = sub.add_parser("unlearn", help="unlearn a scenario's forget set from its target")
    ul.add_argument("--method", required=True, help="a registered method ('medlethe methods')")
    ul.add_argument("--scenario", required=True)
    ul.add_argument("--model", default="tiny", help="the base model the target is built from")
    ul.add_argument("--params", type=_kv, default={}, metavar="K=V,...",
                    help="method hyperparameters, e.g. learning_rate=1e-3,epochs=3")
    ul.add_argument("--task-args", type=_kv, default={}, metavar="K=V,...")
    ul.set_defaults(func=_cmd_unlearn)


def _add_report(sub: Any) -> None:
    """``medlethe report``."""
    rp = sub.add_parser("report", help="print a run folder's metrics; draw the collateral heatmap")
    rp.add_argument("run_dir", help="the --output folder of medlethe run")
    rp.add_argument("--no-heatmap", action="store_true", help="do not write collateral.png")
    rp.add_argument("--markdown", action="store_true",
                    help="print only a compact headline table in Markdown")
    rp.set_defaults(func=_cmd_report)


def _add_compare(sub: Any) -> None:
    """``medlethe compare``."""
    cp = sub.add_parser(
        "compare", help="add comparison metrics (AFE, MU, forget quality, ...) to a results file"
    )
    cp.add_argument("results", help="the results file of the model to judge")
    cp.add_argument("--target", help="results file or run id of the model before unlearning")
    cp.add_argument("--oracle", help="results file or run id of the oracle (never saw forget)")
    cp.set_defaults(func=_cmd_compare)


def _add_listers(sub: Any) -> None:
    """``medlethe plugins`` and the listings (``medlethe kinds``, ``tasks``, ...)."""
    sub.add_parser("plugins", help="list plugins, distributions and components").set_defaults(
        func=_cmd_plugins
    )
    for kind in ("kind", "task", "method", "metric", "backend"):
        lister = sub.add_parser(f"{kind}s", help=f"list registered {kind}s"
                                + (" of task (output types)" if kind == "kind" else ""))
        lister.set_defaults(func=_cmd_list(kind))
        if kind == "method":
            lister.add_argument("--params", metavar="NAME",
                                help="show one method's hyperparameters and defaults")
        if kind == "task":
            lister.add_argument("--args", metavar="NAME",
                                help="show the --task-args one task takes, with defaults")
    sub.add_parser("analyses", help="list registered sweep analyses").set_defaults(
        func=_cmd_list("analysis"))
    sub.add_parser("attacks", help="list registered attacks on unlearned models").set_defaults(
        func=_cmd_list("attack"))


def _add_leaderboard(sub: Any) -> None:
    """``medlethe leaderboard build|validate|submit``."""
    lb = sub.add_parser("leaderboard", help="build or check the static leaderboard")
    lb_sub = lb.add_subparsers(dest="leaderboard_command", required=True)
    lbb = lb_sub.add_parser("build", help="build the site from results files or folders")
    lbb.add_argument("results", nargs="+", help="results files, or folders of them")
    lbb.add_argument("--out", required=True, help="folder for the site (index.html)")
    lbb.set_defaults(func=_cmd_leaderboard_build)
    lbv = lb_sub.add_parser("validate", help="check submissions (results files or run folders)")
    lbv.add_argument("files", nargs="+")
    lbv.set_defaults(func=_cmd_leaderboard_validate)
    lbs = lb_sub.add_parser(
        "submit", help="validate results and write them as a submission folder for a pull request"
    )
    lbs.add_argument("results", nargs="+",
                     help="results files, run folders, a sweep folder or its sweep_summary.json")
    lbs.add_argument("--name", required=True, help="the submission's folder name")
    lbs.add_argument("--by", required=True,
                     help="who submits: a team, group or handle, shown with the date on the "
                          "leaderboard")
    lbs.add_argument("--into", help="where submissions live (default: leaderboard/submissions "
                     "of the medlethe checkout you are in)")
    lbs.add_argument("--force", action="store_true",
                     help="submit although a run's knowledge precondition failed")
    lbs.set_defaults(func=_cmd_leaderboard_submit)


def _add_validate(sub: Any) -> None:
    """``medlethe validate``."""
    va = sub.add_parser("validate", help="validate task YAML files and their data")
    va.add_argument("files", nargs="+")
    va.set_defaults(func=_cmd_validate)


def _set_threads(n: int | None) -> None:
    """``--threads N``: torch's CPU threads for this command (recorded in every results
    file as ``environment.hardware.torch_threads``)."""
    if n is None:
        return
    if n < 1:
        raise MedletheError(f"--threads takes a whole number >= 1, got {n}.")
    import os

    import torch

    os.environ["OMP_NUM_THREADS"] = str(n)  # Ray workers and subprocesses follow it
    torch.set_num_threads(n)


#: the commands that train, and so run in every process of ``accelerate launch``
LAUNCHED = ("run", "finetune", "unlearn")


def _check_launch(command: str) -> None:
    """Refuse a command that does not train under a launch of several processes (each
    process would do the whole of it and write the same files)."""
    from medlethe.training.device import launched

    n = launched()
    if n > 1 and command not in LAUNCHED:
        raise MedletheError(
            f"medlethe {command} runs in one process, not in the {n} of `accelerate launch`; "
            f"only {', '.join(LAUNCHED)} train across processes. Run it without accelerate "
            "launch.")


def _main_process() -> bool:
    from medlethe.training.device import is_main

    return is_main()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _set_threads(args.threads)
        _check_launch(args.command)
        result: int = args.func(args)
        return result
    except MedletheError as exc:
        if args.debug:
            raise
        print(f"medlethe: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (``medlethe ... | head``): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the last resort: one line, the traceback on request
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
        print(f"medlethe: error: {args.command} stopped on an unexpected "
              f"{type(exc).__name__}: {first}\nRerun with --debug (medlethe --debug "
              f"{args.command} ...) for the traceback, and report it if it looks like a bug.",
              file=sys.stderr)
        return 1
