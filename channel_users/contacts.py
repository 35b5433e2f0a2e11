"""Phone numbers and email addresses: normalisation and the `*Qualified` flags.

Results are cached because the same numbers and addresses are re-derived on every write of a user.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


@lru_cache(maxsize=65536)
def normalize_phone(text: str) -> str | None:
    """The number in E.164, or None when `text` is not an international number at all.

    `+8201012345678` becomes `+821012345678` (the national trunk prefix is dropped).
    """
    if not text.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def is_mobile_number(e164: str) -> bool:
    """True when the number is valid and a mobile (or fixed-line-or-mobile) number."""
    number = phonenumbers.parse(e164, None)
    return phonenumbers.is_valid_number(number) and (
        phonenumbers.number_type(number) in _MOBILE_TYPES
    )


@lru_cache(maxsize=65536)
def is_qualified_email(text: str) -> bool:
    """Syntax only: no DNS look-up, so a stand-in never needs the network."""
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True
