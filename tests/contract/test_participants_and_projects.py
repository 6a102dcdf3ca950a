"""Participants, roles, pause, buffer settings and projects."""

import pytest
from eth_account import Account

from node.chain.registry import ROLE_ADMIN, ROLE_ISSUER, ROLE_REGULATOR, ProjectStatus
from node.errors import ContractRevert
from tests.support import assert_refused, issue, issued_batch, new_project, retirement, statement

META = b"\x77" * 32


def test_registers_a_participant_in_an_organisation_with_roles(net):
    newcomer = Account.create().address.lower()
    receipt = net.registry.register_participant(net.senders["admin"], newcomer, 42, ROLE_ISSUER)
    participant = net.registry.participant(newcomer)
    assert (participant.organisation, participant.roles, participant.registered, participant.frozen) == (
        42,
        ROLE_ISSUER,
        True,
        False,
    )
    assert net.registry.event(receipt, "ParticipantRegistered").args == {
        "account": newcomer,
        "organisation": 42,
        "roles": ROLE_ISSUER,
        "admin": net.address("admin"),
    }


def test_refuses_bad_registrations(net):
    reg, admin = net.registry, net.senders["admin"]
    newcomer = Account.create().address
    assert_refused(
        net,
        lambda: reg.register_participant(net.senders["issuer"], newcomer, 5, 0),
        "MissingRole",
        net.address("issuer"),
        ROLE_ADMIN,
    )
    assert_refused(
        net,
        lambda: reg.register_participant(admin, net.address("buyer"), 5, 0),
        "ParticipantAlreadyRegistered",
        net.address("buyer"),
    )
    assert_refused(net, lambda: reg.register_participant(admin, newcomer, 0, 0), "InvalidOrganisation", 0)
    assert_refused(
        net,
        lambda: reg.register_participant(admin, "0x" + "00" * 20, 5, 0),
        "InvalidAccount",
        "0x" + "00" * 20,
    )
    assert_refused(net, lambda: reg.register_participant(admin, newcomer, 5, 32), "UnknownRoles", 32)


def test_an_admin_changes_roles_but_never_its_own(net):
    reg, admin = net.registry, net.senders["admin"]
    reg.send(admin, "setRoles", net.address("buyer"), ROLE_REGULATOR)
    assert reg.participant(net.address("buyer")).roles == ROLE_REGULATOR
    assert_refused(
        net,
        lambda: reg.send(admin, "setRoles", net.address("admin"), 0),
        "CannotChangeOwnRoles",
        net.address("admin"),
    )
    stranger = Account.create().address
    assert_refused(net, lambda: reg.send(admin, "setRoles", stranger, 0), "ParticipantNotRegistered", stranger)
    assert_refused(net, lambda: reg.send(admin, "setRoles", net.address("buyer"), 0xF0), "UnknownRoles", 0xF0)


def test_pause_stops_issue_transfer_and_retire_but_not_regulators(net):
    project, batch = issued_batch(net)
    reg, admin = net.registry, net.senders["admin"]
    reg.send(admin, "pause")
    assert reg.value("paused") is True
    assert_refused(net, lambda: issue(net, statement(net, project)), "RegistryIsPaused")
    assert_refused(
        net,
        lambda: reg.transfer(net.senders["owner"], batch, net.address("buyer"), 1),
        "RegistryIsPaused",
        batches=[batch],
    )
    assert_refused(
        net,
        lambda: reg.retire(net.senders["owner"], retirement(batch, 1)),
        "RegistryIsPaused",
        batches=[batch],
    )
    assert_refused(net, lambda: reg.send(admin, "pause"), "RegistryIsPaused")
    reg.send(net.senders["regulator"], "freezeBatch", batch, bytes(32))
    reg.send(admin, "unpause")
    assert_refused(net, lambda: reg.send(admin, "unpause"), "RegistryNotPaused")
    assert_refused(
        net,
        lambda: reg.send(net.senders["regulator"], "pause"),
        "MissingRole",
        net.address("regulator"),
        ROLE_ADMIN,
    )


def test_configures_the_buffer_within_bounds(net):
    reg, admin = net.registry, net.senders["admin"]
    reg.send(admin, "configureBuffer", net.address("buyer2"), 2500)
    assert (reg.value("bufferAccount"), reg.value("bufferShareBps")) == (net.address("buyer2"), 2500)
    assert_refused(
        net,
        lambda: reg.send(admin, "configureBuffer", net.address("buyer2"), 10_001),
        "BufferShareTooHigh",
        10_001,
        10_000,
    )
    stranger = Account.create().address
    assert_refused(net, lambda: reg.send(admin, "configureBuffer", stranger, 100), "ParticipantNotRegistered", stranger)


