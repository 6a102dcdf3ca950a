"""Retirement: final, for a beneficiary named in plain text or by a salted hash."""

import os

from node.chain.registry import beneficiary_commitment
from tests.support import assert_refused, issued_batch, owner_part, retirement


def test_retires_for_a_named_beneficiary_and_numbers_retirements(net):
    _, batch = issued_batch(net)
    first, receipt = net.registry.retire(net.senders["owner"], retirement(batch, 100_000))
    second, _ = net.registry.retire(net.senders["owner"], retirement(batch, 50_000))
    assert (first, second) == (1, 2)
    assert net.registry.value("retirementCount") == 2
    assert net.registry.balance_of(net.address("owner"), batch) == owner_part(net) - 150_000
    assert net.registry.event(receipt, "CertificateRetired").args == {
        "retirementId": 1,
        "batchId": batch,
        "holder": net.address("owner"),
        "amount": 100_000,
        "beneficiaryHash": bytes(32),
        "consumptionStart": 1_700_000_000,
        "consumptionEnd": 1_710_000_000,
        "region": b"CN-310000".ljust(16, b"\0"),
        "beneficiary": "Acme Ltd",
        "reason": "2026 ESG report",
    }


def test_retires_for_a_salted_beneficiary_hash_that_the_holder_can_reveal(net):
    _, batch = issued_batch(net)
    salt = os.urandom(32)
    commitment = beneficiary_commitment("张三", salt)
    _, receipt = net.registry.retire(
        net.senders["owner"], retirement(batch, 1_000, beneficiary="", beneficiary_hash=commitment)
    )
    event = net.registry.event(receipt, "CertificateRetired").args
    assert event["beneficiary"] == ""
    assert event["beneficiaryHash"] == beneficiary_commitment("张三", salt)
    assert event["beneficiaryHash"] != beneficiary_commitment("李四", salt)


def test_retired_units_never_move_again(net):
    _, batch = issued_batch(net)
    net.registry.retire(net.senders["owner"], retirement(batch, owner_part(net)))
    assert_refused(
        net,
        lambda: net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 1),
        "InsufficientBalance",
        net.address("owner"),
        batch,
        0,
        1,
        batches=[batch],
    )
    assert_refused(
        net,
        lambda: net.registry.retire(net.senders["owner"], retirement(batch, 1)),
        "InsufficientBalance",
        net.address("owner"),
        batch,
        0,
        1,
        batches=[batch],
    )


def test_refuses_over_retirement(net):
    _, batch = issued_batch(net)
    owned = owner_part(net)
    assert_refused(
        net,
        lambda: net.registry.retire(net.senders["owner"], retirement(batch, owned + 1)),
        "InsufficientBalance",
        net.address("owner"),
        batch,
        owned,
        owned + 1,
        batches=[batch],
    )


def test_refuses_a_missing_or_doubled_beneficiary(net):
    _, batch = issued_batch(net)
    assert_refused(
        net,
        lambda: net.registry.retire(net.senders["owner"], retirement(batch, 1, beneficiary="")),
        "BeneficiaryRequired",
        batches=[batch],
    )
    doubled = retirement(batch, 1, beneficiary_hash=b"\x01" * 32)
    assert_refused(
        net,
        lambda: net.registry.retire(net.senders["owner"], doubled),
        "BeneficiaryAmbiguous",
        batches=[batch],
    )


def test_refuses_a_reversed_consumption_period(net):
    _, batch = issued_batch(net)
    bad = retirement(batch, 1, consumption_start=1_710_000_000, consumption_end=1_700_000_000)
    assert_refused(
        net,
        lambda: net.registry.retire(net.senders["owner"], bad),
        "InvalidConsumptionPeriod",
        1_710_000_000,
        1_700_000_000,
        batches=[batch],
    )


def test_refuses_zero_a_frozen_holder_and_frozen_or_revoked_batches(net):
    _, batch = issued_batch(net)
    reg, regulator = net.registry, net.senders["regulator"]
    assert_refused(net, lambda: reg.retire(net.senders["owner"], retirement(batch, 0)), "ZeroAmount")
    reg.send(regulator, "setAccountFrozen", net.address("owner"), True, bytes(32))
    assert_refused(
        net,
        lambda: reg.retire(net.senders["owner"], retirement(batch, 1)),
        "AccountFrozen",
        net.address("owner"),
        batches=[batch],
    )
    reg.send(regulator, "setAccountFrozen", net.address("owner"), False, bytes(32))
    reg.send(regulator, "freezeBatch", batch, bytes(32))
    assert_refused(
        net,
        lambda: reg.retire(net.senders["owner"], retirement(batch, 1)),
        "BatchFrozen",
        batch,
        batches=[batch],
    )
    reg.send(regulator, "revokeBatch", batch, bytes(32))
    assert_refused(
        net,
        lambda: reg.retire(net.senders["owner"], retirement(batch, 1)),
        "BatchRevoked",
        batch,
        batches=[batch],
    )
