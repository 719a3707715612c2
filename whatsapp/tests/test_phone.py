import pytest

from whatsapp.phone import brazil_ninth_digit_variants, digits_from_jid, normalize_phone


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("5511987654321", "5511987654321"),
        ("551187654321", "551187654321"),  # an old Brazilian wa_id stays as it is
        ("+55 (11) 98765-4321", "5511987654321"),
        ("(11) 98765-4321", "5511987654321"),
        ("11 8765-4321", "551187654321"),
        ("0055 11 98765-4321", "5511987654321"),
        ("5511987654321@s.whatsapp.net", "5511987654321"),
        ("5511987654321:12@s.whatsapp.net", "5511987654321"),
        ("14155550123", "14155550123"),
        ("+1 (415) 555-0123", "14155550123"),
        ("447700900123", "447700900123"),
        ("148309127549012@lid", None),
        ("120363025246125888@g.us", None),
        ("", None),
        (None, None),
        ("abc", None),
        ("+55 1", None),
    ],
)
def test_normalize_phone(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "number, expected",
    [
        ("5511987654321", ("5511987654321", "551187654321")),
        ("551187654321", ("5511987654321", "551187654321")),
        ("+55 21 98877-6655", ("5521988776655", "552188776655")),
        ("(31) 9 9123-4567", ("5531991234567", "553191234567")),
        ("551133334444", ("551133334444",)),  # landline: no ninth digit
        ("14155550123", ("14155550123",)),
        ("148309127549012@lid", ()),
        ("", ()),
    ],
)
def test_brazil_ninth_digit_variants(number, expected):
    assert brazil_ninth_digit_variants(number) == expected


def test_digits_from_jid():
    assert digits_from_jid("5511987654321:3@s.whatsapp.net") == "5511987654321"
    assert digits_from_jid("") == ""


def test_a_brazilian_mobile_as_whatsapp_sends_it_gives_the_variants_its_normalization_gives():
    """The shortcut for E.164 digits of a Brazilian mobile agrees with the parsing path, for every
    area code and both forms (`normalize_phone` maps such a number to itself)."""
    import random

    rng = random.Random(6)
    numbers = [
        f"55{area}{nine}{rng.choice('6789')}{rng.randrange(10**7):07d}"
        for area in range(11, 100)
        if area % 10
        for nine in ("9", "")
    ]
    for number in numbers:
        assert normalize_phone(number) == number
        assert brazil_ninth_digit_variants(number) == brazil_ninth_digit_variants(f"+{number}")
    assert brazil_ninth_digit_variants("5511987654321\n") == ("5511987654321", "551187654321")
    assert brazil_ninth_digit_variants("55119876543210") == ()  # too long: parsed, and refused
