"""JSON request bodies with bounded nesting.

Python's json module recurses once per nesting level, so ``[[[[...]]]]`` a few thousand levels deep
raises RecursionError (a 500) in DRF's JSONParser. `parse_json` measures the nesting depth first,
on the raw bytes and without recursion, and refuses anything deeper than JSON_MAX_DEPTH with a 400;
NaN and Infinity are refused as they are not JSON.
"""
import json
import re

import numpy as np
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (brackets inside strings ignored)."""
    codes = np.frombuffer(_STRING.sub(b'""', raw), np.uint8)
    if not codes.size:
        return 0
    step = np.isin(codes, (ord("["), ord("{"))).astype(np.int64) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes):
    """The value of a JSON body; ParseError (400) for invalid JSON, NaN/Infinity or deep nesting."""
    limit = settings.JSON_MAX_DEPTH
    depth = json_depth(raw)
    if depth > limit:
        raise ParseError(f"JSON nested {depth} levels deep; at most {limit} levels are accepted.")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from None


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with `parse_json`'s depth limit (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json(stream.read() if stream is not None else b"")