def test_owners_and_issuers_register_projects(net):
    reg = net.registry
    own = new_project(net)
    receipt = reg.send(net.senders["issuer"], "registerProject", net.address("buyer"), META)
    assert reg.event(receipt, "ProjectRegistered").args == {
        "projectId": own + 1,
        "owner": net.address("buyer"),
        "registrar": net.address("issuer"),
        "metadataHash": META,
    }
    assert reg.project(own + 1).owner == net.address("buyer")
    assert reg.project(own + 1).status is ProjectStatus.ACTIVE
    assert reg.value("projectMetadata", own + 1) == META
    assert reg.value("projectCount") == own + 1


def test_refuses_project_registration_for_someone_else_or_for_an_unfit_owner(net):
    reg = net.registry
    assert_refused(
        net,
        lambda: reg.send(net.senders["buyer"], "registerProject", net.address("owner"), META),
        "MissingRole",
        net.address("buyer"),
        ROLE_ISSUER,
    )
    stranger = Account.create().address
    assert_refused(
        net,
        lambda: reg.send(net.senders["issuer"], "registerProject", stranger, META),
        "ParticipantNotRegistered",
        stranger,
    )
    reg.send(net.senders["regulator"], "setAccountFrozen", net.address("owner"), True, bytes(32))
    assert_refused(
        net,
        lambda: reg.send(net.senders["issuer"], "registerProject", net.address("owner"), META),
        "AccountFrozen",
        net.address("owner"),
    )


def test_project_metadata_and_status_changes(net):
    reg = net.registry
    project = new_project(net)
    reg.send(net.senders["owner"], "updateProjectMetadata", project, META)
    assert reg.value("projectMetadata", project) == META
    assert_refused(
        net,
        lambda: reg.send(net.senders["buyer"], "updateProjectMetadata", project, META),
        "MissingRole",
        net.address("buyer"),
        ROLE_ISSUER,
    )
    regulator = net.senders["regulator"]
    reg.send(regulator, "setProjectStatus", project, ProjectStatus.CLOSED, bytes(32))
    assert reg.project(project).status is ProjectStatus.CLOSED
    assert_refused(
        net,
        lambda: reg.send(regulator, "setProjectStatus", project, ProjectStatus.CLOSED, bytes(32)),
        "ProjectStatusUnchanged",
        project,
        ProjectStatus.CLOSED,
    )
    assert_refused(
        net,
        lambda: reg.send(regulator, "setProjectStatus", project, ProjectStatus.NONE, bytes(32)),
        "InvalidProjectStatus",
        ProjectStatus.NONE,
    )
    assert_refused(
        net,
        lambda: reg.send(regulator, "setProjectStatus", 999, ProjectStatus.ACTIVE, bytes(32)),
        "ProjectNotFound",
        999,
    )
    assert_refused(
        net,
        lambda: reg.send(net.senders["owner"], "setProjectStatus", project, 1, bytes(32)),
        "MissingRole",
        net.address("owner"),
        ROLE_REGULATOR,
    )


def test_a_frozen_owner_cannot_update_its_project_metadata_but_an_issuer_still_can(net):
    reg = net.registry
    project = new_project(net)
    reg.send(net.senders["regulator"], "setAccountFrozen", net.address("owner"), True, bytes(32))
    assert_refused(
        net,
        lambda: reg.send(net.senders["owner"], "updateProjectMetadata", project, META),
        "AccountFrozen",
        net.address("owner"),
    )
    assert reg.value("projectMetadata", project) == b"\x42" * 32
    reg.send(net.senders["issuer"], "updateProjectMetadata", project, META)
    assert reg.value("projectMetadata", project) == META
    reg.send(net.senders["regulator"], "setAccountFrozen", net.address("owner"), False, bytes(32))
    receipt = reg.send(net.senders["owner"], "updateProjectMetadata", project, b"\x78" * 32)
    assert reg.event(receipt, "ProjectMetadataUpdated").args == {
        "projectId": project,
        "metadataHash": b"\x78" * 32,
        "updater": net.address("owner"),
    }


def test_a_frozen_issuer_cannot_update_project_metadata(net):
    reg = net.registry
    project = new_project(net)
    reg.send(net.senders["regulator"], "setAccountFrozen", net.address("issuer"), True, bytes(32))
    assert_refused(
        net,
        lambda: reg.send(net.senders["issuer"], "updateProjectMetadata", project, META),
        "AccountFrozen",
        net.address("issuer"),
    )


def test_a_mined_failure_is_decoded_by_replaying_it(net):
    """Sent with its own gas limit, a refused transfer is mined and fails; the error is still named."""
    _, batch = issued_batch(net)
    before = net.registry.balance_of(net.address("owner"), batch)
    codec = net.registry.abi.function("transfer")
    data = codec.encode_call((batch, net.address("buyer"), 10**15, bytes(32)))
    block = net.rpc.block_number()
    with pytest.raises(ContractRevert) as refused:
        net.senders["owner"].send(net.registry.address, data, gas=200_000)
    assert refused.value.name == "InsufficientBalance"
    assert refused.value.values == (net.address("owner"), batch, before, 10**15)
    assert net.rpc.block_number() == block + 1  # it was mined
    assert net.registry.balance_of(net.address("owner"), batch) == before
