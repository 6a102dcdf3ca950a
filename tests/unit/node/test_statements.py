"""EIP-712 verification statements: signing, digests and recovery, offline."""

from eth_account import Account
from hypothesis import given
from hypothesis import strategies as st

from node.chain.statements import (
    Eip712Domain,
    VerificationStatement,
    methodology_id,
    recover_verifier,
    sign_verification,
    statement_digest,
)

DOMAIN = Eip712Domain("SinkLedger", "1", 31337, "0x" + "12" * 20)
VERIFIER = Account.from_key("0x" + "4f" * 32)

statements = st.builds(
    VerificationStatement,
    project_id=st.integers(0, 2**64 - 1),
    period_start=st.integers(0, 2**40 - 1),
    period_end=st.integers(0, 2**40 - 1),
    quantity=st.integers(0, 2**256 - 1),
    evidence_root=st.binary(min_size=32, max_size=32),
    methodology_id=st.binary(min_size=32, max_size=32),
    expiry=st.integers(0, 2**256 - 1),
    nonce=st.integers(0, 2**256 - 1),
)


@given(statements)
def test_a_signature_recovers_its_verifier(statement):
    signature = sign_verification(VERIFIER, DOMAIN, statement)
    assert recover_verifier(DOMAIN, statement, signature) == VERIFIER.address.lower()


@given(statements, st.integers(1, 2**32))
def test_any_change_of_quantity_changes_the_digest(statement, delta):
    changed = VerificationStatement(**{**statement.__dict__, "quantity": (statement.quantity + delta) % 2**256})
    assert statement_digest(DOMAIN, changed) != statement_digest(DOMAIN, statement)


def test_the_domain_binds_chain_and_contract():
    statement = VerificationStatement(1, 0, 10, 5, b"\x01" * 32, methodology_id("SL-GS-001/1.1"), 99, 0)
    other_chain = Eip712Domain("SinkLedger", "1", 1, DOMAIN.verifying_contract)
    other_contract = Eip712Domain("SinkLedger", "1", 31337, "0x" + "13" * 20)
    digests = {statement_digest(d, statement) for d in (DOMAIN, other_chain, other_contract)}
    assert len(digests) == 3
    signature = sign_verification(VERIFIER, other_chain, statement)
    assert recover_verifier(DOMAIN, statement, signature) != VERIFIER.address.lower()
