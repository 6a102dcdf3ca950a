"""Runs the native Forge suite (tests/forge: invariant campaign over random histories)."""

import subprocess

from node.settings import PROJECT_ROOT


def test_the_forge_invariant_campaign_passes():
    forge = PROJECT_ROOT / "node_modules" / ".bin" / "forge"
    result = subprocess.run(
        [str(forge), "test", "--no-match-test", "NONE"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "4 passed; 0 failed" in result.stdout
