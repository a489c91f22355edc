"""Schema base classes and the field types shared by every tag's schemas."""

from __future__ import annotations

import enum
from typing import Any, cast

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from mito.vocab.units import format_duration, parse_duration


class BodySchema(Schema):
    """Request bodies: unknown fields are an error (400)."""

    class Meta:
        unknown = RAISE


class QuerySchema(Schema):
    """Query strings: unknown parameters are ignored."""

    class Meta:
        unknown = EXCLUDE


class RespSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class ErrorSchema(Schema):
    """The spec's ErrorMsg (msg) and shared responses (error), plus field details."""

    msg = fields.String(required=True)
    error = fields.String()
    errors = fields.Dict()


class EnumName(fields.Field):
    """An IntEnum carried by member name (`"Ready"`, `"Admin"`); input case-insensitive."""

    def __init__(self, enum_cls: type[enum.Enum], *, names: list[str] | None = None, **kwargs):
        self.enum_cls = enum_cls
        self.names = names or [m.name for m in enum_cls]
        metadata = {"type": "string", "enum": list(self.names), **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return self.enum_cls(value).name

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            for member in self.enum_cls:
                if member.name in self.names and member.name.lower() == value.strip().lower():
                    return member
        raise ValidationError(f"Must be one of: {', '.join(self.names)}.")


class Duration(fields.Field):
    """A humantime duration: input `2h 30m`, `10min`; output `2h 30m`; the Python value is seconds (int)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "metadata": {"type": "string", **kwargs.get("metadata", {})}})

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else format_duration(value)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid duration: expected a string like '10m' or '2h 30m'.")
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        if seconds < 0 or seconds > 100 * 365.25 * 86400:
            raise ValidationError("Duration out of range.")
        return int(seconds)


class StrictInteger(fields.Integer):
    """An integer that refuses strings, floats and booleans, within an optional bit width."""

    def __init__(self, *, bits: int | None = None, unsigned: bool = False, **kwargs):
        super().__init__(strict=True, **kwargs)
        self.bits, self.unsigned = bits, unsigned

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        result = super()._deserialize(value, attr, data, **kwargs)
        if self.bits:
            lo = 0 if self.unsigned else -(2 ** (self.bits - 1))
            hi = 2**self.bits - 1 if self.unsigned else 2 ** (self.bits - 1) - 1
            if not lo <= result <= hi:
                raise ValidationError(f"Must be between {lo} and {hi}.")
        return result


class StrictBoolean(fields.Boolean):
    """A JSON boolean only (marshmallow's Boolean would also take "yes", 1, "on")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class Md5Password(fields.List):
    """A password on the wire: the 16 raw MD5 bytes as a JSON array of 16 integers 0-255; loads as bytes."""

    def __init__(self, **kwargs):
        super().__init__(
            StrictInteger(validate=validate.Range(min=0, max=255)),
            validate=validate.Length(equal=16),
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        return bytes(cast("list[int]", super()._deserialize(value, attr, data, **kwargs)))

    def _validate(self, value):
        super()._validate(list(value) if isinstance(value, bytes) else value)


# Most values one list-valued filter (tags, labels, states, creators, roles) takes; more is a 400.
MAX_FILTER_VALUES = 400


class FilterList(fields.List):
    """A list-valued filter: null or up to MAX_FILTER_VALUES values (bounded SQL on both databases)."""

    def __init__(self, inner: fields.Field, **kwargs: Any):
        kwargs.setdefault("allow_none", True)
        super().__init__(inner, validate=validate.Length(max=MAX_FILTER_VALUES), **kwargs)


class NameList(fields.List):
    """Names in a query string: repeated keys (`users=a&users=b`) or comma-separated (`users=a,b`)."""

    def __init__(self, **kwargs):
        super().__init__(fields.String(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        items = super()._deserialize(value, attr, data, **kwargs)
        return [part.strip() for item in items for part in (item or "").split(",") if part.strip()]
