"""Pledges on the contract: a bank's lien with the holder's EIP-712 consent; pledged units move by no path (one
batch or several, transfer or retirement) until released or enforced; every refusal by name, changing nothing."""

import time

from node.chain.pledges import PledgeConsent, register_pledge, sign_consent
from tests.support import assert_refused, issued_batch, retirement

T = 1_000_000


def _consent(net, batch: int, amount: int, *, holder: str = "owner", deadline: int | None = None,
             nonce: int | None = None) -> PledgeConsent:  # fmt: skip
    address = net.address(holder)
    return PledgeConsent(batch, address, net.address("bank"), amount,
                         int(net.registry.value("consentNonce", address)) if nonce is None else nonce,
                         deadline if deadline is not None else int(time.time()) + 3600)  # fmt: skip


def _pledge(net, consent: PledgeConsent, signer: str = "owner", sender: str = "bank"):
    signature = sign_consent(net.accounts[signer], net.registry.domain(), consent)
    receipt = register_pledge(net.registry, net.senders[sender], consent, signature)
    return int(net.registry.event(receipt, "PledgeRegistered").args["pledgeId"]), receipt


def test_pledged_units_move_by_no_path_until_the_bank_releases_them(net):
    _, batch = issued_batch(net)
    owner, reg = net.address("owner"), net.registry
    balance = reg.balance_of(owner, batch)
    pledge_id, receipt = _pledge(net, _consent(net, batch, balance - T))
    expected = {"pledgeId": pledge_id, "batchId": batch, "holder": owner, "bank": net.address("bank"),
                "amount": balance - T}  # fmt: skip
    assert reg.event(receipt, "PledgeRegistered").args == expected
    assert reg.value("pledgedOf", owner, batch) == balance - T
    assert_refused(net, lambda: reg.transfer(net.senders["owner"], batch, net.address("buyer"), 2 * T),
                   "UnitsPledged", owner, batch, T, 2 * T, batches=[batch])  # fmt: skip
    assert_refused(net, lambda: reg.retire(net.senders["owner"], retirement(batch, 2 * T)), "UnitsPledged",
                   batches=[batch])  # fmt: skip
    assert_refused(net, lambda: reg.transfer_batches(net.senders["owner"], [batch], [2 * T], net.address("buyer")),
                   "UnitsPledged", batches=[batch])  # fmt: skip
    reg.transfer(net.senders["owner"], batch, net.address("buyer"), T)  # the free part moves
    assert_refused(net, lambda: reg.send(net.senders["buyer"], "releasePledge", pledge_id), "NotTheBank",
                   pledge_id, net.address("buyer"))  # fmt: skip
    assert_refused(net, lambda: reg.send(net.senders["bank"], "enforcePledge", pledge_id), "PledgeNotOpen",
                   pledge_id, 1)  # fmt: skip
    receipt = reg.send(net.senders["bank"], "releasePledge", pledge_id)
    assert reg.event(receipt, "PledgeReleased").args["amount"] == balance - T
    assert reg.value("pledgedOf", owner, batch) == 0
    reg.transfer(net.senders["owner"], batch, net.address("buyer"), 2 * T)
    assert_refused(net, lambda: reg.send(net.senders["bank"], "releasePledge", pledge_id), "PledgeNotOpen",
                   pledge_id, 3)  # fmt: skip


def test_a_default_then_enforcement_moves_the_units_to_the_bank_unless_the_batch_is_frozen(net):
    _, batch = issued_batch(net)
    owner, bank, reg = net.address("owner"), net.address("bank"), net.registry
    pledge_id, _ = _pledge(net, _consent(net, batch, 3 * T))
    reg.send(net.senders["bank"], "declareDefault", pledge_id, b"\x01" * 32)
    reg.send(net.senders["regulator"], "freezeBatch", batch, b"\x02" * 32)
    assert_refused(net, lambda: reg.send(net.senders["bank"], "enforcePledge", pledge_id), "BatchFrozen", batch,
                   batches=[batch])  # fmt: skip
    reg.send(net.senders["regulator"], "unfreezeBatch", batch, b"\x03" * 32)
    before = reg.balance_of(owner, batch)
    receipt = reg.send(net.senders["bank"], "enforcePledge", pledge_id)
    names = [e.name for e in reg.events(receipt)]
    assert names == ["PledgeEnforced", "CertificateTransferred"]
    moved = reg.event(receipt, "CertificateTransferred").args
    reference = pledge_id.to_bytes(32, "big")
    assert (moved["from"], moved["to"], moved["amount"], moved["dealRef"]) == (owner, bank, 3 * T, reference)
    assert reg.balance_of(owner, batch) == before - 3 * T and reg.balance_of(bank, batch) == 3 * T
    assert reg.value("pledgedOf", owner, batch) == 0


def test_consents_that_are_not_the_holders_expired_or_used_are_refused(net):
    _, batch = issued_batch(net)
    reg = net.registry
    consent = _consent(net, batch, T)
    assert_refused(net, lambda: _pledge(net, consent, signer="buyer"), "ConsentNotByHolder", batches=[batch])
    assert_refused(net, lambda: _pledge(net, _consent(net, batch, T, deadline=int(time.time()) - 10)),
                   "ConsentExpired", batches=[batch])  # fmt: skip
    assert_refused(net, lambda: _pledge(net, consent, sender="buyer"), "NotTheBank", 0, net.address("buyer"))
    too_much = _consent(net, batch, reg.balance_of(net.address("owner"), batch) + 1)
    assert_refused(net, lambda: _pledge(net, too_much), "InsufficientBalance", batches=[batch])
    _pledge(net, consent)
    assert_refused(net, lambda: _pledge(net, consent), "InvalidConsentNonce", net.address("owner"), consent.nonce,
                   consent.nonce + 1)  # fmt: skip
    assert_refused(net, lambda: reg.send(net.senders["bank"], "releasePledge", 999), "PledgeNotFound", 999)
