"""Reading the operator's files in ``config/`` so that a mistake names its file, line and key.

YAML is read with the line of every key kept beside its value (``Lines`` and ``LineList``
behave as the dict and list ``yaml.safe_load`` gives), and every refusal is one line:
``province.yaml:14: counties[2].mode: 'central' is not allowed; allowed: etl, gateway``.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError


class Lines(dict):
    """A YAML mapping that remembers the line of each key (``lines``) and its own (``line``)."""

    line: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int | None:
        return self.lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that remembers the line of each entry."""

    line: int | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines: list[int] = []

    def line_of(self, index: int) -> int | None:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> Lines:
    loader.flatten_mapping(node)
    out = Lines()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` keeping lines; a file with nothing in it is an empty mapping."""
    loaded = yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader)
    return Lines() if loaded is None else loaded


def read_yaml(path: Path) -> Any:
    """A config file's YAML, keeping lines; a missing or broken file is a ConfigError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path} is missing: set NCMS_CONFIG_DIR to the folder with the config files") from exc
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{Path(path).name}{line}: not valid YAML: {problem}") from exc


def line_of(container: Any, key: Any) -> int | None:
    """The line of ``key`` in a mapping or list read by ``read_yaml`` (None for plain ones)."""
    finder = getattr(container, "line_of", None)
    return finder(key) if finder is not None else getattr(container, "line", None)


def place(file: str | Path, line: int | None, key: str) -> str:
    """``file:line: key``, the start of every refusal."""
    name = Path(file).name if isinstance(file, Path) else file
    return f"{name}:{line}: {key}" if line else f"{name}: {key}"


def choice(where: str, value: Any, allowed: Iterable[str] | type[Enum]) -> str:
    """``value`` if it is one of ``allowed`` (names, or an enumeration's values), else a
    ConfigError at ``where`` listing them."""
    names = [m.value for m in allowed] if isinstance(allowed, type) else list(allowed)
    text = value.strip() if isinstance(value, str) else value
    if text in names:
        return text
    raise ConfigError(f"{where}: {value!r} is not allowed; allowed: {', '.join(map(str, names))}")


def whole_number(where: str, value: Any, *, least: int = 0) -> int:
    """A whole number of at least ``least``, from YAML or a CSV cell."""
    try:
        number = value if isinstance(value, int) and not isinstance(value, bool) else int(str(value).strip())
    except ValueError:
        number = None
    if number is None or number < least:
        raise ConfigError(f"{where}: {value!r} is not allowed; allowed: a whole number, {least} or more")
    return number
