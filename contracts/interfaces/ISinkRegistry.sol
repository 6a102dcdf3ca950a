// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/**
 * @dev Types, events and errors of the sinkledger registry, declared once.
 *
 * Units are integer grams of CO2e. A batch is one project monitoring period; its id is
 * `projectId << 32 | periodIndex` (periodIndex counts from 1), so an id names its project.
 * Every state change emits an event carrying what an indexer needs to rebuild state from
 * events alone.
 */
interface ISinkRegistryTypes {
    /// @dev Participant record, packed in one storage slot.
    struct Participant {
        uint32 organisation;
        uint8 roles;
        bool registered;
        bool frozen;
    }

    /**
     * @dev A project's on-chain record: everything issuance must check, packed in one slot (32 bytes).
     * `bufferShareBps` is the project's own buffer share, or `type(uint16).max` when it inherits the
     * registry's ({bufferShareOf} gives the share in force).
     */
    struct Project {
        address owner;
        ProjectStatus status;
        uint40 issuedUntil;
        uint32 batchCount;
        uint16 bufferShareBps;
    }

    /// @dev The statement an accredited verifier signs (EIP-712) before a batch can be issued.
    struct VerificationStatement {
        uint64 projectId;
        uint40 periodStart;
        uint40 periodEnd;
        uint256 quantity;
        bytes32 evidenceRoot;
        bytes32 methodologyId;
        uint256 expiry;
        uint256 nonce;
    }

    /// @dev What a holder states when retiring; the beneficiary is plain text or a salted hash, never both.
    struct RetirementRequest {
        uint256 batchId;
        uint256 amount;
        string beneficiary;
        bytes32 beneficiaryHash;
        string reason;
        uint40 consumptionStart;
        uint40 consumptionEnd;
        bytes16 region;
    }

    /**
     * @dev What every retirement of one {retireBatches} call shares: the fields of a {RetirementRequest}
     * other than its batch and amount, sent once however many batches are retired.
     */
    struct RetirementDetails {
        string beneficiary;
        bytes32 beneficiaryHash;
        string reason;
        uint40 consumptionStart;
        uint40 consumptionEnd;
        bytes16 region;
    }

    /// @dev A holder's consent to a bank's lien on `amount` of `batchId`, signed by the holder (EIP-712).
    struct PledgeConsent {
        uint256 batchId;
        address holder;
        address bank;
        uint256 amount;
        uint256 nonce;
        uint256 deadline;
    }

    /// @dev Active: the units are held for the bank; Defaulted: the bank declared default and may take them.
    enum PledgeState {
        None,
        Active,
        Defaulted,
        Released,
        Enforced
    }

    enum ProjectStatus {
        None,
        Active,
        Suspended,
        Closed
    }

    /// @dev Regulatory status of a batch; distinct from retirement, which is per unit and final.
    enum BatchStatus {
        Active,
        Frozen,
        Revoked
    }
}

interface ISinkRegistryEvents is ISinkRegistryTypes {
    event ParticipantRegistered(address indexed account, uint32 indexed organisation, uint8 roles, address indexed admin);
    event RolesChanged(address indexed account, uint8 roles, address indexed admin);
    event RegistryPaused(address indexed admin);
    event RegistryUnpaused(address indexed admin);
    event BufferConfigured(address indexed account, uint16 shareBps, address indexed admin);

    event ProjectRegistered(uint64 indexed projectId, address indexed owner, address indexed registrar, bytes32 metadataHash);
    event ProjectMetadataUpdated(uint64 indexed projectId, bytes32 metadataHash, address indexed updater);
    event ProjectStatusChanged(uint64 indexed projectId, ProjectStatus status, address indexed regulator, bytes32 reason);
    /// @dev `shareBps` is the project's own buffer share from now on, or `type(uint16).max`: it inherits the registry's.
    event ProjectBufferShareSet(uint64 indexed projectId, uint16 shareBps, address indexed admin);

    /**
     * @dev A verified period was issued: `owner` received `quantity - bufferAmount`, `bufferAccount`
     * received `bufferAmount`.
     */
    event BatchIssued(
        uint256 indexed batchId,
        uint64 indexed projectId,
        address indexed verifier,
        address issuer,
        address owner,
        address bufferAccount,
        uint40 periodStart,
        uint40 periodEnd,
        uint256 quantity,
        uint256 bufferAmount,
        bytes32 evidenceRoot,
        bytes32 methodologyId,
        bytes32 verificationDigest
    );
    event CertificateTransferred(
        uint256 indexed batchId, address indexed from, address indexed to, uint256 amount, bytes32 dealRef
    );
    event CertificateRetired(
        uint256 indexed retirementId,
        uint256 indexed batchId,
        address indexed holder,
        uint256 amount,
        bytes32 beneficiaryHash,
        uint40 consumptionStart,
        uint40 consumptionEnd,
        bytes16 region,
        string beneficiary,
        string reason
    );

