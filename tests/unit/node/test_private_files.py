"""Databases and keys only their owner reads, whatever the umask: 0600 files, 0700 directories."""

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from node.chain.keystore import Keystore
from node.index.db import connect_writer
from node.settings import load_settings
from node.store import Store
from node.store.sealed import Sealer


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_databases_and_their_wal_and_shm_files_are_private(tmp_path, open_umask):
    home = tmp_path / "home"
    store = Store(home / "node.sqlite")
    index = connect_writer(home / "index.sqlite")
    index.execute("CREATE TABLE IF NOT EXISTS probe (x)")
    index.execute("INSERT INTO probe VALUES (1)")
    try:
        for name in ("node.sqlite", "index.sqlite"):
            for suffix in ("", "-wal", "-shm"):
                assert _mode(home / f"{name}{suffix}") == 0o600, name + suffix
        assert _mode(home) == 0o700  # made by the node: private too
    finally:
        index.close()
        store.close()


def test_an_older_data_directory_is_tightened_when_opened(tmp_path, open_umask):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    older = sqlite3.connect(shared / "node.sqlite")  # as an older node made it: 0644 under this umask
    older.execute("PRAGMA journal_mode=WAL")
    older.execute("CREATE TABLE probe (x)")
    try:
        assert _mode(shared / "node.sqlite-wal") == 0o644
        Store(shared / "node.sqlite").close()
        for suffix in ("", "-wal", "-shm"):
            assert _mode(shared / f"node.sqlite{suffix}") == 0o600, suffix
        assert _mode(shared) == 0o755  # a directory the operator chose is theirs: left as it is
    finally:
        older.close()


def test_key_files_and_the_keys_directory_are_private(tmp_path, open_umask):
    settings = load_settings(home=tmp_path / "home", keystore_scrypt_n=2**10)
    Sealer.from_settings(settings)
    Keystore.from_settings(settings).create("attestor")
    assert _mode(settings.keys_dir) == 0o700
    for name in ("confidential.key", ".password", "attestor.json"):
        assert _mode(settings.keys_dir / name) == 0o600, name
