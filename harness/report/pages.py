"""The one Jinja2 environment of every page medlethe writes: a run's summary, a sweep's
page and the leaderboard's site."""

from __future__ import annotations

import functools
import json
from typing import Any


@functools.cache
def page_environment(*packages: str) -> Any:
    """Templates from each of ``packages``' ``templates`` folders first, then
    ``medlethe.report``'s; every value escaped (whatever a results file holds), an
    undefined name an error, and the filter ``tojson_pretty``."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(p, "templates")
                                    for p in (*packages, "medlethe.report")]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True)
    return env
