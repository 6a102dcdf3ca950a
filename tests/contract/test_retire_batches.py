"""Retiring several batches in one transaction: one retirement per batch, all with the same details."""

import os

from eth_account import Account

from node.chain.registry import RetirementDetails, beneficiary_commitment
from node.index.decode import EventDecoder, raw_log
from tests.support import assert_refused, issued_batch, owner_part, regulate, retirement

ISSUED = 1_000_000_000
REASON = b"\x5a" * 32


def batches_held(net, size: int = 3) -> list[int]:
    """`size` batches of different projects held by the owner, in ascending id order."""
    return [issued_batch(net)[1] for _ in range(size)]


def details(**fields) -> RetirementDetails:
    return retirement(0, 0, **fields).details()


def retire_from(net, batches: list[int], amounts: list[int], holder: str = "owner", **fields):
    return lambda: net.registry.retire_batches(net.senders[holder], batches, amounts, details(**fields))


def test_retires_every_pair_under_consecutive_ids_with_one_event_each(net):
    owned = owner_part(net)  # the owner's part of each 1,000,000,000 g batch, the buffer taking its share
    batches = batches_held(net)
    amounts = [100_000_000, 200_000_000, 300_000_000]
    ids, receipt = retire_from(net, batches, amounts)()
    assert ids == [1, 2, 3]
    assert net.registry.value("retirementCount") == 3
    owner = net.address("owner")
    for batch, amount in zip(batches, amounts, strict=True):
        assert net.registry.balance_of(owner, batch) == owned - amount
        # The supply is conserved: what is held plus what is retired is what was issued.
        held = sum(net.registry.balance_of(net.address(name), batch) for name in net.accounts)
        assert held + amount == ISSUED
    assert [(e.name, e.args) for e in net.registry.events(receipt)] == [
        (
            "CertificateRetired",
            {
                "retirementId": retirement_id,
                "batchId": batch,
                "holder": owner,
                "amount": amount,
                "beneficiaryHash": bytes(32),
                "consumptionStart": 1_700_000_000,
                "consumptionEnd": 1_710_000_000,
                "region": b"CN-310000".ljust(16, b"\0"),
                "beneficiary": "Acme Ltd",
                "reason": "2026 ESG report",
            },
        )
        for retirement_id, batch, amount in zip(ids, batches, amounts, strict=True)
    ]


def test_each_event_is_byte_for_byte_the_one_retire_emits(net):
    """The shared event data is encoded once; every log must still be exactly what `retire` would write."""
    batches = batches_held(net, 2)
    _, single = net.registry.retire(net.senders["owner"], retirement(batches[0], 7_000))
    _, bundle = retire_from(net, batches, [7_000, 7_000])()
    [one] = single.logs
    first, second = bundle.logs
    assert first["data"] == second["data"] == one["data"]
    assert first["topics"][0] == one["topics"][0]
    assert [int(log["topics"][1], 16) for log in (one, first, second)] == [1, 2, 3]
    # The index decodes retirements by hand from their layout: it reads these as the ABI does.
    decoder = EventDecoder(net.registry.abi)
    for log, event in zip(bundle.logs, net.registry.events(bundle), strict=True):
        indexed = decoder.decode(raw_log(log, 0))
        assert indexed is not None and indexed.name == "CertificateRetired"
        assert indexed.args["beneficiary"] == event.args["beneficiary"]
        assert indexed.args["reason"] == event.args["reason"]
        assert (indexed.args["retirementId"], indexed.args["batchId"], indexed.args["amount"]) == (
            event.args["retirementId"],
            event.args["batchId"],
            event.args["amount"],
        )


def test_ids_continue_the_numbering_of_single_retirements(net):
    batches = batches_held(net, 2)
    first, _ = net.registry.retire(net.senders["owner"], retirement(batches[0], 1))
    ids, _ = retire_from(net, batches, [1, 1])()
    last, _ = net.registry.retire(net.senders["owner"], retirement(batches[1], 1))
    assert [first, *ids, last] == [1, 2, 3, 4]


def test_a_single_pair_is_a_plain_retirement(net):
    owned = owner_part(net)  # the owner's part of each 1,000,000,000 g batch, the buffer taking its share
    [batch] = batches_held(net, 1)
    ids, receipt = retire_from(net, [batch], [owned])()
    assert ids == [1]
    assert net.registry.balance_of(net.address("owner"), batch) == 0
    assert len(net.registry.events(receipt)) == 1


