// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SinkRegistry} from "../../contracts/SinkRegistry.sol";
import {CheatCodes} from "./Vm.sol";
import {Handler} from "./Handler.sol";

/// @dev Conservation and finality of certificates under random histories (Forge invariant campaign).
contract SinkRegistryInvariants is CheatCodes {
    SinkRegistry internal registry;
    Handler internal handler;

    function setUp() public {
        address admin = address(0xad);
        address buffer = address(0xbf);
        registry = new SinkRegistry(admin, 1, buffer, 1000);
        handler = new Handler(registry, admin, buffer, 0xA11CE);
        vm.prank(admin);
        registry.registerParticipant(address(handler), 7, 0);
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_issuedEqualsBalancesPlusRetiredPlusReversed() public view {
        for (uint256 b = 0; b < handler.batchCount(); b++) {
            uint256 batchId = handler.batches(b);
            uint256 held;
            for (uint256 h = 0; h < handler.holderCount(); h++) {
                held += registry.balanceOf(handler.holders(h), batchId);
            }
            require(
                handler.issued(batchId) == held + handler.retired(batchId) + handler.reversed(batchId),
                "issued != balances + retired + reversed"
            );
        }
    }

    function invariant_revokedUnitsNeverMove() public view {
        for (uint256 b = 0; b < handler.batchCount(); b++) {
            uint256 batchId = handler.batches(b);
            if (!handler.revoked(batchId)) continue;
            for (uint256 h = 0; h < handler.holderCount(); h++) {
                address holder = handler.holders(h);
                require(
                    registry.balanceOf(holder, batchId) == handler.balanceAtRevocation(batchId, holder),
                    "revoked units moved"
                );
            }
        }
    }

    function invariant_issuanceSplitsAtTheShareInForceForTheProject() public view {
        require(!handler.bufferSplitWrong(), "an issuance's buffer amount is not the share in force, rounded up");
    }

    function invariant_retirementCountNeverDecreases() public view {
        require(!handler.retirementCountDecreased(), "retirement count decreased");
        require(registry.retirementCount() >= handler.lastRetirementCount(), "retirement count went back");
        require(!handler.retirementIdsSkipped(), "retireBatches left the count off its last id");
    }
}
