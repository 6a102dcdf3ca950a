// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Participants} from "./registry/Participants.sol";
import {Regulation} from "./registry/Regulation.sol";

/**
 * @title SinkRegistry
 * @dev The deployable sinkledger registry of urban green-space carbon-sink certificates.
 * The EIP-712 domain ("SinkLedger", "1", chain id, this address) is published by
 * {eip712Domain} (ERC-5267) for clients to read rather than hard-code.
 */
contract SinkRegistry is Regulation {
    constructor(address admin, uint32 organisation, address buffer, uint16 bufferShareBps)
        Participants(admin, organisation, buffer, bufferShareBps)
        EIP712("SinkLedger", "1")
    {}
}
