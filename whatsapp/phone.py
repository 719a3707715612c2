"""Phone numbers as WhatsApp uses them: E.164 digits without `+` (`5511987654321`).

Brazilian mobiles gained a ninth digit (a leading 9 on the subscriber number) in 2012–2016, but many
WhatsApp accounts still carry the old 8-digit form as their `wa_id` (`551187654321`). The same
person can therefore appear as either form depending on who typed the number: match on both
(`brazil_ninth_digit_variants`) and keep the provider's id verbatim as the identity.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

_JID_SUFFIX = re.compile(r"[:@].*$")
_BR_MOBILE_WITH_NINE = re.compile(r"^55([1-9][1-9])9([6-9]\d{7})$")
_BR_MOBILE_WITHOUT_NINE = re.compile(r"^55([1-9][1-9])([6-9]\d{7})$")


def digits_from_jid(jid: str) -> str:
    """`5511987654321:12@s.whatsapp.net` → `5511987654321` (device suffix and server dropped)."""
    return _JID_SUFFIX.sub("", jid or "")


@functools.lru_cache(maxsize=8192)  # pure, and the same senders write again and again (inbound)
def normalize_phone(raw: str | None, *, default_region: str = "BR") -> str | None:
    """Any way a person writes a number (or a WhatsApp user JID) → E.164 digits, or None.

    `+55 (11) 98765-4321`, `5511987654321@s.whatsapp.net`, `0055…` carry their country code;
    bare digits are read as a national number of `default_region` when that is a valid number
    there (`(11) 98765-4321`), otherwise as already international (WhatsApp ids: `14155550123`).
    International numbers are only length-checked ("possible", not "valid"): old 8-digit Brazilian
    mobiles are no longer valid numbers but still exist as WhatsApp ids.
    """
    if not raw:
        return None
    text = raw.strip()
    if "@" in text:
        if not text.endswith(("@s.whatsapp.net", "@c.us")):
            return None  # groups, LIDs, broadcasts: not phone numbers
        text = digits_from_jid(text)
    digits = re.sub(r"\D", "", text)
    if not digits or len(digits) > 17:
        return None
    if text.startswith(("+", "00")):
        return _format(_parse("+" + digits.removeprefix("00") if text.startswith("00") else "+" + digits))
    national = _parse(digits, default_region)
    if national is not None and phonenumbers.is_valid_number(national):
        return _format(national)
    international = _format(_parse("+" + digits))
    if international is not None:
        return international
    return _format(national)


def _parse(text: str, region: str | None = None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _format(number: phonenumbers.PhoneNumber | None) -> str | None:
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")


@functools.lru_cache(maxsize=8192)
def brazil_ninth_digit_variants(number: str | None) -> tuple[str, ...]:
    """Both forms of a Brazilian mobile, the current (with the 9) first; other numbers alone.

    `5511987654321` → ("5511987654321", "551187654321"); `551187654321` → the same pair;
    landlines (subscriber starting 2–5) and foreign numbers → (number,). Empty/invalid → ().
    A number given as WhatsApp sends it — E.164 digits of a Brazilian mobile, either form — is
    its own normalization (12 or 13 digits after 55 cannot be a national number): it skips
    `normalize_phone`, whose parsing was a twentieth of the inbound worker's time.
    """
    if (
        number
        and number.isascii()
        and (_BR_MOBILE_WITH_NINE.fullmatch(number) or _BR_MOBILE_WITHOUT_NINE.fullmatch(number))
    ):
        normalized = number
    else:
        normalized = normalize_phone(number)
    if normalized is None:
        return ()
    if match := _BR_MOBILE_WITH_NINE.match(normalized):
        area, subscriber = match.groups()
        return (normalized, f"55{area}{subscriber}")
    if match := _BR_MOBILE_WITHOUT_NINE.match(normalized):
        area, subscriber = match.groups()
        return (f"55{area}9{subscriber}", normalized)
    return (normalized,)
