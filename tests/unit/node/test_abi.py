"""Revert decoding: the one place raw revert bytes become named errors."""

from eth_abi import encode
from eth_utils import keccak

from node.chain.abi import ContractAbi
from node.errors import ContractRevert, TransactionError

ABI = [
    {"type": "error", "name": "BatchFrozen", "inputs": [{"name": "batchId", "type": "uint256"}]},
    {"type": "error", "name": "AccountFrozen", "inputs": [{"name": "account", "type": "address"}]},
    {
        "type": "function",
        "name": "issue",
        "stateMutability": "nonpayable",
        "outputs": [],
        "inputs": [
            {
                "name": "s",
                "type": "tuple",
                "components": [{"name": "a", "type": "uint64"}, {"name": "b", "type": "bytes32"}],
            },
            {"name": "v", "type": "uint8"},
        ],
    },
]


def test_decodes_a_custom_error_with_named_arguments():
    data = keccak(text="BatchFrozen(uint256)")[:4] + encode(["uint256"], [7])
    error = ContractAbi(ABI).decode_revert(data)
    assert isinstance(error, ContractRevert)
    assert (error.code, error.args_by_name) == ("BatchFrozen", {"batchId": 7})
    assert str(error) == "BatchFrozen(batchId=7)"


def test_addresses_in_errors_come_back_lowercase():
    account = "0x" + "AB" * 20
    data = keccak(text="AccountFrozen(address)")[:4] + encode(["address"], [account])
    assert ContractAbi(ABI).decode_revert(data).values == (account.lower(),)


def test_decodes_require_strings_and_panics():
    abi = ContractAbi(ABI)
    assert abi.decode_revert(bytes.fromhex("08c379a0") + encode(["string"], ["nope"])).args_by_name == {
        "message": "nope"
    }
    assert abi.decode_revert(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])).code == "Panic"


def test_unknown_revert_data_is_not_dressed_up_as_a_named_error():
    error = ContractAbi(ABI).decode_revert(bytes.fromhex("deadbeef"))
    assert type(error) is TransactionError
    assert "0xdeadbeef" in str(error)


def test_tuple_arguments_use_the_canonical_signature():
    codec = ContractAbi(ABI).function("issue")
    assert codec.selector == keccak(text="issue((uint64,bytes32),uint8)")[:4]
    assert codec.encode_call(((1, b"\x00" * 32), 27))[:4] == codec.selector
