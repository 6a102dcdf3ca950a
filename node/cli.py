"""`sinknode`: the node's command line. Thin: each command calls one function of the package."""

# ruff: noqa: E402 (the signal disposition below must be set before the slow imports)

import signal

# Ctrl-C while the imports below load (a second or two) ends the process quietly; main() then turns it back
# into KeyboardInterrupt, which it reports in one line after the command's own clean-up ran. A process the
# node spawns (the risk rules) imports this module again as __mp_main__: a Ctrl-C to the terminal's process
# group must not kill it while it starts, as its parent stops it.
signal.signal(signal.SIGINT, signal.SIG_IGN if __name__ == "__mp_main__" else signal.SIG_DFL)

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import httpx
import typer
import uvicorn
from rich.console import Console

from node.chain.anvil import AnvilProcess, local_chain_config
from node.chain.deploy import ensure_deployed, source_matches_chain
from node.chain.keystore import Keystore, kept_password
from node.chain.manifest import DeploymentManifest, load_manifest
from node.chain.registry import ProjectStatus, RegistryClient
from node.chain.rpc import RpcClient
from node.demo import prepare_participants, run_demo, write_tokens
from node.errors import ChainUnavailable, SinkError
from node.evidence.bundle import create_bundle, load_bundle, save_bundle, verify_proof_document
from node.evidence.store import EvidenceStore
from node.index.follower import Indexer, Progress
from node.network.besu import BESU_IMAGE, NetworkRequest, check_request, decrypt_node_key, init_network
from node.peers import PeerError, compare
from node.recursion import restore_recursion_limit
from node.settings import Settings, load_settings
from node.store import Store
from registry.campaigns import verify_subscriber
from registry.merkle import InclusionProof
from registry.offsets import verify_order

# The imports above bring in py_ecc, which raises the recursion limit to 100,000 (node.recursion says why not).
restore_recursion_limit()

app = typer.Typer(no_args_is_help=True, help="sinkledger node: garden carbon-sink certificates on a ledger")
chain_app = typer.Typer(no_args_is_help=True, help="the local development chain")
keys_app = typer.Typer(no_args_is_help=True, help="encrypted account keystores under <home>/keys")
offsets_app = typer.Typer(no_args_is_help=True, help="checkout offset certificates")
evidence_app = typer.Typer(no_args_is_help=True, help="evidence files, attested bundles and offline proofs")
app.add_typer(chain_app, name="chain")
app.add_typer(keys_app, name="keys")
app.add_typer(evidence_app, name="evidence")
app.add_typer(offsets_app, name="offsets")
network_app = typer.Typer(no_args_is_help=True, help="a Besu QBFT network of several organisations")
app.add_typer(network_app, name="network")
peers_app = typer.Typer(no_args_is_help=True, help="other organisations' nodes")
app.add_typer(peers_app, name="peers")
console = Console(soft_wrap=True)
errors = Console(soft_wrap=True, stderr=True)


