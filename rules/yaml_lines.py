"""YAML as RiskGate reads its own files (rulebooks, feed mappings): every mapping remembers
the line of itself and of each key, for messages that name the line, and a key given twice is
an error instead of the last value silently winning."""

from __future__ import annotations

import yaml


class LineDict(dict):
    """A mapping that remembers the line of itself (`line`) and of each key (`lines`)."""

    line: int
    lines: dict


class LineLoader(yaml.SafeLoader):
    """SafeLoader with LineDict mappings. `string_keys`: keys are read as text (a feed
    mapping's value map `{1: …}` means the source's word "1")."""

    string_keys = False


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if loader.string_keys and not isinstance(key, str):
            key = str(key)
        if key in result:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key {key!r} (first on line {result.lines[key]})",
                problem_mark=key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