def test_retires_every_pair_for_one_salted_beneficiary_hash(net):
    batches = batches_held(net, 2)
    salt = os.urandom(32)
    commitment = beneficiary_commitment("张三", salt)
    ids, receipt = retire_from(net, batches, [5, 6], beneficiary="", beneficiary_hash=commitment)()
    events = net.registry.events(receipt)
    assert [e.args["beneficiaryHash"] for e in events] == [commitment, commitment]
    assert [e.args["beneficiary"] for e in events] == ["", ""]
    assert [e.args["retirementId"] for e in events] == ids


def test_refuses_arrays_of_different_lengths(net):
    batches = batches_held(net, 2)
    assert_refused(net, retire_from(net, batches, [1]), "LengthMismatch", 2, 1, batches=batches)
    assert_refused(net, retire_from(net, batches[:1], [1, 1]), "LengthMismatch", 1, 2, batches=batches)


def test_refuses_an_empty_retirement(net):
    assert_refused(net, retire_from(net, [], []), "EmptyTransfer")


def test_refuses_a_repeated_or_descending_batch_id(net):
    batches = batches_held(net, 2)
    assert_refused(
        net, retire_from(net, [batches[0], batches[0]], [1, 1]), "DuplicateBatch", batches[0], batches=batches
    )
    assert_refused(
        net,
        retire_from(net, [batches[0], batches[1], batches[0]], [1, 1, 1]),
        "DuplicateBatch",
        batches[0],
        batches=batches,
    )
    assert_refused(net, retire_from(net, batches[::-1], [1, 1]), "DuplicateBatch", batches[0], batches=batches)


def test_refuses_everything_when_the_second_pair_exceeds_the_balance(net):
    owned = owner_part(net)  # the owner's part of each 1,000,000,000 g batch, the buffer taking its share
    batches = batches_held(net)
    assert_refused(
        net,
        retire_from(net, batches, [1, owned + 1, 1]),
        "InsufficientBalance",
        net.address("owner"),
        batches[1],
        owned,
        owned + 1,
        batches=batches,
    )
    assert net.registry.balance_of(net.address("owner"), batches[0]) == owned
    assert net.registry.value("retirementCount") == 0


def test_refuses_everything_when_one_batch_is_frozen_or_revoked(net):
    batches = batches_held(net)
    regulate(net, "freezeBatch", batches[2], REASON)
    assert_refused(net, retire_from(net, batches, [1, 1, 1]), "BatchFrozen", batches[2], batches=batches)
    regulate(net, "revokeBatch", batches[1], REASON)
    assert_refused(net, retire_from(net, batches, [1, 1, 1]), "BatchRevoked", batches[1], batches=batches)


def test_refuses_a_frozen_holder(net):
    batches = batches_held(net)
    regulate(net, "setAccountFrozen", net.address("owner"), True, REASON)
    assert_refused(net, retire_from(net, batches, [1, 1, 1]), "AccountFrozen", net.address("owner"), batches=batches)


def test_refuses_an_unregistered_holder(net):
    batches = batches_held(net, 2)
    stranger = Account.create()
    if net.senders["admin"].gas_mode == "eip1559":
        net.rpc.call("anvil_setBalance", stranger.address, hex(10**20))
    assert_refused(
        net,
        lambda: net.registry.retire_batches(net.sender(stranger), batches, [1, 1], details()),
        "ParticipantNotRegistered",
        stranger.address,
        batches=batches,
    )


def test_refuses_a_zero_amount_in_any_pair(net):
    batches = batches_held(net)
    assert_refused(net, retire_from(net, batches, [1, 1, 0]), "ZeroAmount", batches=batches)


def test_refuses_a_missing_or_doubled_beneficiary(net):
    batches = batches_held(net, 2)
    assert_refused(net, retire_from(net, batches, [1, 1], beneficiary=""), "BeneficiaryRequired", batches=batches)
    assert_refused(
        net,
        retire_from(net, batches, [1, 1], beneficiary_hash=b"\x01" * 32),
        "BeneficiaryAmbiguous",
        batches=batches,
    )


def test_refuses_a_reversed_consumption_period(net):
    batches = batches_held(net, 2)
    assert_refused(
        net,
        retire_from(net, batches, [1, 1], consumption_start=1_710_000_000, consumption_end=1_700_000_000),
        "InvalidConsumptionPeriod",
        1_710_000_000,
        1_700_000_000,
        batches=batches,
    )


def test_refuses_every_retirement_while_paused(net):
    batches = batches_held(net)
    net.registry.send(net.senders["admin"], "pause")
    assert_refused(net, retire_from(net, batches, [1, 1, 1]), "RegistryIsPaused", batches=batches)
