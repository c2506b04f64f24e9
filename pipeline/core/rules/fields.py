"""The registry's parameters as pydantic fields: of the settings, and of the site spec.

Both are built from the same declarations (:class:`pipeline.core.rules.registry.Param`),
so a bound written once holds for ``MEGAWATCH_STALE_HOLD_S`` and for a spec's
``stale_hold_s`` alike.

* :func:`setting_fields`: every parameter, with its default (the settings' fields);
* :func:`spec_fields`: the parameters a site may override, optional (unset: the
  worker's setting); a parameter whose ``spec`` is ``object.key`` is a key of a nested
  object (``loss_warn: {"fabric": .., "wan": ..}``), unknown keys refused; then the
  rules' structured fields (:class:`pipeline.core.rules.registry.SpecField`), optional
  too (unset: the field's default).
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipeline.core.rules.registry import Param, registry


def setting_fields() -> dict[str, Any]:
    """Field name -> (type, FieldInfo) of every rule parameter, for ``create_model``."""
    return {
        param.name: (param.kind, Field(param.default, description=param.doc, **param.bounds))
        for param in registry().params
    }


@cache
def spec_fields() -> dict[str, Any]:
    """Spec field name -> its annotation (optional, default None), in declaration order.
    Cached: pydantic reuses the nested models' definitions by identity."""
    groups: dict[str, list[Param[Any]]] = {}
    out: dict[str, Any] = {}
    for param in registry().spec_params:
        name, _, key = (param.spec or "").partition(".")
        if key:
            groups.setdefault(name, []).append(param)
            out.setdefault(name, None)  # keeps the declaration order
        else:
            out[name] = _optional(_bounded(param), param.doc)
    for name, params in groups.items():
        keys = ", ".join(p.spec.partition(".")[2] for p in params if p.spec)
        out[name] = _optional(_nested(name, tuple(params)), f"one value per key ({keys})")
    for structured in registry().fields:
        out[structured.name] = Annotated[
            structured.annotation | None, Field(description=f"{structured.doc}; unset: none")
        ]
    return out


def _bounded(param: Param[Any]) -> Any:
    return Annotated[param.kind, Field(**param.bounds)]


def _optional(annotation: Any, doc: str) -> Any:
    return Annotated[annotation | None, Field(description=f"{doc}; unset: the worker's setting")]


def _nested(name: str, params: tuple[Param[Any], ...]) -> type[BaseModel]:
    """The object of a nested spec field: one optional key per parameter."""
    title = "".join(part.title() for part in name.split("_"))
    fields: dict[str, Any] = {
        (p.spec or "").partition(".")[2]: (_bounded(p) | None, Field(None, description=p.doc))
        for p in params
    }
    return create_model(
        title,
        __config__=ConfigDict(extra="forbid", frozen=True),
        __doc__=f"{name} per key; a key left out: the worker's setting",
        **fields,
    )
