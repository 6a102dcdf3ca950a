"""Gas of issue, transfer (to a new holder, an existing one, a bundle of three), retire (one batch, three),
pledge and release, against a lower bound.

The lower bound of an operation is the gas of what it cannot avoid (prices from the Prague
schedule anvil runs): the intrinsic 21,000; the calldata actually sent (4 per zero byte, 16 per
other byte); a cold read (2,100) of every slot the rules oblige it to consult; every storage write
it must make (20,000 to fill an empty slot, 2,900 to change a warm one); ecrecover (3,000) and the
EIP-712 hashing; and the logs it emits (375 + 375 per topic + 8 per data byte). Everything above
that is the contract's own overhead: dispatch, ABI decoding, memory and arithmetic.

    python -m bench.gas [--quick]
"""

import argparse
import sys
import time
from dataclasses import dataclass, field

from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.build import compile_contracts
from node.chain.devnet import DevNetwork, start_devnet
from node.chain.pledges import PledgeConsent, register_pledge, sign_consent
from node.chain.registry import RetirementRequest
from node.chain.rpc import RpcClient
from node.chain.sender import Receipt
from node.chain.statements import VerificationStatement, methodology_id, sign_verification
from node.settings import load_settings

G_TRANSACTION = 21_000
G_COLD_SLOAD = 2_100
G_SSTORE_SET = 20_000
G_SSTORE_RESET = 2_900
G_ECRECOVER = 3_000
G_LOG, G_LOG_TOPIC, G_LOG_BYTE = 375, 375, 8
YEAR = 365 * 86400


