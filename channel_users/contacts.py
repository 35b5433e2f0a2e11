"""Phone numbers and email addresses: normalisation and the `*Qualified` flags.

Each new phone number is parsed once: validation normalises it and, from the same parse, records
whether it is a mobile number, so deriving `mobileNumberQualified` afterwards is a dictionary look-up.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}
_CACHE_SIZE = 65536
# Text as sent, and its E.164 form, to (E.164, is mobile); None for text that is no number.
_phones: dict[str, tuple[str, bool] | None] = {}


def _phone(text: str) -> tuple[str, bool] | None:
    if text in _phones:
        return _phones[text]
    result = None
    if text.startswith("+"):
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None:
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            mobile = phonenumbers.number_type(number) in _MOBILE_TYPES and phonenumbers.is_valid_number(
                number
            )
            result = (e164, mobile)
    if len(_phones) >= _CACHE_SIZE:
        _phones.clear()
    _phones[text] = result
    if result is not None:
        _phones[result[0]] = result
    return result


def normalize_phone(text: str) -> str | None:
    """The number in E.164, or None when `text` is not an international number at all.

    `+8201012345678` becomes `+821012345678` (the national trunk prefix is dropped).
    """
    parsed = _phone(text)
    return parsed[0] if parsed else None


def is_mobile_number(e164: str) -> bool:
    """True when the number is valid and a mobile (or fixed-line-or-mobile) number."""
    parsed = _phone(e164)
    return parsed is not None and parsed[1]


@lru_cache(maxsize=_CACHE_SIZE)
def is_qualified_email(text: str) -> bool:
    """Syntax only: no DNS look-up, so a stand-in never needs the network."""
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True
