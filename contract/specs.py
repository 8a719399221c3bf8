"""The base of every frozen job spec: JSON round trip driven by the dataclass field types.

A spec is a frozen dataclass deriving from `JsonSpec` (DESIGN.md example 4). It is stored as
JSON beside every result, so each number can be traced to exactly what produced it, and a
job reads it back from the `jobs` table. `from_dict` rebuilds every field from its declared
type (nested specs, tuples of specs, `X | None`, `tuple[str, ...]`, (name, value) pairs), and
refuses unknown fields and values of the wrong type with a message naming the field, so a
hand-edited or hostile spec fails with one clear line instead of deep inside a job.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar, Union

S = TypeVar("S", bound="JsonSpec")
_PRIMITIVES = (bool, int, float, str)


class JsonSpec:
    """Mixin of the frozen spec dataclasses: `to_dict`/`to_json` and `from_dict`/`from_json`."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: nested specs as dicts, tuples as lists."""
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal specs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls: type[S], data: dict[str, Any]) -> S:
        """Rebuild a spec from `to_dict()` output.

        Raises:
            ValueError: not a dict, an unknown field (the message lists the valid ones), a
                value of the wrong type, or whatever the spec's own checks refuse.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        data = cls.upgrade_fields(data)
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown fields {unknown}; valid: {sorted(names)}")
        hints = typing.get_type_hints(cls)
        values = {k: _load(hints[k], v, f"{cls.__name__}.{k}") for k, v in data.items()}
        try:
            return cls(**values)
        except TypeError as exc:  # a required field is missing
            raise ValueError(f"{cls.__name__}: {exc}") from exc

    @classmethod
    def upgrade_fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        """`data` in today's layout of the spec, from an older one stored with an older job
        (a spec class that changed its layout overrides this); the base keeps it as it is."""
        return data

    @classmethod
    def from_json(cls: type[S], text: str) -> S:
        """Rebuild a spec from `to_json()` output.

        Raises:
            ValueError: text that is not JSON, or see `from_dict`.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{cls.__name__}: not JSON ({exc})") from exc
        return cls.from_dict(data)


def get_spec_default(cls: type[JsonSpec], name: str) -> Any:
    """The default of field `name` of a spec class: the single source of a default that a
    page's widget or a CLI option shows.

    Raises:
        ValueError: no such field, or a field without a default.
    """
    for spec_field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if spec_field.name != name:
            continue
        if spec_field.default is not dataclasses.MISSING:
            return spec_field.default
        if spec_field.default_factory is not dataclasses.MISSING:
            return spec_field.default_factory()
        raise ValueError(f"{cls.__name__}.{name} has no default")
    raise ValueError(f"{cls.__name__} has no field {name!r}")


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    """`value` when it is one of `choices`.

    Raises:
        ValueError: "<name> must be one of <choices>, got <value>".
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def list_spec_classes() -> list[type[JsonSpec]]:
    """Every spec class defined so far (subclasses of subclasses included), by name."""
    found, stack = {}, list(JsonSpec.__subclasses__())
    while stack:
        cls = stack.pop()
        found[f"{cls.__module__}.{cls.__qualname__}"] = cls
        stack.extend(cls.__subclasses__())
    return [found[k] for k in sorted(found)]


def _dump(value: Any) -> Any:
    if isinstance(value, JsonSpec):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _dump(v) for k, v in value.items()}
    return value


def _load(hint: Any, value: Any, where: str) -> Any:
    """`value` (parsed JSON) as the type `hint` declares."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return _freeze(value)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        arms = [a for a in args if a is not type(None)]
        errors = []
        for arm in arms:
            try:
                return _load(arm, value, where)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits no type")
    if isinstance(hint, type) and issubclass(hint, JsonSpec):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object ({hint.__name__}), got {value!r}")
        return hint.from_dict(value)
    if origin is tuple:
        return _load_tuple(args, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {value!r}")
        return {k: _load(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
    if hint in _PRIMITIVES:
        return _load_primitive(hint, value, where)
    return value


def _load_tuple(args: tuple, value: Any, where: str) -> tuple:
    if isinstance(value, dict):  # (name, value) pairs may be written as an object
        value = sorted(value.items())
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: expected a list, got {value!r}")
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_load(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if len(args) != len(value):
        raise ValueError(f"{where}: expected {len(args)} items, got {len(value)}")
    return tuple(
        _load(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
    )


def _load_primitive(hint: type, value: Any, where: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        raise ValueError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _freeze(value: Any) -> Any:
    """Lists as tuples (recursively), so a loaded spec stays hashable and equal to the saved."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value
