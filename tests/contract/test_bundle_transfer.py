"""Bundle transfers: several batches to one recipient in one transaction under one deal reference."""

from eth_account import Account

from tests.support import assert_refused, issued_batch, owner_part, regulate

DEAL = bytes.fromhex("b7" * 32)


def bundle(net, size: int = 3) -> list[int]:
    """`size` batches of different projects held by the owner, in ascending id order."""
    return [issued_batch(net)[1] for _ in range(size)]


def send_bundle(net, batches: list[int], amounts: list[int], to: str = "buyer", sender: str = "owner"):
    return lambda: net.registry.transfer_batches(net.senders[sender], batches, amounts, net.address(to), DEAL)


def test_moves_every_constituent_with_one_event_per_pair_and_the_same_deal_reference(net):
    owned = owner_part(net)  # the owner's part of each 1,000,000,000 g batch, the buffer taking its share
    batches = bundle(net)
    amounts = [100_000_000, 200_000_000, 300_000_000]
    receipt = send_bundle(net, batches, amounts)()
    for batch, amount in zip(batches, amounts, strict=True):
        assert net.registry.balance_of(net.address("owner"), batch) == owned - amount
        assert net.registry.balance_of(net.address("buyer"), batch) == amount
    events = net.registry.events(receipt)
    assert [(e.name, e.args) for e in events] == [
        (
            "CertificateTransferred",
            {
                "batchId": batch,
                "from": net.address("owner"),
                "to": net.address("buyer"),
                "amount": amount,
                "dealRef": DEAL,
            },
        )
        for batch, amount in zip(batches, amounts, strict=True)
    ]


def test_a_bundle_of_one_batch_is_a_plain_transfer(net):
    owned = owner_part(net)  # the owner's part of each 1,000,000,000 g batch, the buffer taking its share
    [batch] = bundle(net, 1)
    receipt = send_bundle(net, [batch], [owned])()
    assert net.registry.balance_of(net.address("buyer"), batch) == owned
    assert len(net.registry.events(receipt)) == 1


def test_refuses_arrays_of_different_lengths(net):
    batches = bundle(net, 2)
    assert_refused(net, send_bundle(net, batches, [1]), "LengthMismatch", 2, 1, batches=batches)
    assert_refused(net, send_bundle(net, batches[:1], [1, 1]), "LengthMismatch", 1, 2, batches=batches)


def test_refuses_an_empty_bundle(net):
    assert_refused(net, send_bundle(net, [], []), "EmptyTransfer")


def test_refuses_a_repeated_or_descending_batch_id(net):
    batches = bundle(net, 2)
    assert_refused(
        net, send_bundle(net, [batches[0], batches[0]], [1, 1]), "DuplicateBatch", batches[0], batches=batches
    )
    assert_refused(
        net,
        send_bundle(net, [batches[0], batches[1], batches[0]], [1, 1, 1]),
        "DuplicateBatch",
        batches[0],
        batches=batches,
    )
    assert_refused(net, send_bundle(net, batches[::-1], [1, 1]), "DuplicateBatch", batches[0], batches=batches)


def test_refuses_the_whole_bundle_when_the_second_pair_exceeds_the_balance(net):
    owned = owner_part(net)  # the owner's part of each 1,000,000,000 g batch, the buffer taking its share
    batches = bundle(net)
    assert_refused(
        net,
        send_bundle(net, batches, [1, owned + 1, 1]),
        "InsufficientBalance",
        net.address("owner"),
        batches[1],
        owned,
        owned + 1,
        batches=batches,
    )


def test_refuses_the_whole_bundle_when_one_constituent_is_frozen_or_revoked(net):
    batches = bundle(net)
    regulate(net, "freezeBatch", batches[2], DEAL)
    assert_refused(net, send_bundle(net, batches, [1, 1, 1]), "BatchFrozen", batches[2], batches=batches)
    regulate(net, "revokeBatch", batches[1], DEAL)
    assert_refused(net, send_bundle(net, batches, [1, 1, 1]), "BatchRevoked", batches[1], batches=batches)


def test_refuses_a_zero_amount_in_any_pair(net):
    batches = bundle(net)
    assert_refused(net, send_bundle(net, batches, [1, 1, 0]), "ZeroAmount", batches=batches)


def test_refuses_a_frozen_sender_or_recipient(net):
    batches = bundle(net)
    for frozen in ("owner", "buyer"):
        regulate(net, "setAccountFrozen", net.address(frozen), True, DEAL)
        assert_refused(net, send_bundle(net, batches, [1, 1, 1]), "AccountFrozen", net.address(frozen), batches=batches)
        regulate(net, "setAccountFrozen", net.address(frozen), False, DEAL)


def test_refuses_an_unregistered_recipient(net):
    batches = bundle(net, 2)
    stranger = Account.create().address
    assert_refused(
        net,
        lambda: net.registry.transfer_batches(net.senders["owner"], batches, [1, 1], stranger, DEAL),
        "ParticipantNotRegistered",
        stranger,
        batches=batches,
    )


def test_refuses_a_bundle_to_oneself(net):
    batches = bundle(net)
    assert_refused(
        net, send_bundle(net, batches, [1, 1, 1], to="owner"), "SelfTransfer", net.address("owner"), batches=batches
    )


def test_refuses_every_bundle_while_paused(net):
    batches = bundle(net)
    net.registry.send(net.senders["admin"], "pause")
    assert_refused(net, send_bundle(net, batches, [1, 1, 1]), "RegistryIsPaused", batches=batches)
