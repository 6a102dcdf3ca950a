// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SinkRegistry} from "../SinkRegistry.sol";

/**
 * @dev Test-only: the registry plus bulk operations that emit its real events many times per
 * transaction, so tests and benchmarks can build histories of 100,000 events in seconds.
 * Never deployed by the node.
 */
contract SinkRegistryHarness is SinkRegistry {
    constructor(address admin, uint32 organisation, address buffer, uint16 bufferShareBps)
        SinkRegistry(admin, organisation, buffer, bufferShareBps)
    {}

    /// @dev `count` one-gram transfers around `ring`, each emitting {CertificateTransferred}.
    function churnTransfers(uint256 batchId, address[] calldata ring, uint256 count, bytes32 dealRef) external {
        uint256 n = ring.length;
        for (uint256 k = 0; k < count; ++k) {
            address from = ring[k % n];
            address to = ring[(k + 1) % n];
            _update(from, to, batchId, 1);
            emit CertificateTransferred(batchId, from, to, 1, dealRef);
        }
    }

    /// @dev `count` one-gram retirements by the members of `ring`, each emitting {CertificateRetired}.
    function churnRetirements(uint256 batchId, address[] calldata ring, uint256 count) external {
        uint256 n = ring.length;
        uint64 id = _ledger.retirementCount;
        for (uint256 k = 0; k < count; ++k) {
            address holder = ring[k % n];
            _update(holder, address(0), batchId, 1);
            emit CertificateRetired(++id, batchId, holder, 1, bytes32(0), 0, 1, bytes16("CN-31"), "bulk", "test");
        }
        _ledger.retirementCount = id;
    }
}
