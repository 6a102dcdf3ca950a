"""The index's SQLite insert stream and the collector setting of a catch-up."""

import gc
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from node.index.follower import fewer_collections
from node.index.insert_stream import MAX_PARAMETERS, SqliteInsertStream


def _connection(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, amount INTEGER)")
    return db


@pytest.mark.parametrize("threaded", [False, True])
def test_rows_arrive_in_order_across_statements_and_all_are_there_after_pause(tmp_path: Path, threaded: bool) -> None:
    db = _connection(tmp_path / "i.sqlite")
    with ThreadPoolExecutor(1) as executor:
        stream = SqliteInsertStream(db, executor if threaded else None, "t", ("id", "name", "amount"),
                                    rows_per_statement=7)  # fmt: skip
        db.execute("BEGIN")
        for i in range(1, 53):
            stream.write((i, f"n{i}", None if i % 5 == 0 else 2**62 + i))
        stream.pause()
        assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 52
        stream.write((53, "n53", 1))  # the stream goes on after a pause
        stream.pause()
        db.execute("COMMIT")
    rows = db.execute("SELECT id, name, amount FROM t ORDER BY rowid").fetchall()
    assert rows == [(i, f"n{i}", None if i % 5 == 0 else 2**62 + i) for i in range(1, 53)] + [(53, "n53", 1)]


def test_a_failing_statement_is_raised_at_pause_and_the_rollback_leaves_nothing(tmp_path: Path) -> None:
    db = _connection(tmp_path / "i.sqlite")
    with ThreadPoolExecutor(1) as executor:
        stream = SqliteInsertStream(db, executor, "t", ("id", "name", "amount"), rows_per_statement=4)
        db.execute("BEGIN")
        for i in range(10):
            stream.write((i, "same" if i == 6 else f"n{i}", i))
        stream.write((10, "same", 10))  # violates the unique name in the second statement
        with pytest.raises(sqlite3.IntegrityError):
            stream.pause()
        db.execute("ROLLBACK")
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0


def test_abort_drops_what_is_unsent_and_waits_for_what_is(tmp_path: Path) -> None:
    db = _connection(tmp_path / "i.sqlite")
    with ThreadPoolExecutor(1) as executor:
        stream = SqliteInsertStream(db, executor, "t", ("id", "name", "amount"), rows_per_statement=3)
        db.execute("BEGIN")
        for i in range(5):
            stream.write((i, f"n{i}", i))
        stream.abort()  # three rows were sent, two were not
        assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 3
        db.execute("ROLLBACK")
    assert db.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0


def test_statements_stay_within_sqlites_parameter_limit(tmp_path: Path) -> None:
    db = _connection(tmp_path / "i.sqlite")
    stream = SqliteInsertStream(db, None, "t", ("id", "name", "amount"))
    rows = MAX_PARAMETERS // 3 * 2 + 5  # three statements, the last one short
    for i in range(rows):
        stream.write((i, f"n{i}", i))
    stream.pause()
    assert db.execute("SELECT COUNT(*), SUM(amount) FROM t").fetchone() == (rows, rows * (rows - 1) // 2)


def test_a_catch_up_raises_the_collector_threshold_and_gives_it_back_even_on_error() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        assert gc.get_threshold()[0] > before[0]
        assert gc.get_threshold()[1:] == before[1:]
        raise RuntimeError("the range failed")
    assert gc.get_threshold() == before
