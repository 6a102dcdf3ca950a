"""A regulator's measures: account and batch freezes, revocation (final) and buffer reversals."""

from node.chain.registry import ROLE_REGULATOR, BatchStatus, batch_id_of
from tests.support import assert_refused, buffer_part, issued_batch

REASON = b"\x5e" * 32


def test_freezes_and_unfreezes_an_account_with_a_reason(net):
    reg, regulator = net.registry, net.senders["regulator"]
    receipt = reg.send(regulator, "setAccountFrozen", net.address("buyer"), True, REASON)
    assert reg.participant(net.address("buyer")).frozen is True
    assert reg.event(receipt, "AccountFreezeChanged").args == {
        "account": net.address("buyer"),
        "frozen": True,
        "regulator": net.address("regulator"),
        "reason": REASON,
    }
    reg.send(regulator, "setAccountFrozen", net.address("buyer"), False, REASON)
    assert reg.participant(net.address("buyer")).frozen is False


def test_refuses_account_measures_by_others_or_without_effect(net):
    reg = net.registry
    assert_refused(
        net,
        lambda: reg.send(net.senders["issuer"], "setAccountFrozen", net.address("buyer"), True, REASON),
        "MissingRole",
        net.address("issuer"),
        ROLE_REGULATOR,
    )
    assert_refused(
        net,
        lambda: reg.send(net.senders["regulator"], "setAccountFrozen", net.address("buyer"), False, REASON),
        "AccountStatusUnchanged",
        net.address("buyer"),
        False,
    )
    stranger = "0x" + "ab" * 20
    assert_refused(
        net,
        lambda: reg.send(net.senders["regulator"], "setAccountFrozen", stranger, True, REASON),
        "ParticipantNotRegistered",
        stranger,
    )


def test_batch_status_goes_active_frozen_active_revoked(net):
    _, batch = issued_batch(net)
    reg, regulator = net.registry, net.senders["regulator"]
    assert reg.batch_status(batch) is BatchStatus.ACTIVE
    receipt = reg.send(regulator, "freezeBatch", batch, REASON)
    assert reg.event(receipt, "BatchStatusChanged").args == {
        "batchId": batch,
        "status": BatchStatus.FROZEN,
        "regulator": net.address("regulator"),
        "reason": REASON,
    }
    assert reg.batch_status(batch) is BatchStatus.FROZEN
    reg.send(regulator, "unfreezeBatch", batch, REASON)
    assert reg.batch_status(batch) is BatchStatus.ACTIVE
    reg.send(regulator, "revokeBatch", batch, REASON)
    assert reg.batch_status(batch) is BatchStatus.REVOKED


def test_revocation_is_final(net):
    _, batch = issued_batch(net)
    reg, regulator = net.registry, net.senders["regulator"]
    reg.send(regulator, "revokeBatch", batch, REASON)
    for measure in ("freezeBatch", "unfreezeBatch", "revokeBatch"):
        assert_refused(
            net,
            lambda m=measure: reg.send(regulator, m, batch, REASON),
            "BatchRevoked",
            batch,
            batches=[batch],
        )
    assert_refused(
        net,
        lambda: reg.send(regulator, "recordReversal", batch, 1, 1, REASON),
        "BatchRevoked",
        batch,
        batches=[batch],
    )


def test_refuses_batch_measures_without_effect_on_unknown_batches_or_by_others(net):
    project, batch = issued_batch(net)
    reg, regulator = net.registry, net.senders["regulator"]
    assert_refused(
        net,
        lambda: reg.send(regulator, "unfreezeBatch", batch, REASON),
        "BatchStatusUnchanged",
        batch,
        BatchStatus.ACTIVE,
        batches=[batch],
    )
    reg.send(regulator, "freezeBatch", batch, REASON)
    assert_refused(
        net,
        lambda: reg.send(regulator, "freezeBatch", batch, REASON),
        "BatchStatusUnchanged",
        batch,
        BatchStatus.FROZEN,
        batches=[batch],
    )
    unknown = batch_id_of(project, 2)
    assert_refused(net, lambda: reg.send(regulator, "freezeBatch", unknown, REASON), "BatchNotFound", unknown)
    assert_refused(
        net,
        lambda: reg.send(net.senders["admin"], "revokeBatch", batch, REASON),
        "MissingRole",
        net.address("admin"),
        ROLE_REGULATOR,
        batches=[batch],
    )


def test_a_reversal_cancels_buffer_units_for_a_loss(net):
    project, batch = issued_batch(net)
    reg = net.registry
    receipt = reg.send(net.senders["regulator"], "recordReversal", batch, 40_000_000, project, REASON)
    assert reg.balance_of(net.address("buffer"), batch) == buffer_part(net, project=project) - 40_000_000
    assert reg.event(receipt, "ReversalRecorded").args == {
        "batchId": batch,
        "lossProjectId": project,
        "regulator": net.address("regulator"),
        "bufferAccount": net.address("buffer"),
        "amount": 40_000_000,
        "lossEvidence": REASON,
    }


def test_refuses_a_reversal_beyond_the_buffer_or_for_an_unknown_project(net):
    project, batch = issued_batch(net)
    regulator = net.senders["regulator"]
    held = buffer_part(net, project=project)
    assert_refused(
        net,
        lambda: net.registry.send(regulator, "recordReversal", batch, held + 1, project, REASON),
        "InsufficientBalance",
        net.address("buffer"),
        batch,
        held,
        held + 1,
        batches=[batch],
    )
    assert_refused(
        net,
        lambda: net.registry.send(regulator, "recordReversal", batch, 1, 77, REASON),
        "ProjectNotFound",
        77,
        batches=[batch],
    )
    assert_refused(
        net,
        lambda: net.registry.send(net.senders["owner"], "recordReversal", batch, 1, project, REASON),
        "MissingRole",
        net.address("owner"),
        ROLE_REGULATOR,
        batches=[batch],
    )


def test_a_frozen_batch_can_still_be_reversed(net):
    project, batch = issued_batch(net)
    regulator = net.senders["regulator"]
    net.registry.send(regulator, "freezeBatch", batch, REASON)
    net.registry.send(regulator, "recordReversal", batch, 1, project, REASON)
    assert net.registry.balance_of(net.address("buffer"), batch) == buffer_part(net, project=project) - 1
