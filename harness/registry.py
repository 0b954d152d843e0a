"""The plugin registry: built once per process, lazily, from the ``medlethe`` entry points."""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal

import pluggy

from medlethe import hookspecs
from medlethe.errors import (
    MedletheError,
    MissingDependencyError,
    PluginError,
    UnknownComponentError,
)

#: the families of components (a task's "kind", the kind of work it asks for, is one)
Kind = Literal["kind", "task", "method", "metric", "backend", "analysis", "attack"]
KINDS: tuple[Kind, ...] = ("kind", "task", "method", "metric", "backend", "analysis", "attack")
_HOOKS: dict[Kind, str] = {
    "kind": "register_kinds",
    "task": "register_tasks",
    "method": "register_methods",
    "metric": "register_metrics",
    "backend": "register_backends",
    "analysis": "register_analyses",
    "attack": "register_attacks",
}
ENTRY_POINT_GROUP = "medlethe"
OWN_DISTRIBUTION = "medlethe"
ENV_DISABLE_AUTOLOAD = "MEDLETHE_DISABLE_PLUGIN_AUTOLOAD"
ENV_DISABLE = "MEDLETHE_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin: its entry-point name and the distribution that ships it."""

    name: str
    module: str
    distribution: str
    version: str


def _by_keyword(param: inspect.Parameter) -> bool:
    """Whether a keyword argument sets ``param``: keyword-only, or positional-or-keyword
    with a default (``self`` aside)."""
    sort = param.kind
    return param.name != "self" and (sort is param.KEYWORD_ONLY or (
        sort is param.POSITIONAL_OR_KEYWORD and param.default is not param.empty))


def _takes_any_keyword(params: Sequence[inspect.Parameter]) -> bool:
    """Whether the signature ends in ``**kwargs``."""
    return inspect.Parameter.VAR_KEYWORD in {p.kind for p in params}


@dataclass(frozen=True)
class Component:
    """A registered task, method, metric or backend. ``target`` is imported on first use."""

    kind: Kind
    name: str
    target: Any
    plugin: PluginInfo
    description: str = ""
    #: a metric over whole runs (:class:`medlethe.metrics.RunMetric`), found without
    #: importing every answer metric
    run_metric: bool = False

    def load(self) -> Any:
        """The factory, importing it first when it was registered as ``"module:attr"``."""
        if not isinstance(self.target, str):
            return self.target
        module_name, _, attr = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except MissingDependencyError:
            raise
        except ImportError as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} of plugin {self.plugin.name!r} "
                f"({self.plugin.distribution}) could not import {module_name!r}: {exc}. "
                "Reinstall that distribution or disable it with "
                f"'medlethe -p no:{self.plugin.name}'."
            ) from exc
        try:
            return getattr(module, attr)
        except AttributeError as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} of plugin {self.plugin.name!r}: module "
                f"{module_name!r} has no attribute {attr!r}; fix the factory string."
            ) from exc

    def build(self, **kwargs: Any) -> Any:
        """Call the factory; name what it built (a :class:`~medlethe.hookspecs.Named`) after
        this registration. An error the factory raises is prefixed with the component."""
        try:
            built = self.load()(**kwargs)
        except MedletheError as exc:
            raise type(exc)(f"{self.kind} {self.name!r} ({self.plugin.name}): {exc}") from exc
        if isinstance(built, hookspecs.Named):
            built.name = self.name
            built.plugin = self.plugin.name
        return built

    def build_as(self, expected: type, public: str,
                 error: type[MedletheError] = PluginError, **kwargs: Any) -> Any:
        """:meth:`build`, checked: a factory that builds anything but an ``expected``
        (``public``: its public name) is an ``error`` naming the component and its plugin."""
        built = self.build(**kwargs)
        if not isinstance(built, expected):
            raise error(f"{self.kind} {self.name!r} of plugin {self.plugin.name!r}: its "
                        f"factory returned {type(built).__name__}, not a {public}.")
        return built

    def arguments(self) -> list[tuple[str, Any]]:
        """The keyword arguments the factory takes (``--task-args``), with defaults
        (``inspect.Parameter.empty`` where required). A factory that passes ``**kwargs`` on
        names what it passes them to with an ``arguments_of`` attribute (a callable that
        returns it, so that it is imported only when asked)."""
        found = self._parameters()
        params = found[0] if found is not None else []
        return [(p.name, p.default) for p in params if _by_keyword(p)]

    def _parameters(self) -> tuple[list[inspect.Parameter], bool] | None:
        """The parameters of the factory (or of what its ``arguments_of`` names) and whether
        they are the factory's own; ``None`` where there is no signature to read."""
        factory = self.load()
        of = getattr(factory, "arguments_of", None)
        target = of() if callable(of) else factory
        try:
            return list(inspect.signature(target).parameters.values()), target is factory
        except (TypeError, ValueError):
            return None

    def check_arguments(self, given: Iterable[str], flag: str) -> None:
        """An error naming each argument in ``given`` that the factory does not take, the
        closest known one and the whole list (``flag``: where the user wrote it). A factory
        taking ``**kwargs`` without ``arguments_of`` is not checked."""
        found = self._parameters()
        if found is None:
            return
        params, own = found
        if own and _takes_any_keyword(params):
            return
        known = [n for n, _ in self.arguments()]
        for name in given:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise MedletheError(
                    f"{self.kind} {self.name!r} takes no argument {name!r} ({flag}).{hint} "
                    f"It takes: {', '.join(known) or 'none'}."
                )

    def summary(self) -> str:
        """The registered description, else the first line of the factory's docstring."""
        if self.description:
            return self.description
        try:
            doc = inspect.getdoc(self.load()) or ""
        except MedletheError as exc:
            return f"(unavailable: {exc})"
        return doc.splitlines()[0] if doc else ""