def _wait_for_signal(alive: Callable[[], bool] = lambda: True, every: Callable[[], None] = lambda: None) -> None:
    """Blocks until SIGINT or SIGTERM, or until `alive()` turns false; calls `every()` about 4 times a second."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.25) and alive():
        every()


def _report_orphan(anvil: AnvilProcess) -> None:
    """Says so when starting the node's chain first stopped the one an earlier, killed run left running (and
    when its state file had to be taken from the whole copy)."""
    _report_restored(anvil)
    if anvil.orphan_stopped is not None:
        console.print(
            f"stopped the chain an earlier run left running (pid {anvil.orphan_stopped}); "
            f"started it again from {anvil.config.state_file}",
            highlight=False,
        )


def _report_restored(anvil: AnvilProcess) -> None:
    if anvil.restored_from_copy:
        console.print(
            f"the chain's state file was cut short (the chain was killed while saving it): started from the last"
            f" whole copy, {anvil.state_copy}; the node re-sends what the chain lost",
            highlight=False,
            style="yellow",
        )


def _supervise(anvil: AnvilProcess) -> Callable[[], None]:
    """Restarts the chain from its state file if it dies under the node (the API reconnects by itself), and
    keeps a whole copy of the state file to start from if a kill cuts the file short while anvil saves it."""
    last_copy = [0.0]

    def check() -> None:
        status = anvil.restart_if_dead()
        if status is not None:
            console.print(
                f"the chain exited unexpectedly (status {status}); restarted it at {anvil.url} "
                f"from {anvil.config.state_file}",
                highlight=False,
                style="yellow",
            )
            _report_restored(anvil)
        if time.monotonic() - last_copy[0] >= 2.0:
            last_copy[0] = time.monotonic()
            anvil.keep_state_copy()

    return check


def _run_local_chain(settings: Settings) -> None:
    if not settings.manages_local_chain:
        raise ChainUnavailable(f"SINKNODE_RPC_URL is set ({settings.rpc_url}): this node uses that chain")
    config = local_chain_config(settings)
    existed = config.state_file is not None and config.state_file.is_file()
    with AnvilProcess(config) as anvil:
        _report_orphan(anvil)
        state = "resumed from" if existed else "new, state kept in"
        console.print(f"chain {settings.chain_id} at {anvil.url} ({state} {config.state_file})")
        console.print("running; Ctrl-C or SIGTERM stops it")
        _wait_for_signal(every=_supervise(anvil))
        console.print("stopping: the chain state is saved")


@chain_app.command("up")
def chain_up() -> None:
    """Starts the local anvil chain in the foreground; its state persists under the data directory."""
    _run_local_chain(load_settings())


@app.command()
def deploy(
    force: Annotated[bool, typer.Option(help="deploy again even if the manifest matches")] = False,
) -> None:
    """Compiles and deploys the registry, then writes the deployment manifest."""
    settings = load_settings()
    manifest, created = ensure_deployed(settings, force=force)
    verb = "deployed" if created else "already deployed"
    console.print(f"SinkRegistry {verb} at {manifest.registry.address} (block {manifest.registry.deploy_block})")
    console.print(f"manifest: {settings.manifest_path}")


def _serve(settings: Settings, demo: bool, every: Callable[[], None] = lambda: None) -> None:
    """Runs the API (which runs the indexer) in the foreground; optionally loads the demo once it answers.
    `every()` runs a few times a second meanwhile (the chain's supervision); if it raises, the API stops."""
    marker = settings.home / "demo-tokens.json"
    links = settings.home / "demo-links.txt"  # the demo's pages, printed again on every later start
    api = _ApiProcesses(settings) if settings.api_workers > 1 else _ApiThread(settings)

    def load_demo() -> None:
        deadline = time.monotonic() + 60
        while not api.started() and time.monotonic() < deadline:
            time.sleep(0.1)
        try:
            state = Store(settings.store_location)
            tokens = prepare_participants(settings, state)
            state.close()
            result = run_demo(settings, tokens)
            write_tokens(settings, tokens)
            links.write_text("\n".join(result.links) + "\n", encoding="utf-8")
            console.print("demo loaded: open", highlight=False)
            for link in result.links:
                console.print(f"  {link}", highlight=False)
            console.print(f"API tokens of the demo participants: {marker}", highlight=False)
        except SinkError as error:
            console.print(f"demo failed: {error.message}", markup=False, style="red")

    if demo and not marker.exists():
        threading.Thread(target=load_demo, name="demo", daemon=True).start()
    workers = f" ({settings.api_workers} workers)" if settings.api_workers > 1 else ""
    console.print(f"API on {settings.base_url}{workers} (docs at {settings.base_url}/docs); Ctrl-C stops",
                  highlight=False)  # fmt: skip
    console.print(f"the registry's site: {settings.base_url}/", highlight=False)
    if links.exists() and not (demo and not marker.exists()):
        console.print("demo pages:", highlight=False)
        for link in links.read_text(encoding="utf-8").split():
            console.print(f"  {link}", highlight=False)
    api.start()
    try:
        _wait_for_signal(api.alive, every)
    finally:
        api.stop()


class _ApiThread:
    """One API process: uvicorn in a thread of this one, so that the signals stay ours (uvicorn re-raises a
    captured SIGTERM after its shutdown, which would kill this process before the chain below it is saved)."""

    def __init__(self, settings: Settings) -> None:
        # The app is built by its factory from the same environment: the CLI never imports the web layer.
        config = uvicorn.Config("node.api.app:app_from_environment", factory=True, host=settings.api_host,
                                port=settings.api_port, log_level="warning")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="api", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def started(self) -> bool:
        return bool(self.server.started)

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class _ApiProcesses:
    """Several API workers under node.api.workers in a child process (a listening socket each on the one port;
    one of them indexes, node.services), stopped with SIGTERM, then SIGKILL if it does not stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        s = self.settings
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.api.workers", "--host", s.api_host, "--port", str(s.api_port),
             "--workers", str(s.api_workers), "--log-level", "warning"],
        )  # fmt: skip

    def started(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.settings.api_host}:{self.settings.api_port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="load the demo data (only if it was never loaded)")] = True,
) -> None:
    """The main job: local chain (unless SINKNODE_RPC_URL is set), deployment, indexer and API, until stopped."""
    settings = load_settings()
    if not settings.manages_local_chain:
        ensure_deployed(settings)
        _serve(settings, demo)
        return
    config = local_chain_config(settings)
    with AnvilProcess(config) as anvil:
        _report_orphan(anvil)
        console.print(f"chain {settings.chain_id} at {anvil.url}, state in {config.state_file}", highlight=False)
        manifest, created = ensure_deployed(settings)
        verb = "deployed" if created else "found"
        console.print(f"SinkRegistry {verb} at {manifest.registry.address}", highlight=False)
        _serve(settings, demo, _supervise(anvil))
        console.print("stopping: the chain state is saved")


@app.command()
def serve() -> None:
    """The API (with its indexer) against an already deployed registry, until stopped."""
    _serve(load_settings(), demo=False)


def _open_indexer(settings: Settings) -> Indexer:
    from node.supervision.facts import risk_rules

    manifest = load_manifest(settings.manifest_path)
    return Indexer(
        settings.effective_rpc_url,
        manifest,
        settings.index_location,
        confirmations=settings.confirmations,
        max_range=settings.index_range_blocks,
        timezone=settings.aggregate_timezone,
        risk=risk_rules(settings),
    )


def _show_progress(progress: Progress) -> None:
    console.print(
        f"block {progress.last_block}/{progress.head}  events {progress.events}  "
        f"{progress.events_per_s:,.0f} events/s  lag {progress.lag}  reorgs {progress.reorgs}",
        highlight=False,
    )


@app.command()
def index(
    once: Annotated[bool, typer.Option(help="index up to the head, then exit")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress lines")] = False,
) -> None:
    """Mirrors the registry's events into the SQLite index, following the chain until stopped."""
    settings = load_settings()
    indexer = _open_indexer(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    last_shown = [0.0]

    def progress(p: Progress) -> None:
        now = time.monotonic()
        if not quiet and (now - last_shown[0] >= 1.0 or p.lag == 0):
            last_shown[0] = now
            _show_progress(p)

    try:
        if once:
            checkpoint = indexer.sync(stop=stop, progress=progress)
        else:
            indexer.follow(stop, progress, poll_s=settings.index_poll_s)
            checkpoint = indexer.checkpoint
    finally:
        indexer.close()
    console.print(
        f"indexed to block {checkpoint.last_block}: {checkpoint.event_count} events, digest {checkpoint.digest}"
    )


@app.command()
def verify() -> None:
    """Rebuilds contracts/ from source and checks that the chain runs exactly that code."""
    same, address = source_matches_chain(load_settings())
    if not same:
        console.print(f"[red]the code at {address} is NOT the code built from contracts/[/red]")
        raise typer.Exit(1)
    console.print(f"the code at {address} is the code built from contracts/")


@app.command()
def config() -> None:
    """Prints the effective settings, secrets masked."""
    console.print_json(json.dumps(load_settings().masked()))


@keys_app.command("new")
def keys_new(name: str) -> None:
    """Creates a new encrypted account keystore."""
    address = Keystore.from_settings(load_settings()).create(name)
    console.print(f"{name}: {address}")


@keys_app.command("token")
def keys_token(name: str, label: Annotated[str, typer.Option(help="who the token is for")] = "") -> None:
    """Creates an API token acting for keystore NAME's account; printed once, stored hashed."""
    settings = load_settings()
    address = Keystore.from_settings(settings).address(name)
    state = Store(settings.store_location)
    token = state.create_token(key_name=name, account=address, label=label or name)
    state.close()
    console.print(f"API token for {name} ({address}); keep it, it is not shown again:", highlight=False)
    print(token)


@keys_app.command("revoke")
def keys_revoke(name: str) -> None:
    """Revokes every API token acting for keystore NAME (the keystore itself stays)."""
    settings = load_settings()
    state = Store(settings.store_location)
    count = state.revoke_tokens(key_name=name)
    state.close()
    console.print(f"revoked {count} token(s) of {name}", highlight=False)


@keys_app.command("list")
def keys_list() -> None:
    """Lists keystores with their addresses (never their keys)."""
    keystore = Keystore.from_settings(load_settings())
    for name in keystore.names():
        console.print(f"{name}: {keystore.address(name)}")


@evidence_app.command("add")
def evidence_add(
    files: list[Path],
    project: Annotated[int, typer.Option(help="project id the evidence is for")],
    kind: Annotated[str, typer.Option(help="e.g. monitoring-report, tree-inventory, photos")] = "monitoring-report",
    key: Annotated[str, typer.Option(help="keystore that signs the attestation")] = "attestor",
) -> None:
    """Stores files as one bundle, signs its Merkle root (EIP-712) and prints the root."""
    for path in files:
        if not path.is_file():
            _fail(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    settings = load_settings()
    manifest = load_manifest(settings.manifest_path)
    if not project_registered(settings, manifest, project):
        _fail(f"project {project} is not registered on the ledger {manifest.registry.address}")
    store = EvidenceStore.from_settings(settings)
    attestor = Keystore.from_settings(settings).load_or_create(key)
    with contextlib.ExitStack() as opened:  # files are read in chunks, not loaded whole
        bundle = create_bundle(
            store,
            [(path.name, opened.enter_context(path.open("rb"))) for path in files],
            project_id=project,
            kind=kind,
            attestor=attestor,
            chain_id=manifest.chain_id,
            registry=manifest.registry.address,
            attested_at=int(time.time()),
        )
    path = save_bundle(store, bundle)
    for item in bundle.files:
        console.print(f"{item.digest}  {item.name}", highlight=False)
    console.print(f"evidence root {bundle.root_hex}, attested by {bundle.signer}; bundle {path}", highlight=False)


@evidence_app.command("proof")
def evidence_proof(root: str, digest: str) -> None:
    """Prints the proof document of one file of a bundle (JSON), to hand to whoever checks it."""
    bundle = load_bundle(EvidenceStore(load_settings().evidence_dir), root)  # bundles are public: no key needed
    print(json.dumps(bundle.proof_document(digest.lower().removeprefix("0x")), indent=2))


@evidence_app.command("verify")
def evidence_verify(
    file: Path,
    proof: Path,
    signer: Annotated[str | None, typer.Option(help="the address the attestation must be signed by")] = None,
) -> None:
    """Checks a file against a proof document, offline: no node, no chain."""
    check = verify_proof_document(file.read_bytes(), json.loads(proof.read_text()), signer)
    console.print(f"file sha256 {check.file_digest}", highlight=False)
    console.print(f"in the attested bundle: {'yes' if check.in_bundle else 'NO'}; signed by {check.signer}")
    if check.signed_by_expected is False:
        console.print(f"NOT signed by {signer}")
    if not check.ok:
        raise typer.Exit(1)


@offsets_app.command("verify")
def offsets_verify(certificate: Path) -> None:
    """Checks a zero-carbon delivery certificate (an order) or a campaign subscription certificate (JSON)
    against its Merkle root, offline."""
    try:
        record = json.loads(certificate.read_text(encoding="utf-8"))
    except OSError as error:
        _fail(f"{certificate}: {error.strerror or error}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        _fail(f"{certificate}: not a JSON certificate")
    try:
        if isinstance(record, dict) and "order_id" in record:
            what = f"order {record['order_id']}"
            ok = verify_order(record["order_id"], int(record["grams"]), InclusionProof.from_dict(record["proof"]),
                              bytes.fromhex(record["root"].removeprefix("0x")))  # fmt: skip
            retired = ", ".join(str(r["retirement_id"]) for r in record.get("retirements", []))
        elif isinstance(record, dict) and "subscriber" in record and "proof" in record:
            what = f"subscription of {record['subscriber']}"
            ok = verify_subscriber(record["subscriber"], int(record["grams"]),
                                   InclusionProof.from_dict(record["proof"]),
                                   bytes.fromhex(record["root"].removeprefix("0x")))  # fmt: skip
            retired = str(record.get("retirement_id", ""))
        else:
            _fail(f"{certificate}: neither an order's nor a subscription's certificate (no proof in it)")
    except (KeyError, TypeError, ValueError) as error:
        _fail(f"{certificate}: a certificate with a malformed field ({error})")
    if not ok:
        console.print(f"{what} ({record['grams']} g) is NOT in root {record['root']}", markup=False)
        raise typer.Exit(1)
    console.print(
        f"{what} ({record['grams']} g) is in root {record['root']}, retired on chain as retirement {retired}:"
        " compare the root with that retirement's beneficiary hash",
        markup=False,
    )


def _network_password(settings: Settings, out: Path) -> str:
    """The password of the network's encrypted keys: SINKNODE_KEYSTORE_PASSWORD, else one made for it and
    kept in <out>/.password (0600), which an operator moves somewhere safer."""
    if settings.keystore_password is not None:
        return settings.keystore_password.get_secret_value()
    made = not (out / ".password").is_file()
    password = kept_password(out)
    if made:
        console.print(f"no SINKNODE_KEYSTORE_PASSWORD: the keys' password is in {out / '.password'}; keep it elsewhere",
                      highlight=False)  # fmt: skip
    return password


@network_app.command("init")
def network_init(
    orgs: Annotated[int, typer.Option(help="organisations, each with a node its sinknode talks to")],
    validators: Annotated[int, typer.Option(help="QBFT validators (4 or more tolerate one faulty validator)")],
    chain_id: Annotated[int, typer.Option(help="the consortium's own chain id")] = 20261,
    block_period: Annotated[int, typer.Option(help="seconds between blocks")] = 2,
    out: Annotated[Path | None, typer.Option(help="directory to write; default <home>/network")] = None,
    besu_image: Annotated[str, typer.Option(help="the Besu container image of the compose file")] = BESU_IMAGE,
) -> None:
    """Writes a Besu QBFT network: genesis, encrypted node keys, static nodes, allowlists, configs, compose."""
    settings = load_settings()
    target = out or settings.home / "network"
    request = NetworkRequest(orgs=orgs, validators=validators, chain_id=chain_id, block_period_s=block_period,
                             besu_image=besu_image)  # fmt: skip
    check_request(request)
    written = init_network(target, request, _network_password(settings, target), scrypt_n=settings.keystore_scrypt_n)
    console.print(f"wrote a QBFT network for chain {chain_id} in {target}", highlight=False)
    console.print(f"validators: {', '.join(written['validators'])}", highlight=False)  # type: ignore[arg-type]
    if validators < 4:
        console.print("fewer than 4 validators: one faulty validator stops the network", highlight=False)


@network_app.command("node-key")
def network_node_key(
    name: str,
    out: Annotated[Path | None, typer.Option(help="the network's directory; default <home>/network")] = None,
) -> None:
    """Decrypts node NAME's key into nodes/NAME/secret/key (0600), on the host that runs that node."""
    settings = load_settings()
    target = out or settings.home / "network"
    path = decrypt_node_key(target, name, _network_password(settings, target))
    console.print(f"wrote {path}", highlight=False)


@peers_app.command("compare")
def peers_compare(
    peer: Annotated[list[str] | None, typer.Option(help="a peer's URL (repeatable); default SINKNODE_PEERS")] = None,
    block: Annotated[int | None, typer.Option(help="the block to compare at; default the lowest all hold")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the report as JSON")] = False,
) -> None:
    """Compares this node's index (its API must run) with every peer's; exit status 1 if one differs."""
    settings = load_settings()
    peers = [p.rstrip("/") for p in peer] if peer else settings.peers
    if not peers:
        _fail("no peers: give --peer URL or set SINKNODE_PEERS")
    try:
        comparison = compare([settings.base_url, *peers], block=block)
    except (PeerError, httpx.HTTPError) as error:
        _fail(f"this node ({settings.base_url}) did not answer: {error}")
    if as_json:
        print(json.dumps(comparison.as_dict(), indent=2))
    else:
        console.print(f"block {comparison.block}, reference {comparison.reference}", highlight=False)
        for outcome in comparison.outcomes:
            console.print(outcome.describe(), markup=False, highlight=False)
    if not comparison.agreed:
        raise typer.Exit(1)


def project_registered(settings: Settings, manifest: DeploymentManifest, project_id: int) -> bool:
    """Is the project on the ledger? Asked of the chain: the CLI keeps no index of its own."""
    if not 0 < project_id < 2**64:
        return False
    registry = RegistryClient(RpcClient(settings.effective_rpc_url), manifest.registry_abi(), manifest.registry.address)
    return registry.project(project_id).status != ProjectStatus.NONE


def _fail(message: str) -> NoReturn:
    """One line on standard error and exit status 2: bad input to a command, never a traceback."""
    errors.print(f"error: {message}", markup=False, style="red")
    raise typer.Exit(2)


def main() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except SinkError as error:
        errors.print(f"error [{error.code}]: {error.message}", markup=False, style="red")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        # Ctrl-C before a command's own handler was installed (during start-up): stop quietly.
        console.print("stopped", highlight=False)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
