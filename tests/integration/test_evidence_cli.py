"""Evidence from the command line: add a bundle, export a proof, check a file with no node running."""

import json
import os
import subprocess
import sys

from node.settings import PROJECT_ROOT


def sinknode(env, *args):
    return subprocess.run([sys.executable, "-m", "node.cli", *args], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_a_bundle_is_attested_and_each_file_verifies_offline(hnet, tmp_path):
    home = tmp_path / "home"
    hnet.manifest.save(home / "deployment.json")
    env = {**os.environ, "SINKNODE_HOME": str(home), "SINKNODE_KEYSTORE_SCRYPT_N": "1024",
           "SINKNODE_EVIDENCE_KEY": "22" * 32, "SINKNODE_RPC_URL": hnet.rpc.url}  # fmt: skip
    project = hnet.registry.register_project(hnet.senders["owner"], hnet.address("owner"), b"\x01" * 32)
    inventory, soil = tmp_path / "inventory.csv", tmp_path / "soil.csv"
    inventory.write_text("species,dbh_cm,count\nGinkgo biloba,23.5,120\n")
    soil.write_text("depth_cm,bulk_density,soc_pct\n30,1.3,1.8\n")

    added = sinknode(env, "evidence", "add", str(inventory), str(soil), "--project", str(project))
    assert added.returncode == 0, added.stdout + added.stderr
    root = added.stdout.split("evidence root ")[1].split(",")[0]
    digest = added.stdout.split()[0]
    signer = added.stdout.split("attested by ")[1].split(";")[0]
    assert inventory.read_bytes() not in b"".join(p.read_bytes() for p in (home / "evidence").rglob("??/*"))

    proof = sinknode(env, "evidence", "proof", root, digest)
    assert proof.returncode == 0, proof.stderr
    document = tmp_path / "proof.json"
    document.write_text(proof.stdout)
    assert json.loads(proof.stdout)["attestation"]["evidence_root"] == root

    offline = {k: v for k, v in env.items() if not k.startswith("SINKNODE_")}  # no home, no key, no chain
    checked = sinknode(offline, "evidence", "verify", str(inventory), str(document), "--signer", signer)
    assert checked.returncode == 0 and "in the attested bundle: yes" in checked.stdout

    inventory.write_text("species,dbh_cm,count\nGinkgo biloba,23.5,1200\n")
    tampered = sinknode(offline, "evidence", "verify", str(inventory), str(document))
    assert tampered.returncode == 1 and "in the attested bundle: NO" in tampered.stdout
    wrong_signer = sinknode(offline, "evidence", "verify", str(soil), str(document), "--signer", "0x" + "99" * 20)
    assert wrong_signer.returncode == 1


def test_bad_arguments_get_one_line_and_no_traceback(hnet, tmp_path):
    home = tmp_path / "home"
    hnet.manifest.save(home / "deployment.json")
    env = {**os.environ, "SINKNODE_HOME": str(home), "SINKNODE_KEYSTORE_SCRYPT_N": "1024",
           "SINKNODE_EVIDENCE_KEY": "22" * 32, "SINKNODE_RPC_URL": hnet.rpc.url}  # fmt: skip
    present = tmp_path / "inventory.csv"
    present.write_text("species,dbh_cm,count\n")
    cases = [
        (("evidence", "add", str(tmp_path / "missing.csv"), "--project", "1"), "missing.csv: no such file"),
        (("evidence", "add", str(tmp_path), "--project", "1"), "not a file"),
        (("evidence", "add", str(present), "--project", "424242"), "project 424242 is not registered"),
        (("offsets", "verify", str(tmp_path / "none.json")), "none.json"),
        (("offsets", "verify", str(present)), "not a JSON certificate"),
    ]
    for args, said in cases:
        result = sinknode(env, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and said in lines[0], (args, result.stderr)
    assert not (home / "evidence").exists() or not any((home / "evidence").rglob("*.json")), "nothing was stored"
