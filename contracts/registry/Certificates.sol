// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ISinkRegistry} from "../interfaces/ISinkRegistry.sol";
import {Projects} from "./Projects.sol";

/**
 * @dev Certificate batches: issuance from a verifier's signed statement, transfers and retirement.
 *
 * A batch keeps no storage of its own at issuance: its id encodes the project and the period's
 * index, its period and quantity travel in {BatchIssued}, and its regulatory status is written
 * only when a regulator changes it. Every balance change passes through {_update}, which moves free units only
 * (a holder's units pledged to a bank stay where they are until the bank releases or takes them).
 */
abstract contract Certificates is Projects, EIP712 {
    bytes32 public constant VERIFICATION_TYPEHASH = keccak256(
        "VerificationStatement(uint64 projectId,uint40 periodStart,uint40 periodEnd,uint256 quantity,"
        "bytes32 evidenceRoot,bytes32 methodologyId,uint256 expiry,uint256 nonce)"
    );
    uint256 private constant _BPS = 10_000;
    /// @dev 9.2 trillion tonnes: far above any real batch, and every amount of a batch then fits the
    /// signed 64-bit integers of the node's index (and share arithmetic can never overflow).
    uint256 public constant MAX_BATCH_QUANTITY = uint256(uint64(type(int64).max));

    /**
     * @dev What an account holds of a batch, and how much of that is pledged to banks ({Pledges}): one slot, so
     * a transfer's or retirement's check of the free balance reads nothing more than the balance alone did.
     * Both fit 128 bits: no batch exceeds {MAX_BATCH_QUANTITY}.
     */
    struct Holding {
        uint128 balance;
        uint128 pledged;
    }

    mapping(uint256 batchId => mapping(address account => Holding)) internal _holdings;
    mapping(uint256 batchId => BatchStatus) internal _batchStatus;
    /// @dev Each evidence root is consumed by the one verification that used it, so the same
    /// evidence can never back two batches, and the same statement can never be replayed.
    mapping(bytes32 evidenceRoot => bytes32 verificationDigest) private _evidenceUse;

    /// @inheritdoc ISinkRegistry
    function issue(VerificationStatement calldata statement, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 batchId)
    {
        Ledger memory ledger = _requireNotPaused();
        Participant memory issuer = _requireActiveRole(msg.sender, ROLE_ISSUER);
        _checkStatementTimes(statement);

        Project storage p = _requireProject(statement.projectId);
        Project memory current = p;
        if (current.status != ProjectStatus.Active) revert ProjectNotActive(statement.projectId, current.status);

        bytes32 digest = _hashTypedDataV4(_hashStatement(statement));
        // A replayed statement is reported as such before anything else about it.
        _consumeEvidence(statement.evidenceRoot, digest);
        if (statement.periodStart < current.issuedUntil) {
            revert PeriodOverlap(statement.projectId, statement.periodStart, statement.periodEnd, current.issuedUntil);
        }
        address verifier = ECDSA.recover(digest, v, r, s);
        _checkDuties(verifier, issuer, current.owner);

        uint32 index = current.batchCount + 1;
        p.batchCount = index;
        p.issuedUntil = statement.periodEnd;
        batchId = (uint256(statement.projectId) << 32) | index;

        // The project's slot, read once above, also carries its own buffer share if it has one.
        uint256 shareBps = _effectiveShare(current.bufferShareBps, ledger.bufferShareBps);
        _mintIssued(batchId, statement, ledger.bufferAccount, shareBps, current.owner, verifier, digest);
    }

    /// @inheritdoc ISinkRegistry
    function transfer(uint256 batchId, address to, uint256 amount, bytes32 dealRef) external {
        _requireNotPaused();
        _requireActive(msg.sender);
        _requireActive(to);
        if (to == msg.sender) revert SelfTransfer(to);
        _requireBatchActive(batchId);
        _update(msg.sender, to, batchId, amount);
        emit CertificateTransferred(batchId, msg.sender, to, amount, dealRef);
    }

    /// @inheritdoc ISinkRegistry
    function transferBatches(uint256[] calldata batchIds, uint256[] calldata amounts, address to, bytes32 dealRef)
        external
    {
        _requireNotPaused();
        uint256 count = batchIds.length;
        if (amounts.length != count) revert LengthMismatch(count, amounts.length);
        if (count == 0) revert EmptyTransfer();
        // The parties are the same for every pair, so they are checked once.
        _requireActive(msg.sender);
        _requireActive(to);
        if (to == msg.sender) revert SelfTransfer(to);
        uint256 previous;
        for (uint256 i = 0; i < count; ++i) {
            uint256 batchId = batchIds[i];
            // Ascending ids catch a repeat with one comparison, where a set of seen ids would cost storage.
            if (i != 0 && batchId <= previous) revert DuplicateBatch(batchId);
            _requireBatchActive(batchId);
            uint256 amount = amounts[i];
            _update(msg.sender, to, batchId, amount);
            emit CertificateTransferred(batchId, msg.sender, to, amount, dealRef);
            previous = batchId;
        }
    }

    /// @inheritdoc ISinkRegistry
    function retire(RetirementRequest calldata request) external returns (uint256 retirementId) {
        Ledger memory ledger = _requireNotPaused();
        _checkRetirementDetails(
            bytes(request.beneficiary).length != 0,
            request.beneficiaryHash,
            request.consumptionStart,
            request.consumptionEnd
        );
        _requireActive(msg.sender);
        _requireBatchActive(request.batchId);
        _update(msg.sender, address(0), request.batchId, request.amount);

        retirementId = ledger.retirementCount + 1;
        _ledger.retirementCount = uint64(retirementId);
        emit CertificateRetired(
            retirementId,
            request.batchId,
            msg.sender,
            request.amount,
            request.beneficiaryHash,
            request.consumptionStart,
            request.consumptionEnd,
            request.region,
            request.beneficiary,
            request.reason
        );
    }

    /// @inheritdoc ISinkRegistry
    function retireBatches(uint256[] calldata batchIds, uint256[] calldata amounts, RetirementDetails calldata details)
        external
        returns (uint256 firstRetirementId)
    {
        // Only the pause flag and the counter are needed: read in place, not copied whole to memory as
        // {_requireNotPaused} does (about 500 gas less here).
        Ledger storage ledger = _ledger;
        if (ledger.paused) revert RegistryIsPaused();
        uint256 retired = ledger.retirementCount;
        uint256 count = batchIds.length;
        if (amounts.length != count) revert LengthMismatch(count, amounts.length);
        if (count == 0) revert EmptyTransfer();
        _checkRetirementDetails(
            bytes(details.beneficiary).length != 0,
            details.beneficiaryHash,
            details.consumptionStart,
            details.consumptionEnd
        );
        // The holder is the same for every pair, so it is checked once.
        _requireActive(msg.sender);

        firstRetirementId = retired + 1;
        // One write of the counter takes the ids first .. first + count - 1 for the whole call.
        ledger.retirementCount = uint64(retired + count);
        // The events differ only in their topics and their first data word (the amount), so their data is
        // encoded once, as {CertificateRetired} encodes it, and the strings are not copied again per pair.
        bytes memory data = abi.encode(
            uint256(0),
            details.beneficiaryHash,
            details.consumptionStart,
            details.consumptionEnd,
            details.region,
            details.beneficiary,
            details.reason
        );
        uint256 previous;
        for (uint256 i = 0; i < count; ++i) {
            uint256 batchId = batchIds[i];
            // Ascending ids catch a repeat with one comparison, as in {transferBatches}.
            if (i != 0 && batchId <= previous) revert DuplicateBatch(batchId);
            _requireBatchActive(batchId);
            uint256 amount = amounts[i];
            _update(msg.sender, address(0), batchId, amount);
            // Cannot overflow: the first id is at most 2^64 and `i` is below the length of a calldata array.
            unchecked {
                _emitRetired(data, firstRetirementId + i, batchId, amount);
            }
            previous = batchId;
        }
    }

    function balanceOf(address account, uint256 batchId) external view returns (uint256) {
        return _holdings[batchId][account].balance;
    }

    function pledgedOf(address account, uint256 batchId) external view returns (uint256) {
        return _holdings[batchId][account].pledged;
    }

    function batchStatus(uint256 batchId) external view returns (BatchStatus) {
        return _batchStatus[batchId];
    }

    function batchExists(uint256 batchId) public view returns (bool) {
        uint32 index = uint32(batchId);
        return index != 0 && batchId >> 96 == 0 && index <= _projects[uint64(batchId >> 32)].batchCount;
    }

    function evidenceRootUse(bytes32 evidenceRoot) external view returns (bytes32) {
        return _evidenceUse[evidenceRoot];
    }

    function verificationDigest(VerificationStatement calldata statement) external view returns (bytes32) {
        return _hashTypedDataV4(_hashStatement(statement));
    }

    /**
     * @dev Moves `amount` of `batchId` from `from` to `to`; the zero address on either side mints or
     * burns. The one place balances change.
     */
    function _update(address from, address to, uint256 batchId, uint256 amount) internal {
        if (amount == 0) revert ZeroAmount();
        mapping(address account => Holding) storage holdings = _holdings[batchId];
        if (from != address(0)) {
            Holding storage held = holdings[from];
            // The slot read and written whole: balance in the low 128 bits, the pledged part in the high.
            uint256 word;
            assembly ("memory-safe") {
                word := sload(held.slot)
            }
            uint256 balance = uint128(word);
            uint256 free = balance - (word >> 128);
            if (free < amount) {
                if (balance < amount) revert InsufficientBalance(from, batchId, balance, amount);
                revert UnitsPledged(from, batchId, free, amount);
            }
            assembly ("memory-safe") {
                sstore(held.slot, sub(word, amount)) // amount <= free <= balance: only the low half changes
            }
        }
        if (to != address(0)) {
            Holding storage dest = holdings[to];
            // Cannot carry into the pledged half: the sum of all balances of a batch never exceeds its issued
            // quantity, below 2**63.
            assembly ("memory-safe") {
                sstore(dest.slot, add(sload(dest.slot), amount))
            }
        }
    }

    function _requireBatchActive(uint256 batchId) internal view {
        BatchStatus status = _batchStatus[batchId];
        if (status == BatchStatus.Frozen) revert BatchFrozen(batchId);
        if (status == BatchStatus.Revoked) revert BatchRevoked(batchId);
    }

    /**
     * @dev Emits {CertificateRetired} for `retirementId` of `amount` of `batchId` by the caller, from `data`,
     * the event's data already encoded with the shared details: only its first word, the amount, is written.
     */
    function _emitRetired(bytes memory data, uint256 retirementId, uint256 batchId, uint256 amount) private {
        bytes32 topic = CertificateRetired.selector;
        assembly ("memory-safe") {
            mstore(add(data, 0x20), amount)
            log4(add(data, 0x20), mload(data), topic, retirementId, batchId, caller())
        }
    }

    /// @dev The rules a retirement's shared details obey: one beneficiary form, a period not reversed.
    function _checkRetirementDetails(
        bool named,
        bytes32 beneficiaryHash,
        uint40 consumptionStart,
        uint40 consumptionEnd
    ) private pure {
        if (named == (beneficiaryHash != bytes32(0))) {
            if (named) revert BeneficiaryAmbiguous();
            revert BeneficiaryRequired();
        }
        if (consumptionEnd < consumptionStart) revert InvalidConsumptionPeriod(consumptionStart, consumptionEnd);
    }

    function _checkStatementTimes(VerificationStatement calldata statement) private view {
        if (statement.expiry < block.timestamp) revert StatementExpired(statement.expiry, block.timestamp);
        if (statement.periodEnd <= statement.periodStart) {
            revert InvalidPeriod(statement.periodStart, statement.periodEnd);
        }
        // Ex-post only: a period's sink is issued once it has been measured, never in advance.
        if (statement.periodEnd > block.timestamp) revert PeriodNotEnded(statement.periodEnd, block.timestamp);
        if (statement.quantity == 0) revert ZeroAmount();
        if (statement.quantity > MAX_BATCH_QUANTITY) revert QuantityTooLarge(statement.quantity, MAX_BATCH_QUANTITY);
    }

    /// @dev Neither the verifier nor the issuer may belong to the owner's organisation, nor be one account.
    function _checkDuties(address verifier, Participant memory issuer, address owner) private view {
        Participant memory signer = _requireActiveRoleAs(verifier);
        Participant memory holder = _requireActive(owner);
        if (verifier == msg.sender) revert SeparationOfDuties(verifier, signer.organisation);
        if (signer.organisation == holder.organisation) revert SeparationOfDuties(verifier, signer.organisation);
        if (issuer.organisation == holder.organisation) revert SeparationOfDuties(msg.sender, issuer.organisation);
    }

    function _requireActiveRoleAs(address verifier) private view returns (Participant memory p) {
        p = _participantOf(verifier);
        if (p.roles & ROLE_VERIFIER == 0) revert SignerNotVerifier(verifier);
        if (p.frozen) revert AccountFrozen(verifier);
    }

    function _consumeEvidence(bytes32 evidenceRoot, bytes32 digest) private {
        bytes32 used = _evidenceUse[evidenceRoot];
        if (used == digest) revert VerificationAlreadyUsed(digest);
        if (used != bytes32(0)) revert EvidenceRootAlreadyUsed(evidenceRoot);
        _evidenceUse[evidenceRoot] = digest;
    }

    function _hashStatement(VerificationStatement calldata statement) private pure returns (bytes32) {
        return keccak256(abi.encode(VERIFICATION_TYPEHASH, statement));
    }

    /// @dev Credits the owner and `bufferAccount` with their shares of a new batch, `shareBps` being the
    /// buffer share in force for the batch's project.
    function _mintIssued(
        uint256 batchId,
        VerificationStatement calldata statement,
        address bufferAccount,
        uint256 shareBps,
        address owner,
        address verifier,
        bytes32 digest
    ) private {
        // The buffer's share rounds up, so the owner's share never rounds a claim up.
        uint256 bufferAmount = (statement.quantity * shareBps + _BPS - 1) / _BPS;
        // Tiny batches can go wholly to the buffer (1 g at any share rounds up to 1 g).
        if (statement.quantity != bufferAmount) _update(address(0), owner, batchId, statement.quantity - bufferAmount);
        if (bufferAmount != 0) _update(address(0), bufferAccount, batchId, bufferAmount);
        emit BatchIssued(
            batchId,
            statement.projectId,
            verifier,
            msg.sender,
            owner,
            bufferAccount,
            statement.periodStart,
            statement.periodEnd,
            statement.quantity,
            bufferAmount,
            statement.evidenceRoot,
            statement.methodologyId,
            digest
        );
    }
}
