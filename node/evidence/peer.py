"""Evidence shared between organisations' nodes: requests signed with the requesting participant's key,
checked by the node that holds the files, which serves only what the owner granted.

A request carries four headers: `X-Sink-Signer` (the participant's address), `X-Sink-Time` (Unix seconds),
`X-Sink-Nonce` (16 random bytes, hex) and `X-Sink-Signature`, an EIP-191 personal signature over

    sinkledger-peer/1 \\n METHOD \\n path \\n query \\n time \\n nonce \\n chain id \\n registry address

The holder refuses a request whose time is more than 300 s away from its own clock, a nonce it has seen
from that signer, a signature that does not recover to the signer, and a signer that is not a registered,
unfrozen participant of its chain (the chain id and registry bind a signature to one ledger). Who may
then read a bundle's files: every regulator, the verifier of the bundle's project, the holder's own
organisation, and organisations the holder granted that bundle to.

The fetching node checks what it gets before keeping it: the bundle's files hash to its attested root, the
attestation is for this ledger and recovers to the bundle's signer, and each file hashes to its digest.
"""

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from node.errors import Conflict, EvidenceError, InvalidRequest, Unauthenticated, Unavailable
from node.evidence.attestation import Attestation, attestation_signer, evidence_root
from node.evidence.bundle import Bundle, EvidenceFile, _signature, save_bundle
from node.evidence.store import EvidenceStore

SCHEME = "sinkledger-peer/1"
MAX_SKEW_S = 300
HEADERS = ("x-sink-signer", "x-sink-time", "x-sink-nonce", "x-sink-signature")


def canonical_request(method: str, path: str, query: str, at: int, nonce: str, chain_id: int, registry: str) -> str:
    return "\n".join((SCHEME, method.upper(), path, query, str(at), nonce, str(chain_id), registry.lower()))


def signed_headers(account: LocalAccount, method: str, url: str, chain_id: int, registry: str,
                   now: int | None = None) -> dict[str, str]:  # fmt: skip
    parts = urlsplit(url)
    at = int(time.time()) if now is None else now
    nonce = secrets.token_hex(16)
    text = canonical_request(method, parts.path, parts.query, at, nonce, chain_id, registry)
    signature = account.sign_message(encode_defunct(text=text)).signature
    return {"x-sink-signer": str(account.address).lower(), "x-sink-time": str(at), "x-sink-nonce": nonce,
            "x-sink-signature": "0x" + bytes(signature).hex()}  # fmt: skip


@dataclass(frozen=True)
class SignedRequest:
    signer: str
    at: int
    nonce: str


def check_signature(headers: dict[str, str], method: str, path: str, query: str, chain_id: int, registry: str,
                    now: int | None = None) -> SignedRequest:  # fmt: skip
    """The request's signer, if its signature holds (the nonce is checked by the caller, against its store)."""
    missing = [name for name in HEADERS if not headers.get(name)]
    if missing:
        raise Unauthenticated("peer_signature_missing", f"a peer request is signed: missing {', '.join(missing)}")
    signer = headers["x-sink-signer"].lower()
    nonce = headers["x-sink-nonce"]
    try:
        at = int(headers["x-sink-time"])
        signature = bytes.fromhex(headers["x-sink-signature"].removeprefix("0x"))
    except ValueError:
        raise Unauthenticated("peer_signature_invalid", "X-Sink-Time or X-Sink-Signature is malformed") from None
    if len(nonce) != 32 or any(c not in "0123456789abcdef" for c in nonce):
        raise Unauthenticated("peer_signature_invalid", "X-Sink-Nonce is 16 bytes in lower-case hex")
    current = int(time.time()) if now is None else now
    if abs(current - at) > MAX_SKEW_S:
        raise Unauthenticated("peer_signature_expired", f"signed at {at}, {abs(current - at)} s from this node's clock")
    text = canonical_request(method, path, query, at, nonce, chain_id, registry)
    try:
        recovered = Account.recover_message(encode_defunct(text=text), signature=signature).lower()
    except Exception:  # a signature that is not one (wrong length, bad v) recovers nothing
        recovered = ""
    if recovered != signer:
        raise Unauthenticated("peer_signature_invalid", "the signature is not the signer's over this request")
    return SignedRequest(signer, at, nonce)


def bundle_from_dict(data: dict[str, Any]) -> Bundle:
    try:
        files = tuple(EvidenceFile(str(f["name"]), str(f["digest"]), int(f["size"]), f.get("original_name"))
                      for f in data["files"])  # fmt: skip
        return Bundle(files, Attestation.from_dict(data["attestation"]), _signature(data["signature"]),
                      str(data["signer"]).lower())  # fmt: skip
    except (KeyError, TypeError, ValueError) as error:
        raise EvidenceError(f"not an evidence bundle: {error}") from None


def check_bundle(bundle: Bundle, root: str, chain_id: int, registry: str) -> None:
    attestation = bundle.attestation
    if "0x" + evidence_root([f.digest for f in bundle.files]).hex() != root.lower():
        raise EvidenceError("the bundle's files do not hash to the requested root")
    if bundle.root_hex != root.lower():
        raise EvidenceError("the attestation is for another root")
    if attestation.chain_id != chain_id or attestation.registry != registry.lower():
        raise EvidenceError("the attestation is for another ledger")
    if attestation_signer(attestation, bundle.signature).lower() != bundle.signer:
        raise EvidenceError("the attestation's signature is not the bundle's signer's")


@dataclass(frozen=True)
class Fetched:
    bundle: Bundle
    fetched: list[str]  # digests brought over now
    kept: list[str]  # digests this node held already


def fetch_bundle(peer: str, root: str, account: LocalAccount, store: EvidenceStore, *, chain_id: int, registry: str,
                 log: Any, timeout_s: float = 60.0) -> Fetched:  # fmt: skip
    """Fetches and checks a bundle and its files from `peer`, keeps them in `store`; `log(digest, outcome)` is
    called for every file asked for."""
    base = peer.rstrip("/")
    try:
        with httpx.Client(timeout=timeout_s) as http:
            reply = http.get(f"{base}/v1/evidence/{root}")
            _raise_for(reply, "bundle")
            bundle = bundle_from_dict(reply.json())
            check_bundle(bundle, root, chain_id, registry)
            fetched, kept = [], []
            for item in bundle.files:
                if store.has(item.digest):
                    kept.append(item.digest)
                    continue
                url = f"{base}/v1/peer/evidence/{root}/files/{item.digest}"
                reply = http.get(url, headers=signed_headers(account, "GET", url, chain_id, registry))
                if reply.status_code != 200:
                    log(item.digest, f"refused {reply.status_code}")
                    _raise_for(reply, f"file {item.digest}")
                content = reply.content
                if hashlib.sha256(content).hexdigest() != item.digest:
                    log(item.digest, "digest mismatch")
                    raise EvidenceError(f"file {item.digest} does not hash to its digest")
                store.put(content)
                log(item.digest, "fetched")
                fetched.append(item.digest)
    except httpx.HTTPError as error:
        raise Unavailable("peer_unavailable", f"{base} did not answer: {error}") from None
    except EvidenceError as error:
        raise InvalidRequest("evidence_unverified", str(error.message)) from None
    save_bundle(store, bundle)
    return Fetched(bundle, fetched, kept)


def _raise_for(reply: httpx.Response, what: str) -> None:
    if reply.status_code == 200:
        return
    try:
        error = reply.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "unknown", reply.text[:200]
    raise Conflict("peer_refused", f"the peer refused the {what}: {reply.status_code} {code}: {message}")
