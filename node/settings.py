"""Settings: environment variables prefixed SINKNODE_, read into one object built by a function."""

import ipaddress
import json
import re
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SINKNODE_", extra="ignore")

    home: Path = Field(default=Path(".sinknode"), description="data directory; deleting it is a full reset")
    database_url: str | None = Field(
        default=None,
        description="the node's store in PostgreSQL (postgresql://user@host/db); unset: <home>/node.sqlite",
    )
    rpc_url: str | None = Field(default=None, description="JSON-RPC endpoint; unset means the local anvil")
    anvil_host: str = "127.0.0.1"
    anvil_port: int = 8545
    chain_id: int = 31337
    gas_mode: Literal["eip1559", "legacy"] = Field(
        default="eip1559", description="legacy: type-0 transactions at gas_price_wei, as on a Besu network"
    )
    gas_price_wei: int = Field(default=0, ge=0, description="gas price of legacy transactions")
    tx_timeout_s: float = Field(default=60.0, gt=0)
    keystore_password: SecretStr | None = Field(
        default=None, description="unset: a random password kept in <home>/keys/.password (dev only)"
    )
    keystore_scrypt_n: int = Field(default=2**18, ge=2**10, description="scrypt cost of new keystores")
    organisation: int = Field(default=1, ge=1, description="organisation id of this node's operator")
    buffer_share_bps: int = Field(
        default=2000, ge=0, le=10_000, description="the registry's buffer share, set at deployment (basis points)"
    )
    build_cache_dir: Path | None = Field(default=None, description="compiler output cache; unset: <home>/build")
    solc_binary: Path | None = Field(default=None, description="a native solc; unset means solc-js via the shim")
    project_root: Path = PROJECT_ROOT
    confirmations: int = Field(default=0, ge=0, description="blocks behind the head the index stays")
    index_range_blocks: int = Field(default=500, ge=1, description="largest eth_getLogs block range")
    risk_rules: Path | None = Field(default=None, description="the risk rules' TOML (default node/risk/rules.toml)")
    listing_review: bool = Field(
        default=True, description="a project's listings go public only after a regulator approves the project"
    )
    risk_enabled: bool = Field(default=True, description="run the risk rules as events are indexed")
    risk_process: bool = Field(
        default=True, description="run the risk rules in a process of their own (a second core), not the indexer's"
    )
    permissions_file: Path | None = Field(
        default=None,
        description="Besu permissioning file whose account allowlist follows registered, unfrozen participants",
    )
    peers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="other organisations' node URLs to compare indexes with (JSON list or commas)"
    )
    peer_compare_s: float = Field(
        default=0.0, ge=0, description="compare the index with the peers' this often (seconds); 0: never"
    )
    index_poll_s: float = Field(default=0.5, gt=0, description="how often a caught-up index polls")
    credit_check_s: float = Field(
        default=10.0, gt=0, description="how often new facts behind participants' credit scores are recorded (seconds)"
    )
    need_check_s: float = Field(
        default=5.0, gt=0, description="how often buyers' saved needs are checked for new listings that fit (seconds)"
    )
    aggregate_timezone: str = Field(default="Asia/Shanghai", description="calendar of the daily aggregates")
    api_workers: int = Field(
        default=1, ge=1, le=32, description="API worker processes; above 1 they share the store and index, one indexing"
    )
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    public_url: str | None = Field(
        default=None, description="base URL printed in QR codes; unset: http://api_host:api_port"
    )
    sql_time_limit_s: float = Field(default=2.0, gt=0, description="regulator SQL: time limit per query")
    sql_row_cap: int = Field(default=10_000, ge=1, description="regulator SQL: most rows returned")
    sql_max_value_bytes: int = Field(
        default=1_000_000, ge=1_000, le=1_000_000_000, description="regulator SQL: largest string or blob a query makes"
    )
    sql_result_bytes: int = Field(default=8_000_000, ge=10_000, description="regulator SQL: most bytes of rows given")
    sql_memory_mb: int = Field(default=256, ge=64, description="regulator SQL: address space of a query's worker")
    sql_workers: int = Field(default=2, ge=1, le=16, description="regulator SQL: queries run at once, each in a worker")
    sql_queue_wait_s: float = Field(default=5.0, gt=0, description="regulator SQL: wait for a free worker before 503")
    confidential_key: SecretStr | None = Field(
        default=None, description="AES-256 key (hex) sealing deal prices and receipts; unset: <home>/keys file"
    )
    evidence_key: SecretStr | None = Field(
        default=None, description="AES-256 key (hex) encrypting evidence; unset: <home>/keys file"
    )
    evidence_key_file: Path | None = Field(default=None, description="file holding the evidence key (hex)")
    max_upload_bytes: int = Field(
        default=64 * 2**20, ge=1, description="most bytes of evidence files one upload (POST /v1/evidence) may bring"
    )
    deposit_cover_bps: int = Field(
        default=1000,
        ge=0,
        le=10_000,
        description="share of the value of a seller's live listings its remaining deposits must cover",
    )

    rate_limit_storage: str = Field(
        default="memory://", description="where rate-limit counters live (limits URI): memory://, redis://host:6379"
    )
    rate_limit_writes: str = Field(
        default="120/minute", description="writes per API token, e.g. '120/minute;2000/hour'; empty: no limit"
    )
    rate_limit_writes_per_address: str = Field(default="300/minute", description="writes per client address")
    rate_limit_reads: str = Field(default="1200/minute", description="reads and pages per client address")
    rate_limit_exempt: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="client addresses or networks never limited (JSON list or commas)"
    )

    @field_validator("rate_limit_writes", "rate_limit_writes_per_address", "rate_limit_reads")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip():
            parse_many(value)  # a typo fails at start, not on the first request
        return value.strip()

    @field_validator("peers", mode="before")
    @classmethod
    def _peer_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [p.strip() for p in text.split(",") if p.strip()]
        if isinstance(value, list):
            for url in value:
                if not str(url).startswith(("http://", "https://")):
                    raise ValueError(f"a peer is an http(s) URL, not {url!r}")
            return [str(url).rstrip("/") for url in value]
        return value

    @field_validator("rate_limit_exempt", mode="before")
    @classmethod
    def _exempt_list(cls, value: object) -> object:
        # Accepts the JSON list other list settings take and the plainer "10.0.0.1,10.0.0.2".
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [part for part in text.split(",") if part.strip()]
        if isinstance(value, list):
            return [str(ipaddress.ip_network(str(part).strip(), strict=False)) for part in value]
        return value

    max_json_bytes: int = Field(
        default=1 << 20, ge=1, description="largest JSON request body (bytes); larger is refused 413 before reading"
    )
    max_bulk_json_bytes: int = Field(
        default=32 << 20, ge=1, description="largest body of the bulk routes (offset orders, subscriptions), bytes"
    )
    max_json_depth: int = Field(
        default=64, ge=1, description="deepest nesting of arrays and objects in a JSON body; deeper is refused 422"
    )

    @property
    def chain_dir(self) -> Path:
        return self.home / "chain"

    @property
    def chain_state_file(self) -> Path:
        return self.chain_dir / "state.json"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def build_dir(self) -> Path:
        return self.build_cache_dir or self.home / "build"

    @property
    def manifest_path(self) -> Path:
        return self.home / "deployment.json"

    @property
    def index_path(self) -> Path:
        return self.home / "index.sqlite"

    @property
    def index_location(self) -> "Path | str":
        """Where the index lives: the PostgreSQL database of SINKNODE_DATABASE_URL (its sink_index schema), or
        the SQLite file in the home."""
        return self.database_url or self.index_path

    @property
    def node_state_path(self) -> Path:
        return self.home / "node.sqlite"

    @property
    def store_location(self) -> Path | str:
        """Where the node's store lives: the PostgreSQL URL when set, else node.sqlite in the home."""
        return self.database_url or self.node_state_path

    @property
    def evidence_dir(self) -> Path:
        return self.home / "evidence"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def effective_rpc_url(self) -> str:
        return self.rpc_url or f"http://{self.anvil_host}:{self.anvil_port}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def manages_local_chain(self) -> bool:
        return self.rpc_url is None

    def masked(self) -> dict[str, object]:
        """The effective settings, secrets masked, for `sinknode config`."""
        shown: dict[str, object] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                shown[name] = "********"
            elif name == "database_url" and value:
                shown[name] = re.sub(r"//([^:/@]+):[^@]*@", r"//\1:********@", value)  # its password, if any
            elif isinstance(value, Path):
                shown[name] = str(value)
            else:
                shown[name] = value
        shown["effective_rpc_url"] = self.effective_rpc_url
        return shown


def load_settings(**overrides: object) -> Settings:
    """Reads the environment; keyword overrides win (tests and the CLI pass them)."""
    return Settings(**overrides)  # type: ignore[arg-type]
