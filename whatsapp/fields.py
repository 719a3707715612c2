"""Credentials encrypted at rest: `EncryptedTextField` stores Fernet tokens, Python code sees plain text.

Keys
  * `settings.FIELD_ENCRYPTION_KEY`: one or more Fernet keys (url-safe base64 of 32 random bytes, e.g.
    `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`),
    comma-separated. The first encrypts; every key decrypts. To rotate: put the new key first, re-save
    the rows (each save re-encrypts with the first key), then drop the old key.
  * Keys derived from `SECRET_KEY` (and, decrypt-only, from each of `SECRET_KEY_FALLBACKS`) with
    HKDF-SHA256 (salt `prosa.fields.v1`, info `prosa field encryption`, 32 bytes). When
    FIELD_ENCRYPTION_KEY is unset they are the only keys, so a development install works with no
    setup; when it is set they still decrypt, so values saved before it was configured stay readable.
    Changing SECRET_KEY without keeping the old one in SECRET_KEY_FALLBACKS makes values that were
    saved with the derived key unreadable — production should set FIELD_ENCRYPTION_KEY.

Fernet tokens are random (AES-CBC with a fresh IV + HMAC), so equal values never look alike in the
database and the column cannot be searched: lookups other than `isnull` are refused. The empty
string is stored as is (it means "not set" and is not a secret).
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext_lazy as _

from config.errors import ProsaError

_HKDF_SALT = b"prosa.fields.v1"
_HKDF_INFO = b"prosa field encryption"


class FieldDecryptionError(ProsaError):
    """A stored secret could not be decrypted with any configured key (key lost or changed)."""

    code = "field_decryption_failed"
    default_detail = _("A stored credential could not be decrypted. Check FIELD_ENCRYPTION_KEY / SECRET_KEY.")
    status_code = 500


def derive_key(secret: str) -> bytes:
    """The Fernet key derived from a Django secret key (HKDF-SHA256, fixed salt and info)."""
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(raw)


@functools.lru_cache(maxsize=8)
def _build_fernet(explicit: str, secret_key: str, fallbacks: tuple[str, ...]) -> MultiFernet:
    keys = []
    for key in (part.strip() for part in explicit.split(",")):
        if not key:
            continue
        try:
            keys.append(Fernet(key))
        except ValueError as exc:
            raise ImproperlyConfigured(
                "FIELD_ENCRYPTION_KEY must be Fernet keys (url-safe base64 of 32 bytes), comma-separated."
            ) from exc
    keys.extend(Fernet(derive_key(secret)) for secret in (secret_key, *fallbacks) if secret)
    return MultiFernet(keys)


def get_fernet() -> MultiFernet:
    # Keyed on the settings' current values, so `override_settings` and key rotation take effect.
    return _build_fernet(
        settings.FIELD_ENCRYPTION_KEY or "",
        settings.SECRET_KEY,
        tuple(getattr(settings, "SECRET_KEY_FALLBACKS", ()) or ()),
    )


def encrypt_str(value: str) -> str:
    return get_fernet().encrypt(value.encode()).decode("ascii")


def decrypt_str(token: str) -> str:
    try:
        return get_fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise FieldDecryptionError() from exc


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token of the value (see the module docstring for keys)."""

    description = _("Text encrypted at rest")

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_str(value)

    def get_lookup(self, lookup_name):
        # Ciphertexts are randomised: `exact`, `in`, `contains`… would silently never match.
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)
