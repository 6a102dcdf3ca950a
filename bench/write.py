"""Write path throughput: sequential `POST /v1/transfers`, each with its own Idempotency-Key, through a
whole local node (HTTP, the key's claim, the intent, the journalled signed send, the receipt, the index
catching up, the answer kept), against raw signed sends of the same transfers on the same chain in the
same run (sign locally, eth_sendRawTransaction, await the receipt: no node at all).

    python -m bench.write [--quick]

Prints `BENCH write tx_per_s= raw_tx_per_s= ratio= ...`; the ratio's floor is 0.8.
"""

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from eth_utils import to_checksum_address

from node.chain.rpc import RpcClient
from node.devflows import issued_batch
from node.devnode import LocalNode, local_node

ZERO = "0x" + "00" * 32


def through_node(node: LocalNode, batch: int, count: int) -> float:
    body = {"batch_id": batch, "to": node.addresses["buyer"], "amount": 1, "deal_ref": ZERO}
    began = time.perf_counter()
    for _ in range(count):
        reply = node.call("POST", "/v1/transfers", "park", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert reply.status_code == 200, reply.text
    return count / (time.perf_counter() - began)


def raw_sends(node: LocalNode, rpc: RpcClient, batch: int, count: int) -> float:
    """The floor of any write path: no estimate, no decoding, fees fixed, nonce counted locally."""
    services = node.services
    account = services.account("buyer")
    nonce = int(rpc.call("eth_getTransactionCount", account.address, "pending"), 16)
    codec = services.registry.abi.function("transfer")
    to = to_checksum_address(services.registry.address)
    chain_id = services.manifest.chain_id
    base = int(rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    park = node.addresses["park"]
    began = time.perf_counter()
    for i in range(count):
        data = codec.encode_call((batch, park, 1, bytes(32)))
        tx = {"chainId": chain_id, "nonce": nonce + i, "gas": 120_000, "value": 0, "data": data, "to": to,
              "maxFeePerGas": 4 * base + 10**9, "maxPriorityFeePerGas": 10**9, "type": 2}  # fmt: skip
        tx_hash = rpc.call("eth_sendRawTransaction", "0x" + account.sign_transaction(tx).raw_transaction.hex())
        pause = 0.001
        while rpc.call("eth_getTransactionReceipt", tx_hash) is None:
            time.sleep(pause)
            pause = min(2 * pause, 0.1)
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 transfers a round, one round")
    args = parser.parse_args()
    count, rounds = (50, 1) if args.quick else (300, 3)
    with (
        tempfile.TemporaryDirectory() as home,
        local_node(Path(home), evidence_key="55" * 32, rate_limit_exempt=["127.0.0.1"]) as node,
    ):
        _, batch = issued_batch(node)
        body = {"batch_id": batch, "to": node.addresses["buyer"], "amount": 10**9, "deal_ref": ZERO}
        node.ok("POST", "/v1/transfers", "park", json=body)
        rpc = RpcClient(node.services.rpc.url)
        # Rounds alternate so that both paths meet the chain at the same sizes; the best of each counts.
        node_rates, raw_rates = [], []
        for _ in range(rounds):
            node_rates.append(through_node(node, batch, count))
            raw_rates.append(raw_sends(node, rpc, batch, count))
        rpc.close()
        journalled = node.services.state.rows("SELECT COUNT(*) AS n FROM chain_tx")[0]["n"]
    node_rate, raw_rate = max(node_rates), max(raw_rates)
    print(
        f"BENCH write tx_per_s={node_rate:.0f} raw_tx_per_s={raw_rate:.0f} ratio={node_rate / raw_rate:.2f}"
        f" transfers={count * rounds} journalled={journalled} rounds={rounds}"
    )


if __name__ == "__main__":
    main()
