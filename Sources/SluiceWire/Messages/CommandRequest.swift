/// A `COMMAND` request: run a write contract once, identified by the sender's idempotency key.
public struct CommandRequest: Sendable, Equatable {
    public var requestID: String
    public var contract: ContractID
    public var idempotencyKey: String
    /// Milliseconds after the broker receives the command within which it must start running;
    /// past it the command is answered `deadline_exceeded` and not run.
    public var deadlineMs: Int?
    /// `traceparent` and `tenant`, when the caller gave them.
    public var context: CallerContext?
    public var payload: JSONValue
    /// `payload`'s canonical bytes when the message carried them as they are
    /// (``WireMessage/canonicalBody``); nil otherwise. Not part of equality.
    public var canonicalPayload: [UInt8]?

    public static func == (lhs: CommandRequest, rhs: CommandRequest) -> Bool {
        lhs.requestID == rhs.requestID && lhs.contract == rhs.contract && lhs.idempotencyKey == rhs.idempotencyKey
            && lhs.deadlineMs == rhs.deadlineMs && lhs.context == rhs.context && lhs.payload == rhs.payload
    }

    /// The canonical encoding of `payload`: the bytes as received when they already were, else
    /// encoded now. What the idempotency hash and the log are computed from.
    public func canonicalPayloadBytes() -> [UInt8] {
        canonicalPayload ?? payload.canonicalBytes()
    }

    public init(
        requestID: String, contract: ContractID, idempotencyKey: String, deadlineMs: Int? = nil,
        context: CallerContext? = nil, payload: JSONValue
    ) {
        self.context = context
        self.requestID = requestID
        self.contract = contract
        self.idempotencyKey = idempotencyKey
        self.deadlineMs = deadlineMs
        self.payload = payload
    }

    public func message() -> WireMessage {
        var header = JSONObject()
        header["contract"] = .string(contract.description)
        header["idempotency_key"] = .string(idempotencyKey)
        header["request_id"] = .string(requestID)
        if let deadlineMs { header["deadline_ms"] = .int(Int64(deadlineMs)) }
        context?.write(into: &header)
        return WireMessage(kind: .command, header: header, body: payload)
    }

    /// The kind frame of every `COMMAND` (`COMMAND`), one array for all: a receiver that takes
    /// this frame as this array compares it by identity.
    public static let kindFrame = Array(MessageKind.command.rawValue.utf8)

    /// The frames of ``message()`` on the wire — the header written straight to bytes, its
    /// members in canonical order — preceded by the empty delimiter a DEALER sends first when
    /// `delimited`. What a client sends for every command, without building the header as an
    /// object only to encode it.
    public func frames(delimited: Bool) -> [[UInt8]] {
        var header = CanonicalObjectWriter(
            capacity: contract.description.utf8.count + idempotencyKey.utf8.count + requestID.utf8.count + 64
                + (context?.traceparent?.utf8.count ?? 0) + (context?.tenant?.utf8.count ?? 0))
        header.string("contract", contract.description)
        if let deadlineMs { header.int("deadline_ms", Int64(deadlineMs)) }
        header.string("idempotency_key", idempotencyKey)
        header.string("request_id", requestID)
        if let tenant = context?.tenant { header.string("tenant", tenant) }
        if let traceparent = context?.traceparent { header.string("traceparent", traceparent) }
        var frames: [[UInt8]] = []
        frames.reserveCapacity(5)
        if delimited { frames.append([]) }
        frames.append(WireMessage.protocolTag)
        frames.append(CommandRequest.kindFrame)
        frames.append(header.finish())
        frames.append(payload.canonicalBytes())
        return frames
    }

    /// Reads and checks a `COMMAND`'s header fields; every problem names the field.
    public init(_ message: WireMessage, limits: ProtocolLimits = ProtocolLimits()) throws(WireError) {
        let requestID = try HeaderField.requestID(message.header, limits: limits)
        guard let contractText = message.header["contract"]?.stringValue else {
            throw HeaderField.missing("contract", "a string like \"task.create@v1\"")
        }
        guard let contract = ContractID(contractText) else {
            throw WireError(
                .invalidMessage,
                "header.contract \"\(contractText.prefix(100))\" is not of the form name@version (e.g. task.create@v1)",
                details: ["field": "contract"]
            )
        }
        guard let key = message.header["idempotency_key"]?.stringValue else {
            throw HeaderField.missing(
                "idempotency_key", "a non-empty string of at most \(limits.maxIdempotencyKeyBytes) bytes")
        }
        guard !key.isEmpty, key.utf8.count <= limits.maxIdempotencyKeyBytes else {
            throw WireError(
                .invalidMessage,
                "header.idempotency_key must be 1 to \(limits.maxIdempotencyKeyBytes) bytes, got \(key.utf8.count)",
                details: ["field": "idempotency_key", "limit": .int(Int64(limits.maxIdempotencyKeyBytes))]
            )
        }
        var deadline: Int?
        if let value = message.header["deadline_ms"], !value.isNull {
            guard let milliseconds = value.intValue, milliseconds > 0, milliseconds <= 86_400_000 else {
                throw WireError(
                    .invalidMessage, "header.deadline_ms must be an integer from 1 to 86400000",
                    details: ["field": "deadline_ms"]
                )
            }
            deadline = Int(milliseconds)
        }
        let context = try CallerContext.parse(message.header)
        guard case .object = message.body else {
            throw WireError(
                .invalidMessage, "a COMMAND body must be a JSON object (the contract's input)",
                details: ["frame": "body"])
        }
        self.init(
            requestID: requestID, contract: contract, idempotencyKey: key, deadlineMs: deadline, context: context,
            payload: message.body)
        canonicalPayload = message.canonicalBody
    }
}

