"""Settings come from SINKNODE_ variables; paths derive from the data directory."""

from pathlib import Path

from node.settings import load_settings


def test_reads_prefixed_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("SINKNODE_HOME", str(tmp_path))
    monkeypatch.setenv("SINKNODE_GAS_MODE", "legacy")
    monkeypatch.setenv("SINKNODE_ANVIL_PORT", "9999")
    settings = load_settings()
    assert settings.home == tmp_path
    assert settings.gas_mode == "legacy"
    assert settings.effective_rpc_url == "http://127.0.0.1:9999"
    assert settings.manifest_path == tmp_path / "deployment.json"
    assert settings.chain_state_file == tmp_path / "chain" / "state.json"


def test_defaults_to_a_local_chain_in_dot_sinknode(monkeypatch):
    for name in ("SINKNODE_HOME", "SINKNODE_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.home == Path(".sinknode")
    assert settings.manages_local_chain


def test_masked_settings_hide_secrets():
    shown = load_settings(keystore_password="s3cret").masked()
    assert shown["keystore_password"] == "********"
    assert "s3cret" not in str(shown)
