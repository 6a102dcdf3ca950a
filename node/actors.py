"""Who acts: a participant calling with its API token, with the roles and organisation the index gives it.

Domain packages take a `Caller` and decide what it may do; the API builds it from the request."""

from dataclasses import dataclass

from node.store import TokenOwner


@dataclass(frozen=True)
class Caller:
    owner: TokenOwner
    roles: int
    organisation: int | None
    frozen: bool

    @property
    def account(self) -> str:
        return self.owner.account

    def has(self, role: int) -> bool:
        return bool(self.roles & role)
