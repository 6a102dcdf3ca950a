// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ISinkRegistry} from "../interfaces/ISinkRegistry.sol";
import {Pledges} from "./Pledges.sol";

/**
 * @dev A regulator's measures on batches: freeze, unfreeze, revoke (final) and buffer reversals.
 * Account freezes live with the participants.
 */
abstract contract Regulation is Pledges {
    /// @inheritdoc ISinkRegistry
    function freezeBatch(uint256 batchId, bytes32 reason) external {
        _setBatchStatus(batchId, BatchStatus.Active, BatchStatus.Frozen, reason);
    }

    /// @inheritdoc ISinkRegistry
    function unfreezeBatch(uint256 batchId, bytes32 reason) external {
        _setBatchStatus(batchId, BatchStatus.Frozen, BatchStatus.Active, reason);
    }

    /// @inheritdoc ISinkRegistry
    function revokeBatch(uint256 batchId, bytes32 reason) external {
        _requireRole(msg.sender, ROLE_REGULATOR);
        BatchStatus status = _requireBatch(batchId);
        if (status == BatchStatus.Revoked) revert BatchRevoked(batchId);
        _batchStatus[batchId] = BatchStatus.Revoked;
        emit BatchStatusChanged(batchId, BatchStatus.Revoked, msg.sender, reason);
    }

    /// @inheritdoc ISinkRegistry
    function recordReversal(uint256 batchId, uint256 amount, uint64 lossProjectId, bytes32 lossEvidence) external {
        _requireRole(msg.sender, ROLE_REGULATOR);
        if (_requireBatch(batchId) == BatchStatus.Revoked) revert BatchRevoked(batchId);
        _requireProject(lossProjectId);
        address buffer = _ledger.bufferAccount;
        _update(buffer, address(0), batchId, amount);
        emit ReversalRecorded(batchId, lossProjectId, msg.sender, buffer, amount, lossEvidence);
    }

    function _setBatchStatus(uint256 batchId, BatchStatus from, BatchStatus to, bytes32 reason) private {
        _requireRole(msg.sender, ROLE_REGULATOR);
        BatchStatus status = _requireBatch(batchId);
        if (status == BatchStatus.Revoked) revert BatchRevoked(batchId);
        if (status != from) revert BatchStatusUnchanged(batchId, status);
        _batchStatus[batchId] = to;
        emit BatchStatusChanged(batchId, to, msg.sender, reason);
    }

    function _requireBatch(uint256 batchId) private view returns (BatchStatus) {
        if (!batchExists(batchId)) revert BatchNotFound(batchId);
        return _batchStatus[batchId];
    }
}