def keccak_gas(size: int) -> int:
    return 30 + 6 * ((size + 31) // 32)


@dataclass
class LowerBound:
    parts: dict[str, int] = field(default_factory=dict)

    def add(self, label: str, gas: int) -> None:
        self.parts[label] = self.parts.get(label, 0) + gas

    @property
    def total(self) -> int:
        return sum(self.parts.values())


def calldata_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def common(receipt: Receipt, tx_input: bytes) -> LowerBound:
    bound = LowerBound()
    bound.add("intrinsic", G_TRANSACTION)
    bound.add("calldata", calldata_gas(tx_input))
    for log in receipt.logs:
        data = bytes.fromhex(log["data"][2:])
        bound.add("logs", G_LOG + G_LOG_TOPIC * len(log["topics"]) + G_LOG_BYTE * len(data))
    return bound


def issue_bound(receipt: Receipt, tx_input: bytes) -> LowerBound:
    bound = common(receipt, tx_input)
    # ledger settings (pause, buffer), issuer, project, evidence-root use, verifier, owner
    bound.add("cold reads", 6 * G_COLD_SLOAD)
    bound.add("project slot update", G_SSTORE_RESET)
    bound.add("evidence root consumed", G_SSTORE_SET)
    bound.add("owner and buffer balances", 2 * (G_COLD_SLOAD + G_SSTORE_SET))
    bound.add("ecrecover", G_ECRECOVER)
    bound.add("eip712 hashing", keccak_gas(9 * 32) + keccak_gas(66))
    return bound


def transfer_bound(receipt: Receipt, tx_input: bytes, new_holder: bool, pairs: int = 1) -> LowerBound:
    """One transfer, or a bundle of `pairs` batches: the parties are read once, the rest per pair."""
    bound = common(receipt, tx_input)
    bound.add("cold reads", (3 + pairs) * G_COLD_SLOAD)  # ledger settings, sender, recipient, batch statuses
    bound.add("sender balance", pairs * (G_COLD_SLOAD + G_SSTORE_RESET))
    bound.add("recipient balance", pairs * (G_COLD_SLOAD + (G_SSTORE_SET if new_holder else G_SSTORE_RESET)))
    return bound


def retire_bound(receipt: Receipt, tx_input: bytes, pairs: int = 1) -> LowerBound:
    """One retirement, or `pairs` batches retired at once: the holder and the counter once, the rest per pair."""
    bound = common(receipt, tx_input)
    bound.add("cold reads", (2 + pairs) * G_COLD_SLOAD)  # ledger settings, holder, batch statuses
    bound.add("holder balance", pairs * (G_COLD_SLOAD + G_SSTORE_RESET))
    bound.add("retirement counter", G_SSTORE_RESET)
    return bound


def pledge_bound(receipt: Receipt, tx_input: bytes) -> LowerBound:
    """A bank's pledge with the holder's consent, neither the holder's first nor the registry's first."""
    bound = common(receipt, tx_input)
    bound.add("cold reads", 4 * G_COLD_SLOAD)  # ledger settings, bank, holder, batch status
    bound.add("consent nonce and pledge count", 2 * (G_COLD_SLOAD + G_SSTORE_RESET))
    bound.add("holding (pledged part)", G_COLD_SLOAD + G_SSTORE_RESET)
    bound.add("pledge record, two slots", 2 * (G_COLD_SLOAD + G_SSTORE_SET))
    bound.add("ecrecover", G_ECRECOVER)
    bound.add("eip712 hashing", keccak_gas(7 * 32) + keccak_gas(66))
    return bound


def release_bound(receipt: Receipt, tx_input: bytes) -> LowerBound:
    bound = common(receipt, tx_input)
    bound.add("pledge record: batch and holder", G_COLD_SLOAD)
    bound.add("pledge record: bank, amount and state", G_COLD_SLOAD + G_SSTORE_RESET)
    bound.add("holding (pledged part)", G_COLD_SLOAD + G_SSTORE_RESET)
    return bound


def tx_input(rpc: RpcClient, receipt: Receipt) -> bytes:
    return bytes.fromhex(rpc.call("eth_getTransactionByHash", receipt.tx_hash)["input"][2:])


def bundle_batches(net: DevNetwork, now: int, size: int) -> list[int]:
    """`size` one-year batches of a project of their own, held by the owner, in ascending id order."""
    reg, s = net.registry, net.senders
    project = reg.register_project(s["owner"], net.address("owner"), b"\x02" * 32)
    batches = []
    for k in range(size):
        start = now - (size + 1 - k) * YEAR
        statement = VerificationStatement(
            project,
            start,
            start + YEAR,
            1_000_000_000,
            (1000 + k).to_bytes(32, "big"),
            methodology_id("SL-GS-001/1.1"),
            now + 3600,
            1000 + k,
        )
        signature = sign_verification(net.accounts["verifier"], reg.domain(), statement)
        batches.append(reg.issue(s["issuer"], statement, signature)[0])
    return batches


def measure(rounds: int) -> dict[str, tuple[int, LowerBound]]:
    settings = load_settings()
    build = compile_contracts(settings)
    port = free_port()
    with AnvilProcess(AnvilConfig(binary=anvil_binary(settings.project_root), port=port)) as anvil:
        rpc = RpcClient(anvil.url)
        net = start_devnet(rpc, build)
        reg, s = net.registry, net.senders
        project = reg.register_project(s["owner"], net.address("owner"), b"\x01" * 32)
        domain = reg.domain()
        now = int(time.time())
        results: dict[str, tuple[int, LowerBound]] = {}
        bundle = bundle_batches(net, now, 3)
        deal = bytes.fromhex("9c" * 32)
        # The measured bundle goes to an existing holder of all three: the first one makes it so.
        reg.transfer_batches(s["owner"], bundle, [1_000_000] * 3, net.address("buyer2"), deal)
        for i in range(rounds):
            start = now - (rounds - i + 1) * YEAR
            statement = VerificationStatement(
                project,
                start,
                start + YEAR,
                1_250_000_000 + i,
                (i + 1).to_bytes(32, "big") * 1,
                methodology_id("SL-GS-001/1.1"),
                now + 3600,
                i,
            )
            batch, receipt = reg.issue(
                s["issuer"], statement, sign_verification(net.accounts["verifier"], domain, statement)
            )
            results["issue"] = (receipt.gas_used, issue_bound(receipt, tx_input(rpc, receipt)))
            receipt = reg.transfer(s["owner"], batch, net.address("buyer"), 400_000_000, deal)
            results["transfer_new"] = (
                receipt.gas_used,
                transfer_bound(receipt, tx_input(rpc, receipt), True),
            )
            receipt = reg.transfer(s["owner"], batch, net.address("buyer"), 100_000_000, deal)
            results["transfer_existing"] = (
                receipt.gas_used,
                transfer_bound(receipt, tx_input(rpc, receipt), False),
            )
            receipt = reg.transfer_batches(
                s["owner"], bundle, [10_000_000, 20_000_000, 30_000_000], net.address("buyer2"), deal
            )
            results["transfer_bundle_3"] = (
                receipt.gas_used,
                transfer_bound(receipt, tx_input(rpc, receipt), False, pairs=3),
            )
            request = RetirementRequest(
                batch,
                250_000_000,
                beneficiary="Hangzhou Courier Co., Ltd.",
                reason="2026 scope 3 delivery emissions",
                consumption_start=now - YEAR,
                consumption_end=now,
                region=b"CN-330100".ljust(16, b"\0"),
            )
            _, receipt = reg.retire(s["buyer"], request)
            results["retire"] = (receipt.gas_used, retire_bound(receipt, tx_input(rpc, receipt)))
            _, receipt = reg.retire_batches(s["owner"], bundle, [5_000_000, 6_000_000, 7_000_000], request.details())
            results["retire_batches"] = (receipt.gas_used, retire_bound(receipt, tx_input(rpc, receipt), pairs=3))
            # A pledge of the buyer's units to the bank (the first of the round leaves its nonce and the count
            # non-zero, as a busy registry's are), then its release.
            for k in range(2):
                consent = PledgeConsent(batch, net.address("buyer"), net.address("bank"), 10_000_000 + k,
                                        int(reg.value("consentNonce", net.address("buyer"))), now + 3600)  # fmt: skip
                signature = sign_consent(net.accounts["buyer"], domain, consent)
                receipt = register_pledge(reg, s["bank"], consent, signature)
            results["pledge"] = (receipt.gas_used, pledge_bound(receipt, tx_input(rpc, receipt)))
            pledge_id = int(reg.event(receipt, "PledgeRegistered").args["pledgeId"])
            receipt = reg.send(s["bank"], "releasePledge", pledge_id)
            results["release_pledge"] = (receipt.gas_used, release_bound(receipt, tx_input(rpc, receipt)))
        rpc.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round instead of three")
    args = parser.parse_args()
    results = measure(1 if args.quick else 3)
    for op, (gas, bound) in results.items():
        parts = ", ".join(f"{k} {v}" for k, v in bound.parts.items())
        print(
            f"{op:18} gas {gas:7d}  lower bound {bound.total:7d}  ratio {gas / bound.total:.3f}  [{parts}]",
            file=sys.stderr,
        )
    ratio = max(gas / bound.total for gas, bound in results.values())
    figures = " ".join(f"{op}={gas}" for op, (gas, _) in results.items())
    bounds = " ".join(f"{op}_lower_bound={bound.total}" for op, (_, bound) in results.items())
    print(f"BENCH gas {figures} max_ratio_to_lower_bound={ratio:.3f} {bounds}")


if __name__ == "__main__":
    main()
