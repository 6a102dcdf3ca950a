"""A stateful model of the ledger driven through the Python client against anvil.

Each step is predicted by a plain-Python model (who holds what, which batches are frozen or
revoked, which accounts are frozen); the chain must agree on success, on the named error of
every refusal, and, after every step, on the conservation invariants.
"""

from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from node.chain.devnet import DevNetwork
from node.chain.sender import NonceManager
from node.errors import ContractRevert
from tests.support import YEAR, chain_now, issue, new_project, regulate, retirement, statement

HOLDERS = ["owner", "buyer", "buyer2", "buffer"]
REASON = b"\x01" * 32


@dataclass
class Model:
    balances: dict[tuple[int, str], int] = field(default_factory=dict)
    issued: dict[int, int] = field(default_factory=dict)
    retired: dict[int, int] = field(default_factory=dict)
    reversed: dict[int, int] = field(default_factory=dict)
    status: dict[int, str] = field(default_factory=dict)
    frozen_accounts: set[str] = field(default_factory=set)
    registry_share: int = 0  # the registry's buffer share (basis points)
    project_share: int | None = None  # the project's own, set by the admin; None: it inherits the registry's

    def balance(self, batch: int, holder: str) -> int:
        return self.balances.get((batch, holder), 0)


def make_machine(net: DevNetwork) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.snapshot = net.rpc.call("evm_snapshot")
            self.model = Model(registry_share=int(net.registry.value("bufferShareBps")))
            self.batches: list[int] = []
            self.retirements = int(net.registry.value("retirementCount"))
            self.project = new_project(net)
            self.next_end = chain_now(net) - 40 * YEAR

        def teardown(self) -> None:
            net.rpc.call("evm_revert", self.snapshot)
            NonceManager.forget(net.rpc.url)

        def expect(self, call, error: str | None) -> None:
            try:
                call()
            except ContractRevert as refused:
                assert refused.name == error, f"chain refused with {refused}, model expected {error}"
                return
            assert error is None, f"chain accepted, model expected {error}"

        @initialize(quantity=st.integers(1, 10**12))
        def first_batch(self, quantity: int) -> None:
            self.issue(quantity)

        @rule(quantity=st.integers(1, 10**12))
        def issue(self, quantity: int) -> None:
            start, end = self.next_end, self.next_end + YEAR // 2
            owner_frozen = "owner" in self.model.frozen_accounts
            error = "AccountFrozen" if owner_frozen else None
            outcome: list[int] = []
            self.expect(
                lambda: outcome.append(
                    issue(net, statement(net, self.project, start=start, end=end, quantity=quantity))
                ),
                error,
            )
            if outcome:
                batch = outcome[0]
                m = self.model
                share = m.registry_share if m.project_share is None else m.project_share
                buffer = -(-quantity * share // 10_000)  # rounded up
                self.batches.append(batch)
                self.model.issued[batch] = quantity
                self.model.status[batch] = "active"
                self.model.balances[(batch, "owner")] = quantity - buffer
                self.model.balances[(batch, "buffer")] = buffer
                self.next_end = end

        def blocked_accounts(self, *accounts: str) -> str | None:
            frozen = any(account in self.model.frozen_accounts for account in accounts)
            return "AccountFrozen" if frozen else None

        def blocked(self, batch: int, *accounts: str) -> str | None:
            if self.blocked_accounts(*accounts):
                return "AccountFrozen"
            return {"frozen": "BatchFrozen", "revoked": "BatchRevoked"}.get(self.model.status[batch])

        @rule(
            data=st.data(),
            sender=st.sampled_from(HOLDERS[:3]),
            to=st.sampled_from(HOLDERS[:3]),
            share=st.floats(0, 1.2),
        )
        def transfer(self, data, sender: str, to: str, share: float) -> None:
            batch = data.draw(st.sampled_from(self.batches))
            amount = int(self.model.balance(batch, sender) * share) or 1
            # The contract checks the parties, then self-transfer, then the batch, then the balance.
            error = self.blocked_accounts(sender, to)
            if error is None and sender == to:
                error = "SelfTransfer"
            error = error or self.blocked(batch)
            if error is None and amount > self.model.balance(batch, sender):
                error = "InsufficientBalance"
            self.expect(lambda: net.registry.transfer(net.senders[sender], batch, net.address(to), amount), error)
            if error is None:
                self.model.balances[(batch, sender)] -= amount
                self.model.balances[(batch, to)] = self.model.balance(batch, to) + amount

        @rule(data=st.data(), holder=st.sampled_from(HOLDERS[:3]), share=st.floats(0, 1.2))
        def retire(self, data, holder: str, share: float) -> None:
            batch = data.draw(st.sampled_from(self.batches))
            amount = int(self.model.balance(batch, holder) * share) or 1
            error = self.blocked(batch, holder)
            if error is None and amount > self.model.balance(batch, holder):
                error = "InsufficientBalance"
            self.expect(lambda: net.registry.retire(net.senders[holder], retirement(batch, amount)), error)
            if error is None:
                self.model.balances[(batch, holder)] -= amount
                self.model.retired[batch] = self.model.retired.get(batch, 0) + amount

        @rule(data=st.data(), holder=st.sampled_from(HOLDERS[:3]))
        def retire_batches(self, data, holder: str) -> None:
            size = data.draw(st.integers(1, min(3, len(self.batches))))
            picked = sorted(
                data.draw(st.lists(st.sampled_from(self.batches), min_size=size, max_size=size, unique=True))
            )
            amounts = [int(self.model.balance(b, holder) * data.draw(st.floats(0, 1.2))) or 1 for b in picked]
            # The holder is checked once, then each pair in order: batch status, then balance.
            error = self.blocked_accounts(holder)
            for batch, amount in zip(picked, amounts, strict=True):
                error = error or self.blocked(batch)
                if error is None and amount > self.model.balance(batch, holder):
                    error = "InsufficientBalance"
            before = int(net.registry.value("retirementCount"))
            ids: list[list[int]] = []
            self.expect(
                lambda: ids.append(
                    net.registry.retire_batches(net.senders[holder], picked, amounts, retirement(0, 0).details())[0]
                ),
                error,
            )
            if error is None:
                assert ids == [list(range(before + 1, before + 1 + size))]
                for batch, amount in zip(picked, amounts, strict=True):
                    self.model.balances[(batch, holder)] -= amount
                    self.model.retired[batch] = self.model.retired.get(batch, 0) + amount

        @rule(data=st.data(), measure=st.sampled_from(["freezeBatch", "unfreezeBatch", "revokeBatch"]))
        def batch_measure(self, data, measure: str) -> None:
            batch = data.draw(st.sampled_from(self.batches))
            status = self.model.status[batch]
            target = {
                "freezeBatch": ("active", "frozen"),
                "unfreezeBatch": ("frozen", "active"),
                "revokeBatch": (None, "revoked"),
            }[measure]
            if status == "revoked":
                error = "BatchRevoked"
            elif target[0] is not None and status != target[0]:
                error = "BatchStatusUnchanged"
            else:
                error = None
            self.expect(lambda: regulate(net, measure, batch, REASON), error)
            if error is None:
                self.model.status[batch] = target[1]

        @rule(account=st.sampled_from(HOLDERS[:3]), frozen=st.booleans())
        def account_measure(self, account: str, frozen: bool) -> None:
            unchanged = (account in self.model.frozen_accounts) == frozen
            error = "AccountStatusUnchanged" if unchanged else None
            self.expect(
                lambda: net.registry.send(
                    net.senders["regulator"], "setAccountFrozen", net.address(account), frozen, REASON
                ),
                error,
            )
            if error is None:
                (self.model.frozen_accounts.add if frozen else self.model.frozen_accounts.discard)(account)

        @rule(share=st.one_of(st.none(), st.integers(0, 10_000), st.integers(10_001, 2**16 - 2)))
        def project_buffer_share(self, share: int | None) -> None:
            error = "BufferShareTooHigh" if share is not None and share > 10_000 else None
            self.expect(lambda: net.registry.set_project_buffer_share(net.senders["admin"], self.project, share), error)
            if error is None:
                self.model.project_share = share
            m = self.model
            effective = m.registry_share if m.project_share is None else m.project_share
            assert net.registry.buffer_share_of(self.project) == effective

        @rule(data=st.data(), share=st.floats(0, 1.2))
        def reversal(self, data, share: float) -> None:
            batch = data.draw(st.sampled_from(self.batches))
            amount = int(self.model.balance(batch, "buffer") * share) or 1
            error = "BatchRevoked" if self.model.status[batch] == "revoked" else None
            if error is None and amount > self.model.balance(batch, "buffer"):
                error = "InsufficientBalance"
            self.expect(
                lambda: net.registry.send(
                    net.senders["regulator"], "recordReversal", batch, amount, self.project, REASON
                ),
                error,
            )
            if error is None:
                self.model.balances[(batch, "buffer")] -= amount
                self.model.reversed[batch] = self.model.reversed.get(batch, 0) + amount

        @invariant()
        def chain_agrees_and_units_are_conserved(self) -> None:
            for batch in self.batches:
                held = 0
                for holder in HOLDERS:
                    on_chain = net.registry.balance_of(net.address(holder), batch)
                    assert on_chain == self.model.balance(batch, holder) >= 0
                    held += on_chain
                m = self.model
                assert m.issued[batch] == held + m.retired.get(batch, 0) + m.reversed.get(batch, 0)

        @invariant()
        def retirements_never_decrease(self) -> None:
            count = int(net.registry.value("retirementCount"))
            assert count >= self.retirements
            self.retirements = count

    return LedgerMachine


def test_the_chain_agrees_with_the_model_over_random_histories(net):
    machine = make_machine(net)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