    event PledgeRegistered(
        uint256 indexed pledgeId, uint256 indexed batchId, address indexed holder, address bank, uint256 amount
    );
    event PledgeReleased(
        uint256 indexed pledgeId, uint256 indexed batchId, address indexed holder, address bank, uint256 amount
    );
    /// @dev `reason` is the hash of the bank's written reason.
    event PledgeDefaulted(
        uint256 indexed pledgeId,
        uint256 indexed batchId,
        address indexed holder,
        address bank,
        uint256 amount,
        bytes32 reason
    );
    /// @dev Followed by the {CertificateTransferred} to the bank, whose deal reference is the pledge id.
    event PledgeEnforced(
        uint256 indexed pledgeId, uint256 indexed batchId, address indexed holder, address bank, uint256 amount
    );

    event AccountFreezeChanged(address indexed account, bool frozen, address indexed regulator, bytes32 reason);
    event BatchStatusChanged(uint256 indexed batchId, BatchStatus status, address indexed regulator, bytes32 reason);
    /// @dev Buffer units cancelled to make good a loss (dead trees, fire) of project `lossProjectId`.
    event ReversalRecorded(
        uint256 indexed batchId,
        uint64 indexed lossProjectId,
        address indexed regulator,
        address bufferAccount,
        uint256 amount,
        bytes32 lossEvidence
    );
}

interface ISinkRegistryErrors is ISinkRegistryTypes {
    error RegistryIsPaused();
    error RegistryNotPaused();
    error MissingRole(address account, uint8 role);
    error InvalidAccount(address account);
    error InvalidOrganisation(uint32 organisation);
    error UnknownRoles(uint8 roles);
    error CannotChangeOwnRoles(address account);
    error ParticipantNotRegistered(address account);
    error ParticipantAlreadyRegistered(address account);
    error AccountFrozen(address account);
    error AccountStatusUnchanged(address account, bool frozen);
    error BufferShareTooHigh(uint16 shareBps, uint16 maxBps);

    error ProjectNotFound(uint64 projectId);
    error ProjectNotActive(uint64 projectId, ProjectStatus status);
    error ProjectStatusUnchanged(uint64 projectId, ProjectStatus status);
    error InvalidProjectStatus(ProjectStatus status);

    error SignerNotVerifier(address signer);
    error StatementExpired(uint256 expiry, uint256 now_);
    error VerificationAlreadyUsed(bytes32 digest);
    error EvidenceRootAlreadyUsed(bytes32 evidenceRoot);
    error InvalidPeriod(uint40 start, uint40 end);
    error PeriodNotEnded(uint40 end, uint256 now_);
    error PeriodOverlap(uint64 projectId, uint40 start, uint40 end, uint40 issuedUntil);
    error SeparationOfDuties(address account, uint32 organisation);

    error ZeroAmount();
    error QuantityTooLarge(uint256 quantity, uint256 max);
    error SelfTransfer(address account);
    error InsufficientBalance(address account, uint256 batchId, uint256 balance, uint256 needed);
    error LengthMismatch(uint256 batches, uint256 amounts);
    error EmptyTransfer();
    error DuplicateBatch(uint256 batchId);
    error BatchNotFound(uint256 batchId);
    error BatchFrozen(uint256 batchId);
    error BatchRevoked(uint256 batchId);
    error BatchStatusUnchanged(uint256 batchId, BatchStatus status);
    error BeneficiaryRequired();
    error BeneficiaryAmbiguous();
    error InvalidConsumptionPeriod(uint40 start, uint40 end);

    error UnitsPledged(address account, uint256 batchId, uint256 free, uint256 needed);
    error NotTheBank(uint256 pledgeId, address caller);
    error PledgeNotFound(uint256 pledgeId);
    error PledgeNotOpen(uint256 pledgeId, PledgeState state);
    error ConsentExpired(uint256 deadline, uint256 now_);
    error InvalidConsentNonce(address holder, uint256 given, uint256 expected);
    error ConsentNotByHolder(address signer, address holder);
}

/**
 * @dev The registry of garden carbon-sink certificates.
 *
 * Roles are bits of one byte: admin 1, issuer 2, verifier 4, regulator 8, bank 16. Only registered, unfrozen
 * participants hold, send, receive or retire certificates.
 */
