"""Exact decimal handling for prices.

Catalogues publish prices as JSON floats per token (``2.9999900000000002e-06``). We convert
through ``Decimal(str(x))`` — never float arithmetic — and round to ``SIGNIFICANT_DIGITS``
significant digits, which absorbs binary float noise (``1.5000020000000002e-05`` and
``1.500002e-05`` are one price) while keeping every digit a real price list carries.
"""

from decimal import Context, Decimal, InvalidOperation
from typing import Any

SIGNIFICANT_DIGITS = 12
_CONTEXT = Context(prec=SIGNIFICANT_DIGITS)
PER_MILLION = Decimal(1_000_000)


class NotADecimal(ValueError):
    """The value cannot be read as a finite decimal number."""


def to_decimal(value: Any) -> Decimal:
    """Read an int, float, decimal string or Decimal exactly (floats via their shortest repr),
    rounded to ``SIGNIFICANT_DIGITS`` significant digits."""
    if isinstance(value, bool) or value is None:
        raise NotADecimal(f"{value!r} is not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation as exc:
            raise NotADecimal(f"{value!r} is not a number") from exc
    else:
        raise NotADecimal(f"{value!r} is not a number")
    if not number.is_finite():
        raise NotADecimal(f"{value!r} is not a finite number")
    try:
        return _canonical(number)
    except InvalidOperation as exc:  # e.g. 1e308: no plain form within the decimal precision
        raise NotADecimal(f"{value!r} is out of range") from exc


def _canonical(number: Decimal) -> Decimal:
    """Rounded to ``SIGNIFICANT_DIGITS`` and without trailing zeros (``0.0046875000`` → ``0.0046875``),
    so the stored scale is the number's own, never an artefact of the rounding."""
    rounded = _CONTEXT.normalize(number)
    if rounded.as_tuple().exponent > 0:  # 1E+2 → 100: keep integers in plain form
        rounded = rounded.quantize(Decimal(1))
    return rounded


def per_token_to_per_million(value: Any) -> Decimal:
    """USD per token → USD per 1M tokens, exactly."""
    return _canonical(to_decimal(value) * PER_MILLION)


def decimal_to_str(value: Decimal) -> str:
    """Canonical plain-notation string: no exponent, no trailing zeros (``'0.0000015'``, ``'0'``)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def normalize_price_map(value: Any) -> Any:
    """Numbers inside a pricing map (nested maps and lists included) → canonical decimal strings.
    Strings that read as decimals are canonicalised too; anything else is left for validation."""
    if isinstance(value, dict):
        return {key: normalize_price_map(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize_price_map(item) for item in value]
    if isinstance(value, int | float | Decimal | str) and not isinstance(value, bool):
        try:
            return decimal_to_str(to_decimal(value))
        except NotADecimal:
            return value
    return value
