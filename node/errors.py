"""The node's one error tree.

    SinkError                   code: a stable name the API and CLI report
    ├── ConfigError             settings that cannot work
    ├── BuildError              the compiler refused or could not run
    ├── ChainUnavailable        no JSON-RPC answer, or the wrong chain
    ├── DeploymentError         no manifest, or it does not match the chain
    ├── KeystoreError           a keystore missing, unreadable or wrongly locked
    ├── EvidenceError           an evidence file missing, corrupt, or locked without its key
    └── TransactionError        a transaction could not be carried out
        ├── ContractRevert      the contract refused: code is its custom error's name
        └── TransactionTimeout  no receipt within the configured time

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


class TransactionError(SinkError):
    code = "transaction_error"


class TransactionTimeout(TransactionError):
    code = "transaction_timeout"


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
