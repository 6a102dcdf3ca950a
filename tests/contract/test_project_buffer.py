"""A project's own buffer share: set and cleared by an admin only, used by issuance, read by bufferShareOf."""

from node.chain.registry import INHERIT_BUFFER_SHARE, MAX_BUFFER_SHARE_BPS, ROLE_ADMIN
from node.chain.statements import sign_verification
from node.settings import Settings
from tests.support import YEAR, assert_refused, buffer_part, chain_now, issue, new_project, statement

QUANTITY = 1_234_567_891  # odd, so every share below rounds


def set_share(net, project: int, share: int | None, who: str = "admin"):
    return lambda: net.registry.set_project_buffer_share(net.senders[who], project, share)


def ceil_share(quantity: int, share: int) -> int:
    return -(-quantity * share // 10_000)


def test_a_project_inherits_the_registry_share_which_defaults_to_the_node_setting(net):
    reg = net.registry
    project = new_project(net)
    assert reg.value("INHERIT_BUFFER_SHARE") == INHERIT_BUFFER_SHARE
    assert reg.value("bufferShareBps") == Settings.model_fields["buffer_share_bps"].default == 2000
    assert reg.project(project).buffer_share_bps is None
    assert reg.buffer_share_of(project) == 2000
    reg.send(net.senders["admin"], "configureBuffer", net.address("buffer"), 1500)
    assert reg.buffer_share_of(project) == 1500  # inheriting follows the registry's share


def test_the_admin_sets_and_clears_a_project_share_with_an_event(net):
    reg = net.registry
    project, other = new_project(net), new_project(net)
    receipt = set_share(net, project, 500)()
    assert reg.event(receipt, "ProjectBufferShareSet").args == {
        "projectId": project,
        "shareBps": 500,
        "admin": net.address("admin"),
    }
    assert reg.project(project).buffer_share_bps == 500
    assert (reg.buffer_share_of(project), reg.buffer_share_of(other)) == (500, 2000)
    # The project's own share stays whatever the registry's becomes.
    reg.send(net.senders["admin"], "configureBuffer", net.address("buffer"), 3000)
    assert (reg.buffer_share_of(project), reg.buffer_share_of(other)) == (500, 3000)
    # Zero and the whole batch are shares a project may have.
    set_share(net, project, 0)()
    assert reg.buffer_share_of(project) == 0
    set_share(net, project, MAX_BUFFER_SHARE_BPS)()
    assert reg.buffer_share_of(project) == MAX_BUFFER_SHARE_BPS
    # Cleared, it inherits the registry's again; the event says so with the clearing value.
    receipt = set_share(net, project, None)()
    assert reg.event(receipt, "ProjectBufferShareSet").args["shareBps"] == INHERIT_BUFFER_SHARE
    assert reg.project(project).buffer_share_bps is None
    assert reg.buffer_share_of(project) == 3000
    # An admin setting, so it works while the registry is paused, as configureBuffer does.
    reg.send(net.senders["admin"], "pause")
    set_share(net, project, 1234)()
    assert reg.buffer_share_of(project) == 1234


def test_issuance_splits_at_the_share_in_force_for_the_project(net):
    reg = net.registry
    own, inheriting, nothing, everything = (new_project(net) for _ in range(4))
    set_share(net, own, 3333)()
    set_share(net, nothing, 0)()
    set_share(net, everything, 10_000)()
    for project, share in ((own, 3333), (inheriting, 2000), (nothing, 0), (everything, 10_000)):
        st = statement(net, project, end=chain_now(net) - 2 * YEAR, quantity=QUANTITY)
        batch, receipt = reg.issue(
            net.senders["issuer"], st, sign_verification(net.accounts["verifier"], reg.domain(), st)
        )
        buffer = ceil_share(QUANTITY, share)
        assert buffer == buffer_part(net, QUANTITY, project)
        assert reg.event(receipt, "BatchIssued").args["bufferAmount"] == buffer
        assert reg.balance_of(net.address("buffer"), batch) == buffer
        assert reg.balance_of(net.address("owner"), batch) == QUANTITY - buffer
    # The share in force at issuance is what counts: a later change leaves issued batches alone.
    set_share(net, own, None)()
    batch = issue(net, statement(net, own, quantity=QUANTITY))
    assert reg.balance_of(net.address("buffer"), batch) == ceil_share(QUANTITY, 2000)
    assert reg.balance_of(net.address("buffer"), batch - 1) == ceil_share(QUANTITY, 3333)


def test_refuses_a_non_admin_a_share_too_high_and_an_unknown_project(net):
    reg = net.registry
    project = new_project(net)
    for who in ("issuer", "regulator", "owner", "verifier"):
        assert_refused(net, set_share(net, project, 100, who), "MissingRole", net.address(who), ROLE_ADMIN)
    for share in (10_001, INHERIT_BUFFER_SHARE - 1):
        assert_refused(net, set_share(net, project, share), "BufferShareTooHigh", share, MAX_BUFFER_SHARE_BPS)
    assert_refused(net, set_share(net, project + 1, 100), "ProjectNotFound", project + 1)
    assert_refused(net, set_share(net, 0, None), "ProjectNotFound", 0)
    assert_refused(net, lambda: reg.buffer_share_of(project + 1), "ProjectNotFound", project + 1)
    assert reg.buffer_share_of(project) == reg.value("bufferShareBps")
