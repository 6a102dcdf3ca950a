"""Keystores: encrypted at rest, private to the owner, never overwritten, locked by the password."""

import stat

import pytest

from node.chain.keystore import Keystore
from node.errors import KeystoreError
from node.settings import load_settings


def test_creates_loads_and_lists_accounts(tmp_path):
    keystore = Keystore(tmp_path, "pw", 1024)
    address = keystore.create("issuer")
    assert keystore.load("issuer").address.lower() == address
    assert keystore.names() == ["issuer"]
    assert keystore.address("issuer") == address


def test_the_file_is_encrypted_and_private(tmp_path):
    keystore = Keystore(tmp_path, "pw", 1024)
    keystore.create("admin")
    account = keystore.load("admin")
    path = keystore.path("admin")
    assert account.key.hex().removeprefix("0x") not in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_refuses_a_wrong_password_an_overwrite_and_a_bad_name(tmp_path):
    Keystore(tmp_path, "right", 1024).create("admin")
    with pytest.raises(KeystoreError, match="wrong password"):
        Keystore(tmp_path, "wrong", 1024).load("admin")
    with pytest.raises(KeystoreError, match="already exists"):
        Keystore(tmp_path, "right", 1024).create("admin")
    with pytest.raises(KeystoreError, match="invalid key name"):
        Keystore(tmp_path, "right", 1024).path("../etc/passwd")
    with pytest.raises(KeystoreError, match="no keystore"):
        Keystore(tmp_path, "right", 1024).load("nobody")


def test_a_dev_home_gets_one_random_password_kept_privately(tmp_path):
    settings = load_settings(home=tmp_path, keystore_scrypt_n=1024)
    first = Keystore.from_settings(settings)
    address = first.create("buffer")
    again = Keystore.from_settings(settings)
    assert again.load("buffer").address.lower() == address
    password_file = settings.keys_dir / ".password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