@dataclass
class Registry:
    plugins: list[PluginInfo] = field(default_factory=list)
    components: dict[Kind, dict[str, Component]] = field(
        default_factory=lambda: {k: {} for k in KINDS}
    )

    def add(self, component: Component) -> None:
        table = self.components[component.kind]
        other = table.get(component.name)
        if other is not None:
            # the fix is in the plugin that is not medlethe's own (disabling a built-in
            # plugin would switch off every built-in component of its kind)
            third = component if other.plugin.distribution == OWN_DISTRIBUTION else other
            raise PluginError(
                f"{component.kind} name {component.name!r} is registered twice: by plugin "
                f"{other.plugin.name!r} ({other.plugin.distribution}) and by plugin "
                f"{component.plugin.name!r} ({component.plugin.distribution}). Rename or "
                f"namespace it in {third.plugin.distribution} (e.g. "
                f"'{third.plugin.name}/{component.name.rsplit('/', 1)[-1]}'), or skip that "
                f"plugin with 'medlethe -p no:{third.plugin.name}'."
            )
        table[component.name] = component

    def get(self, kind: Kind, name: str) -> Component:
        table = self.components[kind]
        if name in table:
            return table[name]
        close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownComponentError(
            f"Unknown {kind} {name!r}.{hint} 'medlethe {kind}s' lists the {kind}s that the "
            "installed plugins register; a missing one may need 'pip install' of its plugin."
        )

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.components[kind])

    def of_plugin(self, plugin: str) -> list[Component]:
        return [c for k in KINDS for c in self.components[k].values() if c.plugin.name == plugin]


def _disabled_from_env() -> set[str]:
    raw = os.environ.get(ENV_DISABLE, "")
    return {p.strip() for p in raw.split(",") if p.strip()}


def _autoload_disabled() -> bool:
    return os.environ.get(ENV_DISABLE_AUTOLOAD, "").strip().lower() not in ("", "0", "false")


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def build_registry(disabled: Iterable[str] = ()) -> Registry:
    """Load every plugin (minus ``disabled``) and collect what it registers."""
    disabled = set(disabled)
    blocked = disabled | _disabled_from_env()
    autoload = not _autoload_disabled()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    infos: dict[str, PluginInfo] = {}
    seen_own = False
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        seen_own = seen_own or dist == OWN_DISTRIBUTION
        if ep.name in blocked or (not autoload and dist != OWN_DISTRIBUTION):
            continue
        if ep.name in infos:
            raise PluginError(
                f"Two distributions declare a medlethe plugin named {ep.name!r}: "
                f"{infos[ep.name].distribution} and {dist}. Uninstall one."
            )
        try:
            module = ep.load()
        except MissingDependencyError:
            raise
        except Exception as exc:
            raise PluginError(
                f"Plugin {ep.name!r} from distribution {dist} failed to load ({ep.value}): "
                f"{exc}. Fix or uninstall it, or skip it with 'medlethe -p no:{ep.name}'."
            ) from exc
        version = ep.dist.version if ep.dist is not None else "unknown"
        infos[ep.name] = PluginInfo(ep.name, ep.value, dist, version)
        pm.register(module, name=ep.name)
    if not seen_own:
        raise PluginError(
            "medlethe's own plugins are not installed (no 'medlethe' entry points found). "
            "Install the package, e.g. 'pip install -e .' from the repository root."
        )
    names = sorted({ep.name for ep in _entry_points()})
    for name in sorted(disabled - _disabled_from_env() - set(names)):  # -p flags only
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PluginError(
            f"-p no:{name}: no installed plugin is named {name!r}.{hint} 'medlethe plugins' "
            f"lists them: {', '.join(names)}."
        )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"Plugin {exc.plugin!r} implements a hook that medlethe does not define: {exc}. "
            "Check the spelling against medlethe/hookspecs.py."
        ) from exc
    registry.plugins = sorted(infos.values(), key=lambda p: p.name)
    for kind in KINDS:
        caller = getattr(pm.hook, _HOOKS[kind])
        for impl in caller.get_hookimpls():
            info = infos[impl.plugin_name]
            _call_impl(impl, kind, info, registry)
    return registry


def _call_impl(impl: Any, kind: Kind, info: PluginInfo, registry: Registry) -> None:
    def register(
        name: str, factory: Any, *, description: str = "", run_metric: bool = False
    ) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"Plugin {info.name!r} registered a {kind} with an empty name.")
        if run_metric and kind != "metric":
            raise PluginError(
                f"Plugin {info.name!r} registered {kind} {name!r} with run_metric=True, "
                "which only metrics take; remove it."
            )
        registry.add(Component(kind, name, factory, info, description, run_metric))

    kwargs = {"register": register}
    try:
        impl.function(**{a: kwargs[a] for a in impl.argnames})
    except MedletheError:
        raise
    except Exception as exc:
        raise PluginError(
            f"Plugin {info.name!r} ({info.distribution}) failed in {_HOOKS[kind]}: "
            f"{type(exc).__name__}: {exc}. Fix or upgrade it, or skip it with "
            f"'medlethe -p no:{info.name}'."
        ) from exc


_REGISTRIES: dict[frozenset[str], Registry] = {}


def get_registry(disabled: Iterable[str] = ()) -> Registry:
    """The process-wide registry for this set of disabled plugins, built on first use."""
    key = frozenset(disabled) | frozenset(_disabled_from_env())
    if key not in _REGISTRIES:
        _REGISTRIES[key] = build_registry(key)
    return _REGISTRIES[key]


def clear_registry_cache() -> None:
    """Forget built registries (tests that install or disable plugins call this)."""
    _REGISTRIES.clear()
