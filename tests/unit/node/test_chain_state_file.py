"""The chain's state file: a file cut short by a kill during a save is set aside and the last whole copy
used instead; copies are taken only of whole files that have settled."""

import json
import os
import time
from pathlib import Path

from node.chain.anvil import AnvilConfig, AnvilProcess, state_is_whole


def _chain(tmp_path: Path) -> AnvilProcess:
    return AnvilProcess(AnvilConfig(binary=tmp_path / "anvil", state_file=tmp_path / "chain" / "state.json"))


def _write(path: Path, blocks: int, *, age_s: float = 5.0) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"block": {"number": hex(blocks)}, "blocks": [{"n": i} for i in range(blocks)]}).encode()
    path.write_bytes(body)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return body


def test_a_whole_file_is_whole_and_one_cut_short_or_empty_is_not(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    body = _write(path, 50)
    assert state_is_whole(path)
    path.write_bytes(body[: len(body) // 2])
    assert not state_is_whole(path)
    path.write_bytes(b"")
    assert not state_is_whole(path)
    assert not state_is_whole(tmp_path / "missing.json")


def test_a_copy_is_kept_of_a_settled_whole_file_only(tmp_path: Path) -> None:
    chain = _chain(tmp_path)
    state = chain.config.state_file
    assert state is not None and chain.state_copy is not None
    body = _write(state, 10)
    assert chain.keep_state_copy() and chain.state_copy.read_bytes() == body
    assert not chain.keep_state_copy(), "nothing new since the last copy"
    _write(state, 20, age_s=0.0)
    assert not chain.keep_state_copy(settle_s=1.0), "a file just written may still be being written"
    state.write_bytes(state.read_bytes()[:40])
    then = time.time() - 5
    os.utime(state, (then, then))
    assert not chain.keep_state_copy(), "a file cut short is never copied"
    assert chain.state_copy.read_bytes() == body


def test_a_state_file_cut_short_is_set_aside_and_the_whole_copy_used(tmp_path: Path) -> None:
    chain = _chain(tmp_path)
    state, copy = chain.config.state_file, chain.state_copy
    assert state is not None and copy is not None
    whole = _write(state, 10)
    chain.keep_state_copy()
    cut = _write(state, 30)[:100]
    state.write_bytes(cut)
    assert chain._restore_whole_state() is True
    assert state.read_bytes() == whole
    (aside,) = state.parent.glob("state.json.cut-*")
    assert aside.read_bytes() == cut, "the cut file is kept for inspection, not deleted"
    assert chain._restore_whole_state() is False, "a whole file is left alone"


def test_with_no_whole_copy_a_cut_state_file_is_set_aside_and_the_chain_starts_new(tmp_path: Path) -> None:
    chain = _chain(tmp_path)
    state = chain.config.state_file
    assert state is not None
    state.parent.mkdir(parents=True)
    state.write_bytes(b'{"block": {"numb')
    assert chain._restore_whole_state() is True
    assert not state.exists()
