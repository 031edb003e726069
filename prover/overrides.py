"""Dotted command-line overrides of frozen dataclass configs: `model.encoder.num_steps=4`,
and the argument parser every command line uses (one-line errors, exit 2).

Unknown keys are rejected, values are coerced to the field's annotated type (and fail on a
mismatch), and each override is applied with `dataclasses.replace`, so `__post_init__`
validation runs again.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


class OverrideError(ValueError):
    """A bad `key=value` override."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (`springtail check: error: ... (see --help)`), exit 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _coerce(value: str, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value.lower() in ("none", "null") and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except OverrideError as e:
                errors.append(str(e))
        raise OverrideError("; ".join(errors))
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == value:
                return choice
        raise OverrideError(f"{key} must be one of {list(args)}, got {value!r}")
    if origin is tuple:
        parts = value.split(",")
        return tuple(_coerce(p, a, key) for p, a in zip(parts, args, strict=False))
    if annotation is bool:
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise OverrideError(f"{key} expects true or false, got {value!r}")
    if annotation in (int, float, str):
        try:
            return annotation(value)
        except ValueError:
            raise OverrideError(f"{key} expects {annotation.__name__}, got {value!r}") from None
    raise OverrideError(f"{key}: cannot set a field of type {annotation} from the command line")


def apply_override(cfg: T, key: str, value: str) -> T:
    """cfg with the dotted field `key` set from the string `value`."""
    head, _, rest = key.partition(".")
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise OverrideError(f"cannot override {key!r}: not a config")
    hints = typing.get_type_hints(type(cfg))
    names = [f.name for f in dataclasses.fields(cfg)]
    if head not in names:
        raise OverrideError(f"unknown config key {head!r} in {type(cfg).__name__}; known: {names}")
    current = getattr(cfg, head)
    if rest:
        new = apply_override(current, rest, value)
    elif dataclasses.is_dataclass(current):
        raise OverrideError(f"{key} is a group of settings: set one of its fields, e.g. {key}.x=")
    else:
        new = _coerce(value, hints[head], key)
    try:
        return dataclasses.replace(cfg, **{head: new})  # type: ignore[type-var]
    except (ValueError, TypeError) as e:
        raise OverrideError(f"{key}={value}: {e}") from None


def apply_overrides(cfg: T, overrides: list[str]) -> T:
    """Apply `key=value` strings (a leading `--` is allowed) in order."""
    for item in overrides:
        item = item.removeprefix("--")
        key, sep, value = item.partition("=")
        if not sep:
            raise OverrideError(f"override {item!r} is not of the form key=value")
        cfg = apply_override(cfg, key, value)
    return cfg


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild a (nested) frozen dataclass from `dataclasses.asdict` output; unknown keys are an
    error, missing ones take their defaults."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise OverrideError(f"unknown keys for {cls.__name__}: {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)  # type: ignore[arg-type]
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
