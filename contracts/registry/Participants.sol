// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISinkRegistry} from "../interfaces/ISinkRegistry.sol";

/**
 * @dev Participants, their roles and freezes, and the registry-wide settings.
 *
 * Roles are bits in the participant's own slot rather than OpenZeppelin AccessControl's
 * mapping per role: every transfer must read both parties' registration and freeze flags anyway,
 * so keeping the roles in that same slot makes a role check cost nothing extra.
 * The pause flag, the buffer settings and the retirement counter share one slot for the same
 * reason: each of issue, transfer and retire reads it once.
 */
abstract contract Participants is ISinkRegistry {
    uint8 public constant ROLE_ADMIN = 1;
    uint8 public constant ROLE_ISSUER = 2;
    uint8 public constant ROLE_VERIFIER = 4;
    uint8 public constant ROLE_REGULATOR = 8;
    uint8 public constant ROLE_BANK = 16;
    uint8 internal constant _ALL_ROLES = 31;
    uint16 public constant MAX_BUFFER_SHARE_BPS = 10_000;

    struct Ledger {
        address bufferAccount;
        uint16 bufferShareBps;
        bool paused;
        uint64 retirementCount;
    }

    mapping(address account => Participant) private _participants;
    Ledger internal _ledger;

    constructor(address admin, uint32 organisation, address buffer, uint16 shareBps) {
        _register(admin, organisation, ROLE_ADMIN, admin);
        if (buffer != admin) _register(buffer, organisation, 0, admin);
        _configureBuffer(buffer, shareBps, admin);
    }

    /// @inheritdoc ISinkRegistry
    function registerParticipant(address account, uint32 organisation, uint8 roles) external {
        _requireRole(msg.sender, ROLE_ADMIN);
        _register(account, organisation, roles, msg.sender);
    }

    /// @inheritdoc ISinkRegistry
    function setRoles(address account, uint8 roles) external {
        _requireRole(msg.sender, ROLE_ADMIN);
        if (account == msg.sender) revert CannotChangeOwnRoles(account);
        if (roles & ~_ALL_ROLES != 0) revert UnknownRoles(roles);
        Participant storage p = _participants[account];
        if (!p.registered) revert ParticipantNotRegistered(account);
        p.roles = roles;
        emit RolesChanged(account, roles, msg.sender);
    }

    /// @inheritdoc ISinkRegistry
    function pause() external {
        _requireRole(msg.sender, ROLE_ADMIN);
        if (_ledger.paused) revert RegistryIsPaused();
        _ledger.paused = true;
        emit RegistryPaused(msg.sender);
    }

    /// @inheritdoc ISinkRegistry
    function unpause() external {
        _requireRole(msg.sender, ROLE_ADMIN);
        if (!_ledger.paused) revert RegistryNotPaused();
        _ledger.paused = false;
        emit RegistryUnpaused(msg.sender);
    }

    /// @inheritdoc ISinkRegistry
    function configureBuffer(address account, uint16 shareBps) external {
        _requireRole(msg.sender, ROLE_ADMIN);
        _configureBuffer(account, shareBps, msg.sender);
    }

    /// @inheritdoc ISinkRegistry
    function setAccountFrozen(address account, bool frozen, bytes32 reason) external {
        _requireRole(msg.sender, ROLE_REGULATOR);
        Participant storage p = _participants[account];
        if (!p.registered) revert ParticipantNotRegistered(account);
        if (p.frozen == frozen) revert AccountStatusUnchanged(account, frozen);
        p.frozen = frozen;
        emit AccountFreezeChanged(account, frozen, msg.sender, reason);
    }

    function participant(address account) external view returns (Participant memory) {
        return _participants[account];
    }

    function paused() external view returns (bool) {
        return _ledger.paused;
    }

    function bufferAccount() external view returns (address) {
        return _ledger.bufferAccount;
    }

    function bufferShareBps() external view returns (uint16) {
        return _ledger.bufferShareBps;
    }

    function retirementCount() external view returns (uint64) {
        return _ledger.retirementCount;
    }

    /// @dev Loads the ledger settings, refusing when paused.
    function _requireNotPaused() internal view returns (Ledger memory ledger) {
        ledger = _ledger;
        if (ledger.paused) revert RegistryIsPaused();
    }

    /// @dev A registered, unfrozen participant: the only kind that may hold, send or receive units.
    function _requireActive(address account) internal view returns (Participant memory p) {
        p = _participants[account];
        if (!p.registered) revert ParticipantNotRegistered(account);
        if (p.frozen) revert AccountFrozen(account);
    }

    /// @dev An unfrozen participant holding `role`.
    function _requireActiveRole(address account, uint8 role) internal view returns (Participant memory p) {
        p = _participants[account];
        if (p.roles & role == 0) revert MissingRole(account, role);
        if (p.frozen) revert AccountFrozen(account);
    }

    /// @dev Role checks of admin and regulator measures ignore freezes: a frozen regulator is still removable.
    function _requireRole(address account, uint8 role) internal view {
        if (_participants[account].roles & role == 0) revert MissingRole(account, role);
    }

    function _participantOf(address account) internal view returns (Participant memory) {
        return _participants[account];
    }

    function _register(address account, uint32 organisation, uint8 roles, address admin) private {
        if (account == address(0)) revert InvalidAccount(account);
        if (organisation == 0) revert InvalidOrganisation(organisation);
        if (roles & ~_ALL_ROLES != 0) revert UnknownRoles(roles);
        if (_participants[account].registered) revert ParticipantAlreadyRegistered(account);
        _participants[account] = Participant({organisation: organisation, roles: roles, registered: true, frozen: false});
        emit ParticipantRegistered(account, organisation, roles, admin);
    }

    function _configureBuffer(address account, uint16 shareBps, address admin) private {
        if (shareBps > MAX_BUFFER_SHARE_BPS) revert BufferShareTooHigh(shareBps, MAX_BUFFER_SHARE_BPS);
        if (!_participants[account].registered) revert ParticipantNotRegistered(account);
        _ledger.bufferAccount = account;
        _ledger.bufferShareBps = shareBps;
        emit BufferConfigured(account, shareBps, admin);
    }
}
