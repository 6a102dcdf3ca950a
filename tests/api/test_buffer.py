"""One buffer share: the monitoring report, the ledger's split and the batch page use the share in force for
the project (the registry's, 20 % by default, or the project's own, set by an admin), and agree to the gram."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from node.devflows import error_of, issue, monitoring_report, new_project, statement
from node.settings import Settings
from registry.units import format_co2e

DEFAULT = Settings.model_fields["buffer_share_bps"].default  # 2,000 bps


def ceil_share(grams: int, bps: int) -> int:
    return -(-grams * bps // 10_000)


def report_period(node) -> tuple[int, int]:
    """The statement period of monitoring_report()'s 2025: 00:00 of 2025-01-01 to 00:00 of 2026-01-01, local."""
    zone = ZoneInfo(node.settings.aggregate_timezone)
    return int(datetime(2025, 1, 1, tzinfo=zone).timestamp()), int(datetime(2026, 1, 1, tzinfo=zone).timestamp())


def issued_with_report(node, project: int) -> tuple[dict, int]:
    """Uploads a monitoring report for the project and issues the batch it computes: (accounting, batch id)."""
    uploaded = node.ok("POST", f"/v1/projects/{project}/monitoring", "park", json=monitoring_report(40_000))
    accounting = uploaded["accounting"]
    # The statement covers the report's period and claims its creditable grams.
    start, end = report_period(node)
    body = statement(project, uploaded["evidence_root"], start=start, end=end, quantity=accounting["creditable_grams"])
    return accounting, issue(node, body)


def page_figures(node, batch: int) -> dict[str, str]:
    html = node.call("GET", f"/batches/{batch}", params={"lang": "en"}).text
    found = {}
    for name in ("buffer-amount", "report-buffer-amount"):
        found[name] = re.search(rf'id="{name}" data-grams="(\d+)">([^<]+)<', html).groups()
    for name in ("buffer-share", "report-buffer-share"):
        found[name] = re.search(rf'id="{name}" data-bps="(\d+)">([^<]+)<', html).groups()
    return found


def set_share(node, project: int, share: int | None, who: str = "admin", key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    return node.call("POST", f"/v1/admin/projects/{project}/buffer", who, json={"share_bps": share}, headers=headers)


def test_report_ledger_and_page_agree_for_the_default_and_a_project_share(node):
    inheriting, own = new_project(node), new_project(node)
    reply = set_share(node, own, 1250, key=f"buffer-{own}")
    assert reply.status_code == 200, reply.text
    assert reply.json()["result"] == {"project_id": own, "share_bps": 1250}
    # The same key and body: the kept answer, no second transaction.
    again = set_share(node, own, 1250, key=f"buffer-{own}")
    assert again.headers["idempotent-replayed"] == "true" and again.json() == reply.json()
    assert node.ok("GET", f"/v1/projects/{own}")["buffer_share_bps"] == 1250
    assert node.ok("GET", f"/v1/projects/{inheriting}")["buffer_share_bps"] is None

    for project, share in ((inheriting, DEFAULT), (own, 1250)):
        assert node.ok("GET", f"/v1/projects/{project}")["effective_buffer_share_bps"] == share
        assert node.services.registry.buffer_share_of(project) == share
        accounting, batch = issued_with_report(node, project)
        creditable = accounting["creditable_grams"]
        # The report splits at the ledger's share: the data's own say (it once defaulted to 20 %) is gone.
        assert accounting["buffer_share_bps"] == share
        assert accounting["buffer_grams"] == ceil_share(creditable, share)
        assert accounting["owner_grams"] == creditable - accounting["buffer_grams"]
        # The statement carries the creditable quantity before the buffer; the ledger holds back the same grams.
        record = node.ok("GET", f"/v1/batches/{batch}")
        assert record["quantity"] == creditable
        assert record["buffer_amount"] == accounting["buffer_grams"]
        assert record["buffer_share_bps"] == share
        buffer = node.services.registry.balance_of(record["buffer_account"], batch)
        assert buffer == record["buffer_amount"]
        # And the page shows those figures, and that share.
        shown = page_figures(node, batch)
        grams = accounting["buffer_grams"]
        assert shown["buffer-amount"] == shown["report-buffer-amount"] == (str(grams), format_co2e(grams))
        assert shown["buffer-share"] == shown["report-buffer-share"] == (str(share), f"{share / 100:g} %")


def test_the_admin_clears_a_project_share_and_the_registry_share_applies_again(node):
    project = new_project(node)
    assert set_share(node, project, 500).status_code == 200
    cleared = set_share(node, project, None)
    assert cleared.status_code == 200 and cleared.json()["result"] == {"project_id": project, "share_bps": None}
    view = node.ok("GET", f"/v1/projects/{project}")
    assert (view["buffer_share_bps"], view["effective_buffer_share_bps"]) == (None, DEFAULT)
    accounting, batch = issued_with_report(node, project)
    assert accounting["buffer_share_bps"] == DEFAULT
    assert node.ok("GET", f"/v1/batches/{batch}")["buffer_amount"] == accounting["buffer_grams"]


def test_only_an_admin_sets_a_share_within_bounds_for_a_known_project(node):
    project = new_project(node)
    for who in ("park", "issuer", "regulator"):
        assert error_of(set_share(node, project, 100, who)) == (403, "forbidden")
    for share in (10_001, -1, 65_535):
        assert error_of(set_share(node, project, share))[0] == 422
    assert error_of(node.call("POST", f"/v1/admin/projects/{project}/buffer", "admin", json={}))[0] == 422
    assert error_of(set_share(node, 999_999, 100)) == (404, "not_found")
    assert node.ok("GET", f"/v1/projects/{project}")["buffer_share_bps"] is None


def test_monitoring_data_cannot_choose_its_own_buffer(node):
    project = new_project(node)
    report = {**monitoring_report(), "buffer_share": 0}
    reply = node.call("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
    assert error_of(reply) == (422, "invalid_monitoring")


def test_a_report_computed_before_the_share_changed_is_computed_again_before_it_is_signed(node):
    project = new_project(node)
    uploaded = node.ok("POST", f"/v1/projects/{project}/monitoring", "park", json=monitoring_report(30_000))
    assert uploaded["accounting"]["buffer_share_bps"] == DEFAULT
    assert set_share(node, project, 1000).status_code == 200
    start, end = report_period(node)
    body = statement(project, uploaded["evidence_root"], start=start, end=end,
                     quantity=uploaded["accounting"]["creditable_grams"])  # fmt: skip
    assert error_of(node.call("POST", "/v1/verifications", "verifier", json=body)) == (422, "buffer_share_changed")
    accounting, batch = issued_with_report(node, project)
    assert accounting["buffer_share_bps"] == 1000
    assert node.ok("GET", f"/v1/batches/{batch}")["buffer_amount"] == accounting["buffer_grams"]
