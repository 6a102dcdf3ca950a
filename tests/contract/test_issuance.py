"""Issuance: only an issuer, only from an unused, unexpired statement signed by an accredited
verifier, for a period after the project's last one, with separation of duties."""

from eth_account import Account

from node.chain.registry import ROLE_ISSUER, ROLE_VERIFIER, batch_id_of
from node.chain.statements import Eip712Domain, sign_verification, statement_digest
from tests.support import (
    DAY,
    YEAR,
    assert_refused,
    buffer_part,
    chain_now,
    fresh_root,
    issue,
    new_project,
    regulate,
    statement,
)


def test_issues_to_the_owner_less_the_buffer_share(net):
    project = new_project(net)
    st = statement(net, project, quantity=1_234_567_890)
    signature = sign_verification(net.accounts["verifier"], net.registry.domain(), st)
    batch, receipt = net.registry.issue(net.senders["issuer"], st, signature)

    # The registry's share, 20 % unless configured otherwise, rounded up: 246,913,578 g of 1,234,567,890 g.
    buffer = -(-1_234_567_890 * net.registry.value("bufferShareBps") // 10_000)
    assert buffer == buffer_part(net, 1_234_567_890, project)
    assert batch == batch_id_of(project, 1)
    assert net.registry.balance_of(net.address("owner"), batch) == 1_234_567_890 - buffer
    assert net.registry.balance_of(net.address("buffer"), batch) == buffer
    event = net.registry.event(receipt, "BatchIssued")
    assert event.args == {
        "batchId": batch,
        "projectId": project,
        "verifier": net.address("verifier"),
        "issuer": net.address("issuer"),
        "owner": net.address("owner"),
        "bufferAccount": net.address("buffer"),
        "periodStart": st.period_start,
        "periodEnd": st.period_end,
        "quantity": st.quantity,
        "bufferAmount": buffer,
        "evidenceRoot": st.evidence_root,
        "methodologyId": st.methodology_id,
        "verificationDigest": statement_digest(net.registry.domain(), st),
    }
    assert net.registry.value("evidenceRootUse", st.evidence_root) == statement_digest(net.registry.domain(), st)
    assert net.registry.value("batchExists", batch) is True
    assert net.registry.value("batchExists", batch_id_of(project, 2)) is False


def test_the_buffer_share_rounds_up_so_the_owner_never_gets_a_rounded_up_claim(net):
    """Worked example A (docs/accounting.md): 2,494,918 g at a 20% buffer -> 498,984 g buffer, 1,995,934 g owner."""
    net.registry.send(net.senders["admin"], "configureBuffer", net.address("buffer"), 2000)
    project = new_project(net)
    batch = issue(net, statement(net, project, quantity=2_494_918))
    assert net.registry.balance_of(net.address("buffer"), batch) == 498_984
    assert net.registry.balance_of(net.address("owner"), batch) == 1_995_934


def test_consecutive_periods_of_a_project_get_consecutive_batch_ids(net):
    project = new_project(net)
    end = chain_now(net) - DAY
    first = issue(net, statement(net, project, start=end - 2 * YEAR, end=end - YEAR))
    second = issue(net, statement(net, project, start=end - YEAR, end=end))
    assert (first, second) == (batch_id_of(project, 1), batch_id_of(project, 2))
    assert net.registry.project(project).issued_until == end


def test_the_local_digest_is_the_contracts_digest(net):
    project = new_project(net)
    st = statement(net, project)
    domain = net.registry.domain()
    assert domain == Eip712Domain("SinkLedger", "1", net.chain_id, net.registry.address)
    assert net.registry.value("verificationDigest", st.as_tuple()) == statement_digest(domain, st)


def test_refuses_a_caller_without_the_issuer_role(net):
    project = new_project(net)
    st = statement(net, project)
    sig = sign_verification(net.accounts["verifier"], net.registry.domain(), st)
    assert_refused(
        net,
        lambda: net.registry.issue(net.senders["buyer"], st, sig),
        "MissingRole",
        net.address("buyer"),
        ROLE_ISSUER,
    )


def test_refuses_a_statement_signed_by_a_non_verifier(net):
    project = new_project(net)
    st = statement(net, project)
    sig = sign_verification(net.accounts["buyer"], net.registry.domain(), st)
    assert_refused(
        net,
        lambda: net.registry.issue(net.senders["issuer"], st, sig),
        "SignerNotVerifier",
        net.address("buyer"),
    )


def test_refuses_a_statement_signed_for_another_deployment(net):
    project = new_project(net)
    st = statement(net, project)
    elsewhere = Eip712Domain("SinkLedger", "1", net.chain_id, "0x" + "11" * 20)
    sig = sign_verification(net.accounts["verifier"], elsewhere, st)
    refused = assert_refused(net, lambda: net.registry.issue(net.senders["issuer"], st, sig), "SignerNotVerifier")
    assert refused.values[0] != net.address("verifier")


def test_refuses_an_expired_statement(net):
    project = new_project(net)
    st = statement(net, project, expiry=chain_now(net) - 1)
    refused = assert_refused(net, lambda: issue(net, st), "StatementExpired")
    assert refused.values[0] == st.expiry


def test_refuses_a_statement_used_before(net):
    project = new_project(net)
    st = statement(net, project)
    issue(net, st)
    digest = statement_digest(net.registry.domain(), st)
    assert_refused(net, lambda: issue(net, st), "VerificationAlreadyUsed", digest)


def test_refuses_evidence_already_used_by_another_statement(net):
    first_project, second_project = new_project(net), new_project(net)
    root = fresh_root()
    issue(net, statement(net, first_project, evidence_root=root))
    again = statement(net, second_project, evidence_root=root)
    assert_refused(net, lambda: issue(net, again), "EvidenceRootAlreadyUsed", root)


def test_refuses_a_period_overlapping_an_issued_one(net):
    project = new_project(net)
    end = chain_now(net) - DAY
    issue(net, statement(net, project, start=end - YEAR, end=end))
    overlapping = statement(net, project, start=end - 30 * DAY, end=end - DAY // 2)
    assert_refused(net, lambda: issue(net, overlapping), "PeriodOverlap", project, end - 30 * DAY, end - DAY // 2, end)


def test_refuses_a_reversed_or_empty_period(net):
    project = new_project(net)
    end = chain_now(net) - DAY
    assert_refused(net, lambda: issue(net, statement(net, project, start=end, end=end)), "InvalidPeriod", end, end)


def test_refuses_a_period_that_has_not_ended(net):
    project = new_project(net)
    end = chain_now(net) + 30 * DAY
    refused = assert_refused(net, lambda: issue(net, statement(net, project, end=end)), "PeriodNotEnded")
    assert refused.values[0] == end


def test_refuses_a_zero_quantity(net):
    project = new_project(net)
    assert_refused(net, lambda: issue(net, statement(net, project, quantity=0)), "ZeroAmount")


def test_refuses_a_quantity_beyond_64_bit_integers(net):
    project = new_project(net)
    assert_refused(
        net,
        lambda: issue(net, statement(net, project, quantity=2**63)),
        "QuantityTooLarge",
        2**63,
        2**63 - 1,
    )


def test_refuses_an_unknown_or_suspended_project(net):
    assert_refused(net, lambda: issue(net, statement(net, 999)), "ProjectNotFound", 999)
    project = new_project(net)
    regulate(net, "setProjectStatus", project, 2, b"\x00" * 32)
    assert_refused(net, lambda: issue(net, statement(net, project)), "ProjectNotActive", project, 2)


def test_refuses_a_verifier_of_the_owners_organisation(net):
    colleague = Account.create()
    net.registry.register_participant(net.senders["admin"], colleague.address, 3, ROLE_VERIFIER)  # owner's org
    project = new_project(net)
    st = statement(net, project)
    sig = sign_verification(colleague, net.registry.domain(), st)
    assert_refused(
        net,
        lambda: net.registry.issue(net.senders["issuer"], st, sig),
        "SeparationOfDuties",
        colleague.address,
        3,
    )


def test_refuses_an_issuer_of_the_owners_organisation(net):
    colleague = Account.create()
    net.registry.register_participant(net.senders["admin"], colleague.address, 3, ROLE_ISSUER)
    if net.senders["admin"].gas_mode == "eip1559":
        net.rpc.call("anvil_setBalance", colleague.address, hex(10**20))
    project = new_project(net)
    st = statement(net, project)
    sig = sign_verification(net.accounts["verifier"], net.registry.domain(), st)
    assert_refused(
        net,
        lambda: net.registry.issue(net.sender(colleague), st, sig),
        "SeparationOfDuties",
        colleague.address,
        3,
    )


def test_refuses_an_issuer_issuing_on_its_own_signature(net):
    both = Account.create()
    net.registry.register_participant(net.senders["admin"], both.address, 7, ROLE_ISSUER | ROLE_VERIFIER)
    if net.senders["admin"].gas_mode == "eip1559":
        net.rpc.call("anvil_setBalance", both.address, hex(10**20))
    project = new_project(net)
    st = statement(net, project)
    sig = sign_verification(both, net.registry.domain(), st)
    assert_refused(net, lambda: net.registry.issue(net.sender(both), st, sig), "SeparationOfDuties", both.address, 7)


def test_refuses_a_frozen_verifier_issuer_or_owner(net):
    project = new_project(net)
    for name in ("verifier", "issuer", "owner"):
        regulate(net, "setAccountFrozen", net.address(name), True, b"\x01" * 32)
        assert_refused(net, lambda: issue(net, statement(net, project)), "AccountFrozen", net.address(name))
        net.registry.send(net.senders["regulator"], "setAccountFrozen", net.address(name), False, b"\x02" * 32)
    issue(net, statement(net, project))


def test_refuses_a_malformed_signature(net):
    project = new_project(net)
    st = statement(net, project)
    good = sign_verification(net.accounts["verifier"], net.registry.domain(), st)
    high_s = (2**256 - 1).to_bytes(32, "big")
    assert_refused(
        net,
        lambda: net.registry.send(net.senders["issuer"], "issue", st.as_tuple(), good.v, good.r, high_s),
        "ECDSAInvalidSignatureS",
        high_s,
    )
