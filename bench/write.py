"""Write path throughput: signed transfers per second through the node's TransactionSender (estimate,
sign, send, await receipt) against raw signed sends of the same transfers in the same run (sign
locally, eth_sendRawTransaction, await receipt), both sequential.

    python -m bench.write [--quick]
"""

import argparse
import time

from eth_utils import to_checksum_address

from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.build import compile_contracts
from node.chain.devnet import DevNetwork, start_devnet
from node.chain.rpc import RpcClient
from node.settings import load_settings


def setup(net: DevNetwork) -> int:
    batch = net.issue_batch(10**15, b"\x0f" * 32)
    net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 10**12)
    return batch


def through_node(net: DevNetwork, batch: int, count: int) -> float:
    began = time.perf_counter()
    for i in range(count):
        net.registry.transfer(net.senders["owner"], batch, net.address("buyer"), 1, i.to_bytes(32, "big"))
    return count / (time.perf_counter() - began)


def raw_sends(net: DevNetwork, batch: int, count: int) -> float:
    """The floor of any write path: no estimate, no decoding, fees fixed, nonce counted locally."""
    account, rpc = net.accounts["buyer"], net.rpc
    nonce = int(rpc.call("eth_getTransactionCount", account.address, "pending"), 16)
    codec = net.registry.abi.function("transfer")
    to = to_checksum_address(net.registry.address)
    base = int(rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    began = time.perf_counter()
    for i in range(count):
        data = codec.encode_call((batch, net.address("owner"), 1, i.to_bytes(32, "big")))
        tx = {"chainId": net.chain_id, "nonce": nonce + i, "gas": 120_000, "value": 0, "data": data, "to": to,
              "maxFeePerGas": 4 * base + 10**9, "maxPriorityFeePerGas": 10**9, "type": 2}  # fmt: skip
        tx_hash = rpc.call("eth_sendRawTransaction", "0x" + account.sign_transaction(tx).raw_transaction.hex())
        pause = 0.001
        while rpc.call("eth_getTransactionReceipt", tx_hash) is None:
            time.sleep(pause)
            pause = min(2 * pause, 0.1)
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 transfers a round, one round")
    args = parser.parse_args()
    count, rounds = (100, 1) if args.quick else (400, 3)
    settings = load_settings()
    build = compile_contracts(settings)
    with AnvilProcess(AnvilConfig(binary=anvil_binary(settings.project_root), port=free_port())) as anvil:
        rpc = RpcClient(anvil.url)
        net = start_devnet(rpc, build)
        batch = setup(net)
        # Rounds alternate so that both paths meet the chain at the same sizes; the best of each counts.
        node_rates, raw_rates = [], []
        for _ in range(rounds):
            node_rates.append(through_node(net, batch, count))
            raw_rates.append(raw_sends(net, batch, count))
        node_rate, raw_rate = max(node_rates), max(raw_rates)
        rpc.close()
    print(f"BENCH write tx_per_s={node_rate:.0f} raw_tx_per_s={raw_rate:.0f} ratio={node_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