interface ISinkRegistry is ISinkRegistryEvents, ISinkRegistryErrors {
    /**
     * @dev Registers `account` in `organisation` with `roles`.
     *
     * Requirements: caller is an admin; `account` is not registered; `organisation` is not zero.
     * Emits a {ParticipantRegistered} event.
     */
    function registerParticipant(address account, uint32 organisation, uint8 roles) external;

    /// @dev Replaces the roles of a registered participant (not the caller's own). Emits {RolesChanged}.
    function setRoles(address account, uint8 roles) external;

    /// @dev Stops issuance, transfers and retirements; regulators can still act. Emits {RegistryPaused}.
    function pause() external;

    /// @dev Emits {RegistryUnpaused}.
    function unpause() external;

    /// @dev Sets the account receiving the buffer share and the share in basis points. Emits {BufferConfigured}.
    function configureBuffer(address account, uint16 shareBps) external;

    /**
     * @dev Registers a green-space project owned by `owner`.
     *
     * Requirements: caller is `owner` or an issuer; `owner` is registered and not frozen.
     * Emits a {ProjectRegistered} event.
     */
    function registerProject(address owner, bytes32 metadataHash) external returns (uint64 projectId);

    /**
     * @dev Replaces the metadata hash of `projectId`.
     *
     * Requirements: the project exists; caller is its owner, not frozen, or an unfrozen issuer.
     * Emits a {ProjectMetadataUpdated} event.
     */
    function updateProjectMetadata(uint64 projectId, bytes32 metadataHash) external;

    /// @dev Regulator sets a project Active, Suspended or Closed. Emits {ProjectStatusChanged}.
    function setProjectStatus(uint64 projectId, ProjectStatus status, bytes32 reason) external;

    /**
     * @dev Sets the buffer share of `projectId`'s future issuances to `shareBps`, whatever the registry's
     * share is or becomes; `type(uint16).max` clears it, and the project inherits the registry's share again.
     *
     * Requirements: caller is an admin; the project exists; `shareBps` is at most 10,000 or is the clearing value.
     * Emits a {ProjectBufferShareSet} event.
     */
    function setProjectBufferShare(uint64 projectId, uint16 shareBps) external;

    /**
     * @dev Issues the batch a verifier's signed `statement` covers, to the project owner, less the buffer share
     * in force for the project ({bufferShareOf}).
     *
     * Requirements:
     * - caller is an unfrozen issuer and the registry is not paused;
     * - the statement is unexpired, its period has ended and starts at or after the end of the
     *   project's last issued period, its verification digest and evidence root were never used;
 *   its quantity is not zero and at most 2^63 - 1;
     * - the signer is an unfrozen verifier other than the caller;
     * - neither the signer's nor the caller's organisation is the project owner's.
     *
     * Emits a {BatchIssued} event.
     */
    function issue(VerificationStatement calldata statement, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 batchId);

    /**
     * @dev Moves `amount` of `batchId` from the caller to `to`, recording the off-chain deal reference.
     *
     * Requirements: both parties registered and unfrozen, batch active, enough balance.
     * Emits a {CertificateTransferred} event.
     */
    function transfer(uint256 batchId, address to, uint256 amount, bytes32 dealRef) external;

    /**
     * @dev Moves `amounts[i]` of `batchIds[i]` from the caller to `to` for every `i` in one transaction,
     * all under one deal reference: the constituents of a bundle. All pairs move or none does.
     *
     * Requirements:
     * - `batchIds` and `amounts` have the same length, and it is not zero;
     * - `batchIds` is strictly increasing, so no batch appears twice (an id not above its predecessor
     *   is refused as {DuplicateBatch});
     * - those of {transfer}, for every pair: both parties registered and unfrozen, not to oneself,
     *   every batch active, every amount not zero, enough balance of every batch.
     *
     * Emits a {CertificateTransferred} event per pair, each carrying `dealRef`.
     */
    function transferBatches(uint256[] calldata batchIds, uint256[] calldata amounts, address to, bytes32 dealRef)
        external;

    /**
     * @dev Retires `request.amount` of the caller's units for good.
     *
     * Requirements: exactly one of `beneficiary` and `beneficiaryHash` given; consumption period
     * not reversed; caller registered and unfrozen; batch active; enough balance.
     * Emits a {CertificateRetired} event.
     */
    function retire(RetirementRequest calldata request) external returns (uint256 retirementId);

