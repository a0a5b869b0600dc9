"""YAML configuration files that remember their line numbers, so errors can name them.

Usage:
    document = load_yaml_mapping(path, "the stage model", "a stage model is a mapping ...")
    document[LINE]        # the line of this mapping; every nested mapping carries its own
    document[KEY_LINES]   # with key_lines=True: {key: line} of each of its keys
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import ConfigError

LINE = "__line__"
KEY_LINES = "__key_lines__"


class _LineLoader(yaml.SafeLoader):
    """Records the line of every mapping under `__line__`."""


class _KeyLineLoader(_LineLoader):
    """Also records the line of every key under `__key_lines__`."""


def _with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=True)
    mapping[LINE] = node.start_mark.line + 1
    return mapping


def _with_key_lines(loader: _KeyLineLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping = _with_line(loader, node)
    mapping[KEY_LINES] = {
        loader.construct_object(key, deep=True): key.start_mark.line + 1 for key, _ in node.value
    }
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _with_line)
_KeyLineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _with_key_lines)


def load_yaml_mapping(
    path: Path, what: str, shape: str, *, key_lines: bool = False
) -> dict[Any, Any]:
    """The YAML mapping in `path`; ConfigError naming the file (and line) otherwise.

    `what` names the file in errors ("the stage model"); `shape` says what it should be
    when it is not a mapping.
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read {what}: {error.strerror}") from error
    try:
        document = yaml.load(text, Loader=_KeyLineLoader if key_lines else _LineLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{path}:1: {shape}")
    return document
