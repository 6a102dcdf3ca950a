// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ISinkRegistry} from "../interfaces/ISinkRegistry.sol";
import {Certificates} from "./Certificates.sol";

/**
 * @dev Pledges (质押): a bank holds a lien on units of a batch, with the holder's EIP-712 consent.
 *
 * The pledged units stay in the holder's balance but cannot be transferred or retired ({_update} moves free
 * units only) until the bank releases them, or, after declaring the holder in default with a reason, takes them:
 * a transfer to the bank, recorded as the pledge's enforcement. Each step emits its event.
 */
abstract contract Pledges is Certificates {
    bytes32 public constant PLEDGE_TYPEHASH = keccak256(
        "PledgeConsent(uint256 batchId,address holder,address bank,uint256 amount,uint256 nonce,uint256 deadline)"
    );

    /// @dev Two slots: batch ids fit 96 bits (project << 32 | period) and amounts 64 (MAX_BATCH_QUANTITY).
    struct PledgeRecord {
        uint96 batchId;
        address holder;
        address bank;
        uint64 amount;
        PledgeState state;
    }

    mapping(uint256 pledgeId => PledgeRecord) private _pledges;
    /// @dev A holder's consents are used in order: each names the next nonce, so none can be used twice.
    mapping(address holder => uint256) private _consentNonces;
    uint256 private _pledgeCount;

    /// @inheritdoc ISinkRegistry
    function pledge(PledgeConsent calldata consent, uint8 v, bytes32 r, bytes32 s) external returns (uint256 pledgeId) {
        _requireNotPaused();
        if (consent.bank != msg.sender) revert NotTheBank(0, msg.sender);
        _requireActiveRole(msg.sender, ROLE_BANK);
        _requireActive(consent.holder);
        if (block.timestamp > consent.deadline) revert ConsentExpired(consent.deadline, block.timestamp);
        if (consent.amount == 0) revert ZeroAmount();
        _requireBatchActive(consent.batchId);
        uint256 nonce = _consentNonces[consent.holder];
        if (consent.nonce != nonce) revert InvalidConsentNonce(consent.holder, consent.nonce, nonce);
        address signer = ECDSA.recover(_hashTypedDataV4(_hashConsent(consent)), v, r, s);
        if (signer != consent.holder) revert ConsentNotByHolder(signer, consent.holder);
        _consentNonces[consent.holder] = nonce + 1;
        Holding storage held = _holdings[consent.batchId][consent.holder];
        uint256 free = held.balance - held.pledged;
        if (free < consent.amount) revert InsufficientBalance(consent.holder, consent.batchId, free, consent.amount);
        unchecked {
            held.pledged += uint128(consent.amount); // at most the balance, itself below 2**63
            pledgeId = ++_pledgeCount;
        }
        _pledges[pledgeId] = PledgeRecord(
            uint96(consent.batchId), consent.holder, msg.sender, uint64(consent.amount), PledgeState.Active
        );
        emit PledgeRegistered(pledgeId, consent.batchId, consent.holder, msg.sender, consent.amount);
    }

    /// @inheritdoc ISinkRegistry
    function releasePledge(uint256 pledgeId) external {
        PledgeRecord storage record = _bankPledge(pledgeId);
        PledgeState state = record.state;
        if (state != PledgeState.Active && state != PledgeState.Defaulted) revert PledgeNotOpen(pledgeId, state);
        record.state = PledgeState.Released;
        (uint256 batchId, address holder, uint256 amount) = (record.batchId, record.holder, record.amount);
        unchecked {
            _holdings[batchId][holder].pledged -= uint128(amount);
        }
        emit PledgeReleased(pledgeId, batchId, holder, msg.sender, amount);
    }

    /// @inheritdoc ISinkRegistry
    function declareDefault(uint256 pledgeId, bytes32 reason) external {
        PledgeRecord storage record = _bankPledge(pledgeId);
        if (record.state != PledgeState.Active) revert PledgeNotOpen(pledgeId, record.state);
        record.state = PledgeState.Defaulted;
        emit PledgeDefaulted(pledgeId, record.batchId, record.holder, msg.sender, record.amount, reason);
    }

    /// @inheritdoc ISinkRegistry
    function enforcePledge(uint256 pledgeId) external {
        _requireNotPaused();
        PledgeRecord storage record = _bankPledge(pledgeId);
        if (record.state != PledgeState.Defaulted) revert PledgeNotOpen(pledgeId, record.state);
        (uint256 batchId, address holder, uint256 amount) = (record.batchId, record.holder, record.amount);
        _requireActive(msg.sender);
        _requireActive(holder);
        _requireBatchActive(batchId);
        record.state = PledgeState.Enforced;
        unchecked {
            _holdings[batchId][holder].pledged -= uint128(amount);
        }
        _update(holder, msg.sender, batchId, amount);
        emit PledgeEnforced(pledgeId, batchId, holder, msg.sender, amount);
        emit CertificateTransferred(batchId, holder, msg.sender, amount, bytes32(pledgeId));
    }

    function pledgeOf(uint256 pledgeId) external view returns (PledgeRecord memory) {
        return _pledges[pledgeId];
    }

    function consentNonce(address holder) external view returns (uint256) {
        return _consentNonces[holder];
    }

    function pledgeCount() external view returns (uint256) {
        return _pledgeCount;
    }

    function _bankPledge(uint256 pledgeId) private view returns (PledgeRecord storage record) {
        record = _pledges[pledgeId];
        if (record.state == PledgeState.None) revert PledgeNotFound(pledgeId);
        if (record.bank != msg.sender) revert NotTheBank(pledgeId, msg.sender);
    }

    function _hashConsent(PledgeConsent calldata c) private pure returns (bytes32) {
        return keccak256(abi.encode(PLEDGE_TYPEHASH, c.batchId, c.holder, c.bank, c.amount, c.nonce, c.deadline));
    }
}
