"""Transfers: part of a batch between registered, unfrozen participants, with a deal reference."""

from eth_account import Account

from tests.support import assert_refused, issued_batch, owner_part, regulate

DEAL = bytes.fromhex("d1" * 32)


def send_from_owner(net, batch: int, amount: int, to: str = "buyer"):
    return lambda: net.registry.transfer(net.senders["owner"], batch, net.address(to), amount, DEAL)


def test_moves_units_and_records_the_deal_reference(net):
    _, batch = issued_batch(net)
    receipt = net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 300_000_000, DEAL)
    assert net.registry.balance_of(net.address("owner"), batch) == owner_part(net) - 300_000_000
    assert net.registry.balance_of(net.address("buyer"), batch) == 300_000_000
    event = net.registry.event(receipt, "CertificateTransferred")
    assert event.args == {
        "batchId": batch,
        "from": net.address("owner"),
        "to": net.address("buyer"),
        "amount": 300_000_000,
        "dealRef": DEAL,
    }


def test_a_holder_can_pass_on_everything_it_holds(net):
    _, batch = issued_batch(net)
    owned = owner_part(net)
    net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), owned, DEAL)
    net.registry.transfer(net.senders["buyer"], batch, net.address("buyer2"), owned, DEAL)
    assert net.registry.balance_of(net.address("buyer"), batch) == 0
    assert net.registry.balance_of(net.address("buyer2"), batch) == owned


def test_refuses_an_unregistered_recipient(net):
    _, batch = issued_batch(net)
    stranger = Account.create().address
    assert_refused(
        net,
        lambda: net.registry.transfer(net.senders["owner"], batch, stranger, 1, DEAL),
        "ParticipantNotRegistered",
        stranger,
        batches=[batch],
    )


def test_refuses_an_unregistered_sender(net):
    _, batch = issued_batch(net)
    stranger = Account.create()
    if net.senders["admin"].gas_mode == "eip1559":
        net.rpc.call("anvil_setBalance", stranger.address, hex(10**20))
    assert_refused(
        net,
        lambda: net.registry.transfer(net.sender(stranger), batch, net.address("buyer"), 1, DEAL),
        "ParticipantNotRegistered",
        stranger.address,
        batches=[batch],
    )


def test_refuses_a_frozen_sender_or_recipient(net):
    _, batch = issued_batch(net)
    for frozen in ("owner", "buyer"):
        regulate(net, "setAccountFrozen", net.address(frozen), True, DEAL)
        assert_refused(
            net,
            send_from_owner(net, batch, 1),
            "AccountFrozen",
            net.address(frozen),
            batches=[batch],
        )
        regulate(net, "setAccountFrozen", net.address(frozen), False, DEAL)


def test_refuses_a_frozen_or_revoked_batch(net):
    _, batch = issued_batch(net)
    regulate(net, "freezeBatch", batch, DEAL)
    assert_refused(
        net,
        send_from_owner(net, batch, 1),
        "BatchFrozen",
        batch,
        batches=[batch],
    )
    regulate(net, "revokeBatch", batch, DEAL)
    assert_refused(
        net,
        send_from_owner(net, batch, 1),
        "BatchRevoked",
        batch,
        batches=[batch],
    )


def test_refuses_more_than_the_balance(net):
    _, batch = issued_batch(net)
    owned = owner_part(net)
    assert_refused(
        net,
        send_from_owner(net, batch, owned + 1),
        "InsufficientBalance",
        net.address("owner"),
        batch,
        owned,
        owned + 1,
        batches=[batch],
    )


def test_refuses_zero_and_self_transfers(net):
    _, batch = issued_batch(net)
    assert_refused(
        net,
        send_from_owner(net, batch, 0),
        "ZeroAmount",
        batches=[batch],
    )
    assert_refused(
        net,
        lambda: net.registry.transfer(net.senders["owner"], batch, net.address("owner"), 1, DEAL),
        "SelfTransfer",
        net.address("owner"),
        batches=[batch],
    )


def test_refuses_a_batch_that_was_never_issued(net):
    assert_refused(
        net,
        lambda: net.registry.transfer(net.senders["owner"], 12345, net.address("buyer"), 1, DEAL),
        "InsufficientBalance",
        net.address("owner"),
        12345,
        0,
        1,
    )


def test_transactions_are_signed_locally_in_the_configured_form(net, chain_mode):
    """Besu-style: type-0 transactions at gas price zero from keys that hold no ether at all."""
    _, batch = issued_batch(net)
    receipt = net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 1, DEAL)
    tx = net.rpc.call("eth_getTransactionByHash", receipt.tx_hash)
    if chain_mode == "besu":
        assert (tx["type"], int(tx["gasPrice"], 16)) == ("0x0", 0)
        assert int(net.rpc.call("eth_getBalance", net.address("owner"), "latest"), 16) == 0
    else:
        assert tx["type"] == "0x2"
    # The node never relies on an account unlocked in the chain node.
    assert net.address("owner") not in [account.lower() for account in net.rpc.call("eth_accounts")]