/// Checks shared by every request header.
public enum HeaderField {
    public static func requestID(_ header: JSONObject, limits: ProtocolLimits) throws(WireError) -> String {
        guard let id = header["request_id"]?.stringValue else {
            throw missing("request_id", "a non-empty string of at most \(limits.maxRequestIDBytes) bytes")
        }
        guard !id.isEmpty, id.utf8.count <= limits.maxRequestIDBytes else {
            throw WireError(
                .invalidMessage, "header.request_id must be 1 to \(limits.maxRequestIDBytes) bytes",
                details: ["field": "request_id", "limit": .int(Int64(limits.maxRequestIDBytes))]
            )
        }
        return id
    }

    /// The optional `request_id` of `HELLO`, `PING` and `STATS`: absent is nil; present, it must
    /// be valid like everywhere else (never truncated, never echoed empty).
    public static func optionalRequestID(_ header: JSONObject, limits: ProtocolLimits) throws(WireError)
        -> String?
    {
        guard header["request_id"] != nil else { return nil }
        return try requestID(header, limits: limits)
    }

    static func missing(_ field: String, _ expected: String) -> WireError {
        WireError(
            .invalidMessage, "header.\(field) is missing or not a string; expected \(expected)",
            details: ["field": .string(field)])
    }
}

extension CommandRequest {
    /// A `COMMAND` as the clients write it, read in one pass over its header's bytes: the frames
    /// after the delimiter, a header without whitespace whose members are among `contract`,
    /// `deadline_ms`, `idempotency_key` and `request_id` (each at most once, strings without
    /// escapes, `deadline_ms` a plain positive integer), and a body that is a JSON object. No
    /// header object is built, no member name becomes a String, nothing is sorted.
    ///
    /// Nil for anything else — including every request that is wrong. The general reading
    /// (``WireMessage/init(frames:limits:)``, then ``init(_:limits:)``) takes those and refuses the
    /// wrong ones with the error that names the problem. This path never decides an error, so the
    /// two accept the same requests and read them to the same values (a test holds them to it).
    public init?(plainFrames frames: ArraySlice<[UInt8]>, limits: ProtocolLimits) {
        let first = frames.startIndex
        guard frames.count == 4, frames[first] == WireMessage.protocolTag,
            frames[first + 1] == CommandRequest.kindFrame,
            frames[first + 2].count <= limits.maxHeaderBytes, !frames[first + 3].isEmpty,
            frames[first + 3].count <= limits.maxBodyBytes,
            let header = PlainCommandHeader(frames[first + 2]),
            let requestID = header.requestID, !requestID.isEmpty, requestID.utf8.count <= limits.maxRequestIDBytes,
            let contractText = header.contract, let contract = ContractID(contractText),
            let key = header.idempotencyKey, !key.isEmpty, key.utf8.count <= limits.maxIdempotencyKeyBytes,
            let (body, canonical) = try? JSONValue.parsingCanonical(frames[first + 3]), case .object = body
        else { return nil }
        self.init(
            requestID: requestID, contract: contract, idempotencyKey: key, deadlineMs: header.deadlineMs, payload: body)
        if canonical { canonicalPayload = frames[first + 3] }
    }
}

/// The members of a plain `COMMAND` header (see ``CommandRequest/init(plainFrames:limits:)``).
struct PlainCommandHeader {
    var contract: String?
    var deadlineMs: Int?
    var idempotencyKey: String?
    var requestID: String?

    private static let names: [[UInt8]] = ["contract", "deadline_ms", "idempotency_key", "request_id"].map {
        Array($0.utf8)
    }

    /// Nil unless `bytes` is `{"name":value,…}` exactly as described above.
    init?(_ bytes: [UInt8]) {
        let read: Bool = bytes.withUnsafeBufferPointer { header in
            var reader = PlainReader(bytes: header)
            guard reader.take(UInt8(ascii: "{")) else { return false }
            if reader.take(UInt8(ascii: "}")) { return reader.atEnd }
            var seen: UInt8 = 0  // a bit per name
            while true {
                guard let name = reader.plainString(), reader.take(UInt8(ascii: ":")),
                    let member = PlainCommandHeader.names.firstIndex(where: { $0.elementsEqual(name) }),
                    seen & (1 << member) == 0
                else { return false }
                seen |= 1 << member
                if member == 1 {
                    guard let value = reader.positiveInteger(atMost: 86_400_000) else { return false }
                    deadlineMs = value
                } else {
                    guard let value = reader.plainString(), let text = UTF8Text.string(value) else { return false }
                    switch member {
                    case 0: contract = text
                    case 2: idempotencyKey = text
                    default: requestID = text
                    }
                }
                if reader.take(UInt8(ascii: ",")) { continue }
                return reader.take(UInt8(ascii: "}")) && reader.atEnd
            }
        }
        guard read else { return nil }
    }
}
