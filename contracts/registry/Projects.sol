// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISinkRegistry} from "../interfaces/ISinkRegistry.sol";
import {Participants} from "./Participants.sol";

/**
 * @dev Green-space projects. The metadata (location, boundary, area, methodology) lives off-chain
 * behind its hash; the slot keeps only what issuance checks: owner, status, how far the
 * project's periods have been issued, and the project's own buffer share if an admin set one.
 * The share fills the slot's last two bytes, so issuance, which reads the slot anyway, learns it
 * without another storage read.
 */
abstract contract Projects is Participants {
    /// @dev A project's `bufferShareBps` holding this inherits the registry's share ({bufferShareBps}).
    uint16 public constant INHERIT_BUFFER_SHARE = type(uint16).max;

    mapping(uint64 projectId => Project) internal _projects;
    mapping(uint64 projectId => bytes32) private _metadata;
    uint64 private _projectCount;

    /// @inheritdoc ISinkRegistry
    function registerProject(address owner, bytes32 metadataHash) external returns (uint64 projectId) {
        if (msg.sender != owner) _requireActiveRole(msg.sender, ROLE_ISSUER);
        _requireActive(owner);
        projectId = ++_projectCount;
        _projects[projectId] = Project({
            owner: owner,
            status: ProjectStatus.Active,
            issuedUntil: 0,
            batchCount: 0,
            bufferShareBps: INHERIT_BUFFER_SHARE
        });
        _metadata[projectId] = metadataHash;
        emit ProjectRegistered(projectId, owner, msg.sender, metadataHash);
    }

    /// @inheritdoc ISinkRegistry
    function updateProjectMetadata(uint64 projectId, bytes32 metadataHash) external {
        address owner = _requireProject(projectId).owner;
        if (msg.sender == owner) {
            // An owner is always registered, so this refuses only a frozen one.
            _requireActive(owner);
        } else {
            _requireActiveRole(msg.sender, ROLE_ISSUER);
        }
        _metadata[projectId] = metadataHash;
        emit ProjectMetadataUpdated(projectId, metadataHash, msg.sender);
    }

    /// @inheritdoc ISinkRegistry
    function setProjectStatus(uint64 projectId, ProjectStatus status, bytes32 reason) external {
        _requireRole(msg.sender, ROLE_REGULATOR);
        if (status == ProjectStatus.None) revert InvalidProjectStatus(status);
        Project storage p = _requireProject(projectId);
        if (p.status == status) revert ProjectStatusUnchanged(projectId, status);
        p.status = status;
        emit ProjectStatusChanged(projectId, status, msg.sender, reason);
    }

    /// @inheritdoc ISinkRegistry
    function setProjectBufferShare(uint64 projectId, uint16 shareBps) external {
        _requireRole(msg.sender, ROLE_ADMIN);
        if (shareBps > MAX_BUFFER_SHARE_BPS && shareBps != INHERIT_BUFFER_SHARE) {
            revert BufferShareTooHigh(shareBps, MAX_BUFFER_SHARE_BPS);
        }
        _requireProject(projectId).bufferShareBps = shareBps;
        emit ProjectBufferShareSet(projectId, shareBps, msg.sender);
    }

    /// @inheritdoc ISinkRegistry
    function bufferShareOf(uint64 projectId) external view returns (uint16) {
        return _effectiveShare(_requireProject(projectId).bufferShareBps, _ledger.bufferShareBps);
    }

    function project(uint64 projectId) external view returns (Project memory) {
        return _projects[projectId];
    }

    function projectMetadata(uint64 projectId) external view returns (bytes32) {
        return _metadata[projectId];
    }

    function projectCount() external view returns (uint64) {
        return _projectCount;
    }

    /// @dev The share in force: the project's own, unless it inherits the registry's.
    function _effectiveShare(uint16 projectShare, uint16 registryShare) internal pure returns (uint16) {
        return projectShare == INHERIT_BUFFER_SHARE ? registryShare : projectShare;
    }

    function _requireProject(uint64 projectId) internal view returns (Project storage p) {
        p = _projects[projectId];
        if (p.owner == address(0)) revert ProjectNotFound(projectId);
    }
}
