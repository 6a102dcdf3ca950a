"""Encrypted eth-account keystores under <home>/keys: one JSON file per named account.

Private keys are only ever decrypted into memory; nothing here logs or returns one.
"""

import json
import os
import secrets
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.errors import KeystoreError
from node.private import private_dir
from node.settings import Settings

_PASSWORD_FILE = ".password"


class Keystore:
    def __init__(self, directory: Path, password: str, scrypt_n: int) -> None:
        self.directory = directory
        self._password = password
        self._scrypt_n = scrypt_n

    @classmethod
    def from_settings(cls, settings: Settings) -> "Keystore":
        directory = settings.keys_dir
        if settings.keystore_password is not None:
            password = settings.keystore_password.get_secret_value()
        else:
            password = kept_password(directory)
        return cls(directory, password, settings.keystore_scrypt_n)

    def path(self, name: str) -> Path:
        if not name.replace("-", "").replace("_", "").isalnum():
            raise KeystoreError(f"invalid key name {name!r}: use letters, digits, '-' and '_'")
        return self.directory / f"{name}.json"

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.json"))

    def address(self, name: str) -> str:
        path = self.path(name)
        if not path.is_file():
            raise KeystoreError(f"no keystore named {name!r} in {self.directory}")
        return "0x" + json.loads(path.read_text())["address"].lower().removeprefix("0x")

    def create(self, name: str) -> str:
        """Creates a new random account; refuses to overwrite. Returns its address."""
        path = self.path(name)
        if path.exists():
            raise KeystoreError(f"a keystore named {name!r} already exists")
        account = Account.create(secrets.token_hex(32))
        return self._write(path, account)

    def import_key(self, name: str, private_key: str) -> str:
        path = self.path(name)
        if path.exists():
            raise KeystoreError(f"a keystore named {name!r} already exists")
        return self._write(path, Account.from_key(private_key))

    def ensure(self, name: str) -> str:
        return self.address(name) if self.path(name).is_file() else self.create(name)

    def load_or_create(self, name: str) -> LocalAccount:
        self.ensure(name)
        return self.load(name)

    def load(self, name: str) -> LocalAccount:
        path = self.path(name)
        try:
            encrypted = json.loads(path.read_text())
        except FileNotFoundError:
            raise KeystoreError(f"no keystore named {name!r} in {self.directory}") from None
        try:
            key = Account.decrypt(encrypted, self._password)
        except ValueError:
            raise KeystoreError(f"wrong password for keystore {name!r}") from None
        return Account.from_key(key)

    def _write(self, path: Path, account: LocalAccount) -> str:
        private_dir(self.directory)
        encrypted = Account.encrypt(account.key, self._password, kdf="scrypt", iterations=self._scrypt_n)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(encrypted, handle)
        tmp.replace(path)
        return str(account.address).lower()


def kept_password(directory: Path) -> str:
    """A random password kept beside the keys: convenient on a laptop, not for production."""
    path = directory / _PASSWORD_FILE
    if path.is_file():
        return path.read_text().strip()
    private_dir(directory)
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    return password
