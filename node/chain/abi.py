"""A contract's ABI as codecs: calls by name, custom errors by selector, events by topic0.

Encoding goes through eth_abi directly rather than web3's contract objects: it is the same
codec without web3's per-call formatting, and the indexer will need the same tables.
"""

from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak

from node.errors import ContractRevert, TransactionError

# Error(string) and Panic(uint256), which solc emits for require-strings and assertions.
_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type of an ABI parameter, tuples expanded: `(uint64,uint40)[]`."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _normalise(kind: str, value: Any) -> Any:
    """Addresses come back lowercase, as the node stores them."""
    if kind == "address":
        return str(value).lower()
    if kind == "address[]":
        return [str(v).lower() for v in value]
    return value


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(abi_type(p) for p in entry['inputs'])})"


@dataclass(frozen=True)
class FunctionCodec:
    name: str
    selector: bytes
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    mutating: bool

    def encode_call(self, args: tuple[Any, ...]) -> bytes:
        return self.selector + encode(list(self.input_types), list(args))

    def decode_output(self, data: bytes) -> tuple[Any, ...]:
        return tuple(decode(list(self.output_types), data))


@dataclass(frozen=True)
class ErrorCodec:
    name: str
    selector: bytes
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]


@dataclass(frozen=True)
class EventCodec:
    name: str
    topic0: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]

    def decode(self, topics: list[bytes], data: bytes) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for (name, kind), topic in zip(self.indexed, topics[1:], strict=True):
            values[name] = _normalise(kind, decode([kind], topic)[0])
        decoded = decode([kind for _, kind in self.data], data)
        for (name, kind), value in zip(self.data, decoded, strict=True):
            values[name] = _normalise(kind, value)
        return values


class ContractAbi:
    """Lookup tables over one contract's ABI."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self.abi = abi
        self.functions: dict[str, FunctionCodec] = {}
        self.errors: dict[bytes, ErrorCodec] = {}
        self.events: dict[bytes, EventCodec] = {}
        self.events_by_name: dict[str, EventCodec] = {}
        for entry in abi:
            kind = entry.get("type")
            if kind == "function":
                self.functions[entry["name"]] = FunctionCodec(
                    name=entry["name"],
                    selector=keccak(text=_signature(entry))[:4],
                    input_types=tuple(abi_type(p) for p in entry["inputs"]),
                    output_types=tuple(abi_type(p) for p in entry["outputs"]),
                    mutating=entry["stateMutability"] not in ("view", "pure"),
                )
            elif kind == "error":
                error = ErrorCodec(
                    name=entry["name"],
                    selector=keccak(text=_signature(entry))[:4],
                    arg_names=tuple(p["name"] or f"arg{i}" for i, p in enumerate(entry["inputs"])),
                    arg_types=tuple(abi_type(p) for p in entry["inputs"]),
                )
                self.errors[error.selector] = error
            elif kind == "event":
                params = entry["inputs"]
                event = EventCodec(
                    name=entry["name"],
                    topic0=keccak(text=_signature(entry)),
                    indexed=tuple((p["name"], abi_type(p)) for p in params if p["indexed"]),
                    data=tuple((p["name"], abi_type(p)) for p in params if not p["indexed"]),
                )
                self.events[event.topic0] = event
                self.events_by_name[event.name] = event
        self.constructor_types = tuple(abi_type(p) for e in abi if e.get("type") == "constructor" for p in e["inputs"])

    def function(self, name: str) -> FunctionCodec:
        try:
            return self.functions[name]
        except KeyError:
            raise TransactionError(f"the contract has no function {name!r}") from None

    def decode_revert(self, data: bytes) -> TransactionError:
        """Turns revert data into a named error; the one place reverts are decoded."""
        selector, body = data[:4], data[4:]
        error = self.errors.get(selector)
        if error is not None:
            values = decode(list(error.arg_types), body)
            args = {
                name: _normalise(kind, value)
                for name, kind, value in zip(error.arg_names, error.arg_types, values, strict=True)
            }
            return ContractRevert(error.name, args)
        if selector == _ERROR_STRING:
            return ContractRevert("Error", {"message": decode(["string"], body)[0]})
        if selector == _PANIC:
            return ContractRevert("Panic", {"code": decode(["uint256"], body)[0]})
        if not data:
            return ContractRevert("Reverted", {})
        return TransactionError(f"the contract reverted with unknown data 0x{data.hex()}")
