"""The node's one error tree.

    SinkError                   code: a stable name the API and CLI report
    ├── ConfigError             settings that cannot work
    ├── BuildError              the compiler refused or could not run
    ├── ChainUnavailable        no JSON-RPC answer, or the wrong chain
    ├── DeploymentError         no manifest, or it does not match the chain
    ├── KeystoreError           a keystore missing, unreadable or wrongly locked
    ├── EvidenceError           an evidence file missing, corrupt, or locked without its key
    │   └── EvidenceTooLarge    more evidence bytes than a request may bring (code payload_too_large, 413)
    └── TransactionError        a transaction could not be carried out
        ├── ContractRevert      the contract refused: code is its custom error's name
        ├── TransactionTimeout  no receipt within the configured time
        │   └── TransactionPending  journalled and maybe sent: its fate is not known yet (answered 202)
        └── CodedError          a refusal decided by the node itself: a code, and its kind
            ├── InvalidRequest      the request is wrong (422)
            ├── Conflict            the current state forbids it (409)
            ├── Forbidden           the caller may not (403)
            ├── NotFound            what it names does not exist (404)
            └── Unavailable         not yet possible: retry (503)

Foreign exceptions (web3, httpx, solcx) are translated into these at the module that calls them.
"""

from typing import Any


class SinkError(Exception):
    code = "sink_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(SinkError):
    code = "config_error"


class NetworkConfigError(ConfigError):
    code = "network_config_error"


class BuildError(SinkError):
    code = "build_error"


class ChainUnavailable(SinkError):
    code = "chain_unavailable"


class DeploymentError(SinkError):
    code = "deployment_error"


class KeystoreError(SinkError):
    code = "keystore_error"


class EvidenceError(SinkError):
    code = "evidence_error"


class EvidenceTooLarge(EvidenceError):
    code = "payload_too_large"


class TransactionError(SinkError):
    code = "transaction_error"


class TransactionTimeout(TransactionError):
    code = "transaction_timeout"


class TransactionPending(TransactionTimeout):
    """A journalled transaction whose outcome is not known yet: it may still be mined, so it is never
    reported as failed; the node keeps re-sending it until it is mined or its nonce is taken."""

    code = "transaction_pending"

    def __init__(self, tx_hash: str, message: str) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class ContractRevert(TransactionError):
    """A named custom error from the contract, with its decoded arguments."""

    def __init__(self, name: str, args: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"{name}({shown})")
        self.name = name
        self.args_by_name = args

    @property
    def code(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def values(self) -> tuple[Any, ...]:
        return tuple(self.args_by_name.values())


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class CodedError(SinkError):
    """A refusal the node decides itself, with a stable code; its class says what kind of refusal it is
    (the API maps kinds to statuses in one place, node.api.errors)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self._code = code

    @property
    def code(self) -> str:  # type: ignore[override]
        return self._code


class InvalidRequest(CodedError):
    """The request itself is wrong: nothing about the current state would make it right."""


class Conflict(CodedError):
    """The current state forbids the request (it may succeed later, or never again)."""


class Forbidden(CodedError):
    """The caller may not do this."""


class Unauthenticated(CodedError):
    """Who sent the request is not established (a peer's signature missing, stale, replayed or wrong)."""


class NotFound(CodedError):
    """What the request names does not exist."""


class Unavailable(CodedError):
    """Something the request needs is not there yet (the index has not caught up): retry later."""


def not_found(what: str) -> NotFound:
    return NotFound("not_found", f"{what} does not exist")
