"""Declared, validated strategy parameters.

Each built-in strategy type lists its parameters as :class:`Param` values:
kind, default, accepted range and a one-line meaning.  :func:`validate`
fills defaults, rejects unknown names and bad values with a ValidationError
whose ``details`` name each bad parameter and its accepted range, which the
API returns as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from cryptobot.core.errors import ValidationError


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is int, float, bool or str."""

    name: str
    kind: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple | None = None

    def describe_range(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        if self.kind is bool:
            return "true or false"
        low = "(" if self.exclusive_minimum else "["
        lo = "-inf" if self.minimum is None else _number(self.minimum)
        hi = "inf" if self.maximum is None else _number(self.maximum)
        return f"{self.kind.__name__} in {low}{lo}, {hi}]"

    def check(self, raw: Any) -> Any:
        """Return ``raw`` converted to this parameter's kind, or raise ValueError with the reason."""
        if self.kind is bool:
            if not isinstance(raw, bool):
                raise ValueError
            return raw
        if self.kind is str:
            if not isinstance(raw, str) or (self.choices and raw not in self.choices):
                raise ValueError
            return raw
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ValueError
        if self.kind is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            value: float = int(raw)
        else:
            value = float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
        if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
            raise ValueError
        if self.maximum is not None and value > self.maximum:
            raise ValueError
        return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def validate(specs: tuple[Param, ...], values: Any, cross_check: Callable[[dict], dict[str, str]] | None = None,
             base: dict | None = None) -> dict[str, Any]:
    """Return the full parameter dict: the defaults, updated with ``base``, then with ``values``.

    Raises
    ------
    ValidationError
        With one entry in ``details`` per bad or unknown parameter.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError(f"'parameters' must be an object, was {type(values).__name__}", {"parameters": "expected an object"})
    by_name = {p.name: p for p in specs}
    # Defaults first: a stored parameter set may predate a parameter added since.
    result = {p.name: p.default for p in specs}
    result.update({name: value for name, value in (base or {}).items() if name in by_name})
    problems: dict[str, str] = {}
    for name, raw in values.items():
        spec = by_name.get(name)
        if spec is None:
            problems[name] = f"unknown parameter; accepted: {', '.join(by_name)}"
            continue
        try:
            result[name] = spec.check(raw)
        except ValueError:
            problems[name] = f"expected {spec.describe_range()}, was {raw!r}"
    if not problems and cross_check is not None:
        problems.update(cross_check(result))
    if problems:
        first = next(iter(problems))
        raise ValidationError(f"invalid parameter '{first}': {problems[first]}", problems)
    return result


def schema(specs: tuple[Param, ...]) -> dict[str, Any]:
    """Describe the parameters as a JSON Schema object (for the OpenAPI document)."""
    properties = {}
    for p in specs:
        entry: dict[str, Any] = {"description": p.help, "default": p.default}
        entry["type"] = {int: "integer", float: "number", bool: "boolean", str: "string"}[p.kind]
        if p.choices:
            entry["enum"] = list(p.choices)
        if p.minimum is not None:
            entry["exclusiveMinimum" if p.exclusive_minimum else "minimum"] = p.minimum
        if p.maximum is not None:
            entry["maximum"] = p.maximum
        properties[p.name] = entry
    return {"type": "object", "properties": properties, "additionalProperties": False}
