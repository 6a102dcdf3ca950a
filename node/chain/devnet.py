"""A ready development network: a deployed registry and a cast of funded, registered participants.

Used by the tests, the benchmarks and the demo, so all three exercise the same setup the CLI does.
Accounts here are throwaway keys held in memory; a real node keeps its keys in the keystore.
"""

from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

from node.chain.build import BuildOutput
from node.chain.deploy import deploy_registry
from node.chain.manifest import DeploymentManifest
from node.chain.registry import ROLE_BANK, ROLE_ISSUER, ROLE_REGULATOR, ROLE_VERIFIER, RegistryClient
from node.chain.rpc import RpcClient
from node.chain.sender import GasMode, TransactionSender
from node.chain.statements import VerificationStatement, methodology_id, sign_verification
from node.settings import Settings

# name -> (organisation, roles). The verifier, issuer and owners sit in different organisations,
# as separation of duties requires.
CAST: dict[str, tuple[int, int]] = {
    "admin": (1, 1),
    "buffer": (1, 0),
    "issuer": (1, ROLE_ISSUER),
    "verifier": (2, ROLE_VERIFIER),
    "regulator": (9, ROLE_REGULATOR),
    "owner": (3, 0),
    "buyer": (4, 0),
    "buyer2": (5, 0),
    "bank": (6, ROLE_BANK),
}
DEV_FUNDS_WEI = 10**21
# The registry's buffer share a development network deploys with: the node's own default.
DEFAULT_BUFFER_SHARE_BPS: int = Settings.model_fields["buffer_share_bps"].default


@dataclass
class DevNetwork:
    rpc: RpcClient
    chain_id: int
    manifest: DeploymentManifest
    registry: RegistryClient
    accounts: dict[str, LocalAccount]
    senders: dict[str, TransactionSender] = field(default_factory=dict)

    def address(self, name: str) -> str:
        return str(self.accounts[name].address).lower()

    def issue_batch(self, quantity: int, evidence_root: bytes, *, owner: str = "owner") -> int:
        """Registers a project for `owner` and issues one year ending yesterday: a batch to work with."""
        registry, senders = self.registry, self.senders
        project = registry.register_project(senders[owner], self.address(owner), evidence_root)
        now = int(self.rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
        statement = VerificationStatement(
            project,
            now - 366 * 86_400,
            now - 86_400,
            quantity,
            evidence_root,
            methodology_id("SL-GS-001/1.1"),
            now + 3600,
            0,
        )
        signature = sign_verification(self.accounts["verifier"], registry.domain(), statement)
        batch, _ = registry.issue(senders["issuer"], statement, signature)
        return batch

    def sender(self, account: LocalAccount) -> TransactionSender:
        first = next(iter(self.senders.values()))
        return TransactionSender(
            self.rpc,
            account,
            chain_id=self.chain_id,
            abi=self.registry.abi,
            gas_mode=first.gas_mode,
            gas_price_wei=first.gas_price_wei,
            timeout_s=first.timeout_s,
        )


def fund(rpc: RpcClient, address: str, wei: int = DEV_FUNDS_WEI) -> None:
    """Gives an account ether on anvil (a development-only RPC method)."""
    rpc.call("anvil_setBalance", address, hex(wei))


def start_devnet(
    rpc: RpcClient,
    build: BuildOutput,
    *,
    gas_mode: GasMode = "eip1559",
    gas_price_wei: int = 0,
    buffer_share_bps: int = DEFAULT_BUFFER_SHARE_BPS,
    timeout_s: float = 30.0,
    fund_accounts: bool = True,
    contract: str = "SinkRegistry",
) -> DevNetwork:
    """Deploys and registers the cast; on a free-gas (Besu-style) chain, pass fund_accounts=False."""
    chain_id = rpc.chain_id()
    accounts = {name: Account.create() for name in CAST}
    if fund_accounts:
        for account in accounts.values():
            fund(rpc, account.address)

    def make(account: LocalAccount) -> TransactionSender:
        return TransactionSender(
            rpc,
            account,
            chain_id=chain_id,
            gas_mode=gas_mode,
            gas_price_wei=gas_price_wei,
            timeout_s=timeout_s,
        )

    senders = {name: make(account) for name, account in accounts.items()}
    manifest = deploy_registry(
        build,
        senders["admin"],
        organisation=CAST["admin"][0],
        buffer_account=str(accounts["buffer"].address),
        buffer_share_bps=buffer_share_bps,
        contract=contract,
    )
    registry = RegistryClient(rpc, manifest.registry_abi(), manifest.registry.address)
    for sender in senders.values():
        sender.abi = registry.abi
    for name, (organisation, roles) in CAST.items():
        if name not in ("admin", "buffer"):
            registry.register_participant(senders["admin"], str(accounts[name].address), organisation, roles)
    return DevNetwork(rpc, chain_id, manifest, registry, accounts, senders)
