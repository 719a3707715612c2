"""Credentials are stored as Fernet tokens: never readable in the database, round-trip in Python."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import connection as db
from django.test import override_settings

from whatsapp.fields import FieldDecryptionError, decrypt_str, derive_key, encrypt_str
from whatsapp.models import Connection
from whatsapp.tests.factories import ConnectionFactory

TOKEN = "EAAGm0PX4ZCpsBA-ação-segredo-ünïcode"


def raw_columns(pk: int) -> tuple[str, str, str]:
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, app_secret, api_key FROM whatsapp_connection WHERE id = %s", [pk])
        return cursor.fetchone()


@pytest.mark.django_db
def test_stored_as_ciphertext_and_read_back_in_clear(tenant):
    connection = ConnectionFactory(tenant=tenant, access_token=TOKEN, app_secret="app-secret-123", api_key="")

    access_token, app_secret, api_key = raw_columns(connection.pk)
    assert TOKEN not in access_token and "app-secret-123" not in app_secret
    assert access_token.startswith("gAAAAA") and app_secret.startswith("gAAAAA")  # Fernet version byte
    assert api_key == ""  # "not set" is not a secret
    assert decrypt_str(access_token) == TOKEN

    reloaded = Connection.all_tenants.get(pk=connection.pk)
    assert (reloaded.access_token, reloaded.app_secret, reloaded.api_key) == (TOKEN, "app-secret-123", "")
    assert Connection.all_tenants.filter(pk=connection.pk).values_list("access_token", flat=True).get() == TOKEN


@pytest.mark.django_db
def test_equal_values_give_different_ciphertexts_and_updates_encrypt(tenant):
    first = ConnectionFactory(tenant=tenant, access_token=TOKEN)
    second = ConnectionFactory(tenant=tenant, access_token=TOKEN)
    assert raw_columns(first.pk)[0] != raw_columns(second.pk)[0]

    Connection.all_tenants.filter(pk=first.pk).update(access_token="rotated-token")
    stored = raw_columns(first.pk)[0]
    assert "rotated-token" not in stored
    assert Connection.all_tenants.get(pk=first.pk).access_token == "rotated-token"


@pytest.mark.django_db
def test_lookups_on_ciphertext_are_refused(tenant):
    with pytest.raises(FieldError):
        list(Connection.all_tenants.filter(access_token=TOKEN))
    with pytest.raises(FieldError):
        list(Connection.all_tenants.filter(access_token__contains="EAAG"))
    assert list(Connection.all_tenants.filter(access_token__isnull=True)) == []


def test_configured_key_encrypts_and_derived_key_still_decrypts():
    old_token = encrypt_str("saved before the key was configured")
    key = Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEY=key):
        token = encrypt_str("secret")
        assert Fernet(key.encode()).decrypt(token.encode()) == b"secret"
        assert decrypt_str(old_token) == "saved before the key was configured"


def test_rotation_with_several_keys():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(FIELD_ENCRYPTION_KEY=old):
        token = encrypt_str("secret")
    with override_settings(FIELD_ENCRYPTION_KEY=f"{new}, {old}"):
        assert decrypt_str(token) == "secret"
        assert Fernet(new.encode()).decrypt(encrypt_str("x").encode()) == b"x"


def test_secret_key_rotation_with_fallbacks():
    with override_settings(SECRET_KEY="old-secret-key-" + "a" * 40, FIELD_ENCRYPTION_KEY=""):
        token = encrypt_str("secret")
    with override_settings(SECRET_KEY="new-secret-key-" + "b" * 40, FIELD_ENCRYPTION_KEY=""):
        with pytest.raises(FieldDecryptionError) as caught:
            decrypt_str(token)
        assert caught.value.code == "field_decryption_failed"
        with override_settings(SECRET_KEY_FALLBACKS=["old-secret-key-" + "a" * 40]):
            assert decrypt_str(token) == "secret"


def test_derived_key_is_deterministic_and_a_valid_fernet_key():
    assert derive_key("abc") == derive_key("abc") != derive_key("abd")
    Fernet(derive_key("abc"))


def test_bad_configured_key_is_a_configuration_error():
    with override_settings(FIELD_ENCRYPTION_KEY="not-a-fernet-key"), pytest.raises(ImproperlyConfigured):
        encrypt_str("x")