    /**
     * @dev Retires `amounts[i]` of the caller's units of `batchIds[i]` for every `i` in one transaction, all
     * for the one beneficiary (or beneficiary hash), reason, consumption period and region of `details`:
     * an offset or a campaign drawing on several batches. All pairs are retired or none is.
     *
     * Each pair is a retirement of its own, numbered consecutively in the order of `batchIds`, so a
     * certificate still names one batch.
     *
     * Requirements:
     * - the registry is not paused;
     * - `batchIds` and `amounts` have the same length, and it is not zero;
     * - `batchIds` is strictly increasing, so no batch appears twice (an id not above its predecessor
     *   is refused as {DuplicateBatch});
     * - those of {retire}, for every pair: exactly one of `beneficiary` and `beneficiaryHash` given;
     *   consumption period not reversed; caller registered and unfrozen; every batch active, every
     *   amount not zero, enough balance of every batch.
     *
     * Emits a {CertificateRetired} event per pair.
     *
     * @param batchIds the batches drawn on, strictly increasing
     * @param amounts the grams retired of each batch, in the order of `batchIds`
     * @param details the beneficiary, reason, consumption period and region every retirement carries
     * @return firstRetirementId the id of the first pair's retirement; the others follow it by one each
     */
    function retireBatches(uint256[] calldata batchIds, uint256[] calldata amounts, RetirementDetails calldata details)
        external
        returns (uint256 firstRetirementId);

    /**
     * @dev A bank registers a lien on `consent.amount` of the holder's free units of `consent.batchId`, with the
     * holder's signature over `consent` (EIP-712, the next of the holder's consent nonces, before its
     * deadline). Emits {PledgeRegistered}.
     */
    function pledge(PledgeConsent calldata consent, uint8 v, bytes32 r, bytes32 s) external returns (uint256 pledgeId);

    /// @dev The pledge's bank frees the units (active or defaulted pledge). Emits {PledgeReleased}.
    function releasePledge(uint256 pledgeId) external;

    /// @dev The pledge's bank declares the holder in default, with the hash of its reason. Emits {PledgeDefaulted}.
    function declareDefault(uint256 pledgeId, bytes32 reason) external;

    /**
     * @dev After a default, the bank takes the pledged units: moved to it from the holder. Emits
     * {PledgeEnforced} and {CertificateTransferred}.
     */
    function enforcePledge(uint256 pledgeId) external;

    /// @dev Regulator freezes or unfreezes an account. Emits {AccountFreezeChanged}.
    function setAccountFrozen(address account, bool frozen, bytes32 reason) external;

    /// @dev Regulator freezes an active batch. Emits {BatchStatusChanged}.
    function freezeBatch(uint256 batchId, bytes32 reason) external;

    /// @dev Regulator returns a frozen batch to active. Emits {BatchStatusChanged}.
    function unfreezeBatch(uint256 batchId, bytes32 reason) external;

    /// @dev Regulator revokes a batch found invalid; final. Emits {BatchStatusChanged}.
    function revokeBatch(uint256 batchId, bytes32 reason) external;

    /**
     * @dev Regulator cancels `amount` of `batchId` held by the buffer account to make good a loss of
     * `lossProjectId`. Emits a {ReversalRecorded} event.
     */
    function recordReversal(uint256 batchId, uint256 amount, uint64 lossProjectId, bytes32 lossEvidence) external;

    function participant(address account) external view returns (Participant memory);
    function project(uint64 projectId) external view returns (Project memory);
    function projectMetadata(uint64 projectId) external view returns (bytes32);
    function projectCount() external view returns (uint64);
    /// @dev The buffer share, in basis points, an issuance of `projectId` would hold back now: its own or the registry's.
    function bufferShareOf(uint64 projectId) external view returns (uint16);
    function batchStatus(uint256 batchId) external view returns (BatchStatus);
    function batchExists(uint256 batchId) external view returns (bool);
    function balanceOf(address account, uint256 batchId) external view returns (uint256);
    /// @dev How much of the account's balance of `batchId` is pledged (not free to move).
    function pledgedOf(address account, uint256 batchId) external view returns (uint256);
    function consentNonce(address holder) external view returns (uint256);
    function pledgeCount() external view returns (uint256);
    function evidenceRootUse(bytes32 evidenceRoot) external view returns (bytes32 verificationDigest);
    function verificationDigest(VerificationStatement calldata statement) external view returns (bytes32);
    function paused() external view returns (bool);
    function bufferAccount() external view returns (address);
    function bufferShareBps() external view returns (uint16);
    function retirementCount() external view returns (uint64);
}
