"""The write path: one nonce sequence per account under concurrency, timeouts, and fee handling."""

import threading

import pytest

from node.chain.sender import TransactionSender
from node.errors import TransactionError, TransactionTimeout
from tests.support import issued_batch

THREADS, EACH = 6, 8


def test_concurrent_requests_for_one_account_get_consecutive_nonces(net):
    _, batch = issued_batch(net)
    owner = net.accounts["owner"]
    start = int(net.rpc.call("eth_getTransactionCount", owner.address, "latest"), 16)
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        sender = net.sender(owner)  # a sender of its own, sharing the account's nonce manager
        try:
            for i in range(EACH):
                net.registry.transfer(sender, batch, net.address("buyer"), 1, (offset * 100 + i).to_bytes(32, "big"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert int(net.rpc.call("eth_getTransactionCount", owner.address, "latest"), 16) == start + THREADS * EACH
    assert net.registry.balance_of(net.address("buyer"), batch) == THREADS * EACH


def test_a_missing_receipt_times_out_and_the_next_send_still_works(net):
    _, batch = issued_batch(net)
    slow = TransactionSender(net.rpc, net.accounts["owner"], chain_id=net.chain_id, abi=net.registry.abi,
                             gas_mode=net.senders["owner"].gas_mode, timeout_s=0.3)  # fmt: skip
    net.rpc.call("evm_setAutomine", False)
    try:
        with pytest.raises(TransactionTimeout):
            net.registry.transfer(slow, batch, net.address("buyer"), 5)
    finally:
        net.rpc.call("evm_setAutomine", True)
    net.rpc.call("evm_mine")
    net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 7)
    assert net.registry.balance_of(net.address("buyer"), batch) == 12


def test_a_nonce_used_behind_the_nodes_back_is_recovered(net):
    """Another process sent from the same key: the manager resynchronises after the node refuses."""
    _, batch = issued_batch(net)
    owner = net.accounts["owner"]
    net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 1)
    elsewhere = TransactionSender(net.rpc, owner, chain_id=net.chain_id, abi=net.registry.abi,
                                  gas_mode=net.senders["owner"].gas_mode)  # fmt: skip
    elsewhere.nonces = type(elsewhere.nonces)()  # as if in another process
    # Another amount: the same transfer signed with the same nonce would be the very transaction on chain
    # (a Besu-style chain signs it byte for byte alike), which the sender rightly takes as sent.
    net.registry.transfer(elsewhere, batch, net.address("buyer"), 2)
    with pytest.raises(TransactionError, match=r"(?i)nonce"):
        net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 1)
    net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 1)
    assert net.registry.balance_of(net.address("buyer"), batch) == 4
