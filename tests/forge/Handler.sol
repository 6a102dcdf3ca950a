// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {SinkRegistry} from "../../contracts/SinkRegistry.sol";
import {ISinkRegistryTypes} from "../../contracts/interfaces/ISinkRegistry.sol";
import {CheatCodes} from "./Vm.sol";

/**
 * @dev Drives random issue / transfer / bundle / retire / retireBatches / freeze / revoke / reversal
 * sequences and keeps ghost totals from what succeeded, for the invariants to compare with the
 * registry's state.
 */
contract Handler is CheatCodes, ISinkRegistryTypes {
    SinkRegistry public immutable registry;
    address public immutable admin;
    address public immutable buffer;
    address public immutable issuer;
    address public immutable regulator;
    uint256 private immutable _verifierKey;
    uint64 public immutable projectId;

    address[] public holders;
    uint256[] public batches;
    mapping(uint256 batchId => uint256) public issued;
    mapping(uint256 batchId => uint256) public retired;
    mapping(uint256 batchId => uint256) public reversed;
    /// @dev Balances of every holder when the batch was revoked, which must never change after.
    mapping(uint256 batchId => mapping(address holder => uint256)) public balanceAtRevocation;
    mapping(uint256 batchId => bool) public revoked;
    uint256 public lastRetirementCount;
    bool public retirementCountDecreased;
    /// @dev Set if a retireBatches call ever left the counter other than at its last id.
    bool public retirementIdsSkipped;
    /// @dev Set if an issuance ever credited the buffer other than ⌈quantity × bufferShareOf(project) / 10,000⌉.
    bool public bufferSplitWrong;
    uint40 private _nextPeriodStart = 1_000_000;
    uint256 private _nonce;

    constructor(SinkRegistry registry_, address admin_, address buffer_, uint256 verifierKey) {
        registry = registry_;
        admin = admin_;
        buffer = buffer_;
        _verifierKey = verifierKey;
        issuer = address(0x1551);
        regulator = address(0x2e6);
        address owner = address(0x0a11);
        vm.startPrank(admin_);
        registry_.registerParticipant(issuer, 1, 2);
        registry_.registerParticipant(vm.addr(verifierKey), 2, 4);
        registry_.registerParticipant(regulator, 9, 8);
        registry_.registerParticipant(owner, 3, 0);
        holders.push(owner);
        holders.push(buffer_);
        for (uint160 i = 1; i <= 3; i++) {
            address holder = address(0xb000 + i);
            registry_.registerParticipant(holder, uint32(10 + i), 0);
            holders.push(holder);
        }
        vm.stopPrank();
        vm.prank(owner);
        projectId = registry_.registerProject(owner, keccak256("garden"));
    }

    function holderCount() external view returns (uint256) {
        return holders.length;
    }

    function batchCount() external view returns (uint256) {
        return batches.length;
    }

    function issue(uint256 quantity, uint40 length) external {
        quantity = 1 + quantity % 1e12;
        length = 1 + length % 400 days;
        uint40 start = _nextPeriodStart;
        uint40 end = start + length;
        vm.warp(end + 1);
        VerificationStatement memory statement = VerificationStatement({
            projectId: projectId,
            periodStart: start,
            periodEnd: end,
            quantity: quantity,
            evidenceRoot: keccak256(abi.encode("evidence", _nonce)),
            methodologyId: keccak256("SL-GS-001/1.1"),
            expiry: end + 1 days,
            nonce: _nonce++
        });
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_verifierKey, registry.verificationDigest(statement));
        uint256 share = registry.bufferShareOf(projectId);
        vm.prank(issuer);
        uint256 batchId = registry.issue(statement, v, r, s);
        if (registry.balanceOf(buffer, batchId) != (quantity * share + 9_999) / 10_000) bufferSplitWrong = true;
        _nextPeriodStart = end;
        batches.push(batchId);
        issued[batchId] = quantity;
    }

    /// @dev The admin gives the project its own buffer share (0 to 10,000 bps), or one time in five clears it.
    function setProjectBufferShare(uint16 shareSeed) external {
        uint16 share = shareSeed % 5 == 0 ? type(uint16).max : shareSeed % 10_001;
        vm.prank(admin);
        registry.setProjectBufferShare(projectId, share);
    }

    function transfer(uint256 batchSeed, uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        if (batches.length == 0) return;
        uint256 batchId = batches[batchSeed % batches.length];
        address from = holders[fromSeed % holders.length];
        address to = holders[toSeed % holders.length];
        uint256 balance = registry.balanceOf(from, batchId);
        amount = balance == 0 ? 1 : 1 + amount % balance;
        vm.prank(from);
        try registry.transfer(batchId, to, amount, bytes32(batchSeed)) {} catch {}
    }

    /// @dev A bundle of up to three consecutive batches (ascending ids, as issued) to one recipient.
    function transferBatches(uint256 batchSeed, uint256 fromSeed, uint256 toSeed, uint256 amountSeed, uint8 size)
        external
    {
        if (batches.length == 0) return;
        uint256 first = batchSeed % batches.length;
        uint256 count = 1 + size % 3;
        if (count > batches.length - first) count = batches.length - first;
        address from = holders[fromSeed % holders.length];
        address to = holders[toSeed % holders.length];
        uint256[] memory batchIds = new uint256[](count);
        uint256[] memory amounts = new uint256[](count);
        for (uint256 i = 0; i < count; i++) {
            batchIds[i] = batches[first + i];
            uint256 balance = registry.balanceOf(from, batchIds[i]);
            amounts[i] = balance == 0 ? 1 : 1 + uint256(keccak256(abi.encode(amountSeed, i))) % balance;
        }
        vm.prank(from);
        try registry.transferBatches(batchIds, amounts, to, bytes32(batchSeed)) {} catch {}
    }

    function retire(uint256 batchSeed, uint256 holderSeed, uint256 amount) external {
        if (batches.length == 0) return;
        uint256 batchId = batches[batchSeed % batches.length];
        address holder = holders[holderSeed % holders.length];
        uint256 balance = registry.balanceOf(holder, batchId);
        amount = balance == 0 ? 1 : 1 + amount % balance;
        RetirementRequest memory request = RetirementRequest({
            batchId: batchId,
            amount: amount,
            beneficiary: "",
            beneficiaryHash: keccak256(abi.encode(holder, amount)),
            reason: "offset",
            consumptionStart: 0,
            consumptionEnd: 1,
            region: bytes16("CN-31")
        });
        vm.prank(holder);
        try registry.retire(request) {
            retired[batchId] += amount;
        } catch {}
        uint64 count = registry.retirementCount();
        if (count < lastRetirementCount) retirementCountDecreased = true;
        lastRetirementCount = count;
    }

    /// @dev Up to three consecutive batches (ascending ids, as issued) retired in one call by one holder.
    function retireBatches(uint256 batchSeed, uint256 holderSeed, uint256 amountSeed, uint8 size) external {
        if (batches.length == 0) return;
        uint256 first = batchSeed % batches.length;
        uint256 count = 1 + size % 3;
        if (count > batches.length - first) count = batches.length - first;
        address holder = holders[holderSeed % holders.length];
        uint256[] memory batchIds = new uint256[](count);
        uint256[] memory amounts = new uint256[](count);
        for (uint256 i = 0; i < count; i++) {
            batchIds[i] = batches[first + i];
            uint256 balance = registry.balanceOf(holder, batchIds[i]);
            amounts[i] = balance == 0 ? 1 : 1 + uint256(keccak256(abi.encode(amountSeed, i))) % balance;
        }
        RetirementDetails memory details = RetirementDetails({
            beneficiary: "campaign",
            beneficiaryHash: bytes32(0),
            reason: "offset",
            consumptionStart: 0,
            consumptionEnd: 1,
            region: bytes16("CN-31")
        });
        vm.prank(holder);
        try registry.retireBatches(batchIds, amounts, details) returns (uint256 firstId) {
            for (uint256 i = 0; i < count; i++) {
                retired[batchIds[i]] += amounts[i];
            }
            if (registry.retirementCount() != firstId + count - 1) retirementIdsSkipped = true;
        } catch {}
        uint64 retirements = registry.retirementCount();
        if (retirements < lastRetirementCount) retirementCountDecreased = true;
        lastRetirementCount = retirements;
    }

    function freezeBatch(uint256 batchSeed, bool frozen) external {
        if (batches.length == 0) return;
        uint256 batchId = batches[batchSeed % batches.length];
        vm.prank(regulator);
        if (frozen) {
            try registry.freezeBatch(batchId, "audit") {} catch {}
        } else {
            try registry.unfreezeBatch(batchId, "cleared") {} catch {}
        }
    }

    function freezeAccount(uint256 holderSeed, bool frozen) external {
        vm.prank(regulator);
        try registry.setAccountFrozen(holders[holderSeed % holders.length], frozen, "audit") {} catch {}
    }

    function revoke(uint256 batchSeed) external {
        if (batches.length == 0) return;
        uint256 batchId = batches[batchSeed % batches.length];
        vm.prank(regulator);
        try registry.revokeBatch(batchId, "invalid") {
            revoked[batchId] = true;
            for (uint256 i = 0; i < holders.length; i++) {
                balanceAtRevocation[batchId][holders[i]] = registry.balanceOf(holders[i], batchId);
            }
        } catch {}
    }

    function reverse(uint256 batchSeed, uint256 amount) external {
        if (batches.length == 0) return;
        uint256 batchId = batches[batchSeed % batches.length];
        uint256 balance = registry.balanceOf(buffer, batchId);
        amount = balance == 0 ? 1 : 1 + amount % balance;
        vm.prank(regulator);
        try registry.recordReversal(batchId, amount, projectId, "fire") {
            reversed[batchId] += amount;
        } catch {}
    }
}
