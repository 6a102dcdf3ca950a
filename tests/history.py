"""Random but valid registry histories, for the indexer's tests and benchmarks."""

import random

from node.chain.devnet import DevNetwork
from node.errors import ContractRevert
from tests.support import DAY, chain_now, issue, new_project, regulate, retirement, statement

HOLDERS = ("owner", "buyer", "buyer2")
REASON = b"\x07" * 32


class History:
    def __init__(self, net: DevNetwork, seed: int) -> None:
        self.net = net
        self.rng = random.Random(seed)
        self.batches: list[int] = []
        self.projects: list[int] = []
        self.next_end: dict[int, int] = {}

    def run(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def step(self) -> None:
        rng, net = self.rng, self.net
        if not self.batches or rng.random() < 0.12:
            self._issue()
            return
        batch = rng.choice(self.batches)
        choice = rng.random()
        try:
            if choice < 0.45:
                sender, to = rng.sample(HOLDERS, 2)
                balance = net.registry.balance_of(net.address(sender), batch)
                if balance:
                    net.registry.transfer(net.senders[sender], batch, net.address(to), rng.randint(1, balance))
            elif choice < 0.65:
                holder = rng.choice(HOLDERS)
                balance = net.registry.balance_of(net.address(holder), batch)
                if balance:
                    net.registry.retire(net.senders[holder], retirement(batch, rng.randint(1, balance)))
            elif choice < 0.75:
                regulate(net, rng.choice(["freezeBatch", "unfreezeBatch"]), batch, REASON)
            elif choice < 0.82:
                regulate(net, "setAccountFrozen", net.address(rng.choice(HOLDERS)), rng.random() < 0.5, REASON)
            elif choice < 0.86:
                regulate(net, "revokeBatch", batch, REASON)
            elif choice < 0.92:
                regulate(net, "recordReversal", batch, 1 + rng.randrange(1000), batch >> 32, REASON)
            elif choice < 0.96:
                regulate(net, "setProjectStatus", batch >> 32, rng.choice([1, 2]), REASON)
            elif choice < 0.98:
                share = None if rng.random() < 0.3 else rng.randint(0, 10_000)  # None clears the project's own
                net.registry.set_project_buffer_share(net.senders["admin"], batch >> 32, share)
            else:
                net.registry.send(net.senders["admin"], "setRoles", net.address("buyer2"), rng.choice([0, 8]))
        except ContractRevert:
            pass  # a refused step changes nothing; the history goes on

    def fork(self, seed: int) -> "History":
        """Another history continuing from the same point with other random choices."""
        other = History(self.net, seed)
        other.batches, other.projects, other.next_end = list(self.batches), list(self.projects), dict(self.next_end)
        return other

    def advance_to(self, block: int, max_steps: int = 1000) -> None:
        """Steps until the chain reaches `block`; every new block holds at least one event.

        When a random step is refused (nothing mined), the issuer registers a project for the buffer
        account instead: History never freezes either, so that always succeeds and emits an event.
        """
        net = self.net
        for _ in range(max_steps):
            if net.rpc.block_number() >= block:
                return
            before = net.rpc.block_number()
            self.step()
            if net.rpc.block_number() == before:
                net.registry.send(net.senders["issuer"], "registerProject", net.address("buffer"), REASON)
        raise AssertionError(f"block {block} not reached in {max_steps} steps")

    def _issue(self) -> None:
        net = self.net
        if not self.projects or self.rng.random() < 0.3:
            try:
                project = new_project(net)
            except ContractRevert:
                return
            self.projects.append(project)
            self.next_end[project] = chain_now(net) - 400 * DAY
        project = self.rng.choice(self.projects)
        start = self.next_end[project]
        try:
            batch = issue(net, statement(net, project, start=start, end=start + DAY,
                                         quantity=self.rng.randint(10**6, 10**10)))  # fmt: skip
        except ContractRevert:
            return
        self.next_end[project] = start + DAY
        self.batches.append(batch)
