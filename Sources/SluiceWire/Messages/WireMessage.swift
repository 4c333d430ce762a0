/// One Sluice message after the routing envelope: `SLU1`, kind, header (JSON object), body (JSON).
public struct WireMessage: Sendable, Equatable {
    /// The protocol tag, first frame of every message of protocol version 1.
    public static let protocolTag: [UInt8] = Array("SLU1".utf8)
    public static let protocolVersion = 1

    public var kind: MessageKind
    /// The header's members, sorted by name: read by name without hashing a String (a request
    /// has three to six of them).
    public var header: JSONObject
    public var body: JSONValue
    /// The body frame as it came, when it already was `body`'s canonical encoding (what the
    /// Swift and C clients send): kept so the broker hashes and logs those bytes instead of
    /// encoding the body again. Nil for a message made in code or a body sent otherwise. Not part
    /// of equality: it is the same value either way.
    public var canonicalBody: [UInt8]?

    public static func == (lhs: WireMessage, rhs: WireMessage) -> Bool {
        lhs.kind == rhs.kind && lhs.header == rhs.header && lhs.body == rhs.body
    }

    public init(kind: MessageKind, header: [String: JSONValue] = [:], body: JSONValue = .object([:])) {
        self.init(kind: kind, header: JSONObject(header), body: body)
    }

    public init(kind: MessageKind, header: JSONObject, body: JSONValue = .object([:])) {
        self.kind = kind
        self.header = header
        self.body = body
    }

    /// The request id a reply must echo, when the header carries a usable one.
    public var requestID: String? { header["request_id"]?.stringValue }

    /// The four frames that follow the empty delimiter on the wire.
    public func frames() -> [[UInt8]] {
        [
            WireMessage.protocolTag, Array(kind.rawValue.utf8), JSONValue.object(header).canonicalBytes(),
            body.canonicalBytes(),
        ]
    }

    /// Decodes the frames that follow the empty delimiter, checking the shape and the limits.
    public init(frames: [[UInt8]], limits: ProtocolLimits = ProtocolLimits()) throws(WireError) {
        self = try ReceivedMessage(frames: frames[...], limits: limits).decoded()
    }

    /// The same, on the frames after the envelope of a message as received, without copying them.
    public init(frames: ArraySlice<[UInt8]>, limits: ProtocolLimits = ProtocolLimits()) throws(WireError) {
        self = try ReceivedMessage(frames: frames, limits: limits).decoded()
    }
}

/// A message whose shape, kind and header are checked and decoded, and whose body is still the
/// frame it came in. A client's socket thread, which every reply passes through, reads only what
/// it needs to route a reply (the request id); the task that asked parses the body — and for a
/// `SYNC` page, can ask for the next page before it does.
public struct ReceivedMessage: Sendable {
    public var kind: MessageKind
    public var header: JSONObject
    /// The body frame as received (within `maxBodyBytes`), not yet parsed.
    public var bodyFrame: [UInt8]

    /// The request id a reply echoes, when the header carries one.
    public var requestID: String? { header["request_id"]?.stringValue }

    /// Checks the frames that follow the empty delimiter (their number, the protocol tag, the
    /// kind, the sizes against `limits`) and decodes the header.
    public init(frames: [[UInt8]], limits: ProtocolLimits = ProtocolLimits()) throws(WireError) {
        try self.init(frames: frames[...], limits: limits)
    }

    /// Like ``init(frames:limits:)`` on the frames after the delimiter of a message as received
    /// (`frames.dropFirst()`), without copying them into a new array.
    public init(frames: ArraySlice<[UInt8]>, limits: ProtocolLimits = ProtocolLimits()) throws(WireError) {
        let first = frames.startIndex
        guard frames.count == 4 else {
            throw WireError(
                .invalidMessage,
                "expected 4 frames after the delimiter (tag, kind, header, body), got \(frames.count)",
                details: ["frames": .int(Int64(frames.count))]
            )
        }
        guard frames[first + 0] == WireMessage.protocolTag else {
            throw WireError(
                .invalidMessage,
                "unknown protocol tag; this broker speaks SLU1",
                details: ["expected": "SLU1"]
            )
        }
        guard frames[first + 1].count <= 32, let kindText = UTF8Text.string(frames[first + 1]), !kindText.isEmpty
        else {
            throw WireError(.invalidMessage, "message kind must be a short UTF-8 string")
        }
        guard frames[first + 2].count <= limits.maxHeaderBytes else {
            throw WireError.tooLarge(part: "header", size: frames[first + 2].count, limit: limits.maxHeaderBytes)
        }
        guard frames[first + 3].count <= limits.maxBodyBytes else {
            throw WireError.tooLarge(part: "body", size: frames[first + 3].count, limit: limits.maxBodyBytes)
        }
        kind = MessageKind(rawValue: kindText)
        bodyFrame = frames[first + 3]
        // Every reply the broker writes has this header: read it without the parser.
        if let replyHeader = ReceivedMessage.plainReplyHeader(frames[first + 2]) {
            header = replyHeader
            return
        }
        let header: JSONValue
        do {
            header = try JSONValue(parsing: frames[first + 2])
        } catch {
            throw WireError(.invalidMessage, "header: \(error)", details: ["frame": "header"])
        }
        guard case .object(let headerMembers) = header else {
            throw WireError(.invalidMessage, "header must be a JSON object", details: ["frame": "header"])
        }
        self.header = headerMembers
    }

    private static let requestIDName = Array("request_id".utf8)

    /// `{"request_id":"…"}` with a request id of plain characters (no escape, no control
    /// character, valid UTF-8), as ``WireMessage/replyHeader(requestID:)`` writes it; nil for any
    /// other header, which the parser reads. The same object the parser would make.
    static func plainReplyHeader(_ bytes: [UInt8]) -> JSONObject? {
        bytes.withUnsafeBufferPointer { header -> JSONObject? in
            var reader = PlainReader(bytes: header)
            guard reader.take(UInt8(ascii: "{")), let name = reader.plainString(),
                name.elementsEqual(requestIDName), reader.take(UInt8(ascii: ":")), let id = reader.plainString(),
                reader.take(UInt8(ascii: "}")), reader.atEnd, let text = UTF8Text.string(id)
            else { return nil }
            return JSONObject(sortedMembers: [JSONObject.Member(name: "request_id", value: .string(text))])
        }
    }

    /// The whole message, its body parsed (an empty frame is the empty object).
    public func decoded() throws(WireError) -> WireMessage {
        var message = WireMessage(kind: kind, header: header)
        guard !bodyFrame.isEmpty else { return message }
        do {
            let (body, canonical) = try JSONValue.parsingCanonical(bodyFrame)
            message.body = body
            if canonical { message.canonicalBody = bodyFrame }
        } catch {
            throw WireError(.invalidMessage, "body: \(error)", details: ["frame": "body"])
        }
        return message
    }
}

extension WireMessage {
    /// The request id an `ERROR` about `frames` should echo although the message as a whole was
    /// refused (a body that is not acceptable JSON, a kind too long, a body too large): the
    /// header frame's valid `request_id`, when the frames have the request's shape and the header
    /// parses. Nil otherwise.
    public static func echoableRequestID(frames: [[UInt8]], limits: ProtocolLimits = ProtocolLimits()) -> String? {
        guard frames.count == 4, frames[0] == protocolTag, frames[2].count <= limits.maxHeaderBytes,
            case .object(let header)? = try? JSONValue(parsing: frames[2])
        else { return nil }
        return try? HeaderField.requestID(header, limits: limits)
    }

    /// The frames of a reply (after the envelope), with the request id as the only header field.
    public static func replyFrames(_ kind: MessageKind, requestID: String?, body: JSONValue) -> [[UInt8]] {
        replyFrames(kind, requestID: requestID, encodedBody: body.canonicalBytes())
    }

    /// Reply frames around a body that is already canonical JSON.
    public static func replyFrames(_ kind: MessageKind, requestID: String?, encodedBody: [UInt8]) -> [[UInt8]] {
        [protocolTag, Array(kind.rawValue.utf8), replyHeader(requestID: requestID), encodedBody]
    }

    /// A reply's header frame: the request id as its only field (`{}` without one). Many replies
    /// to one request (a `SYNC` page's `REPLAY`s) can share one.
    public static func replyHeader(requestID: String?) -> [UInt8] {
        var header: [UInt8] = [UInt8(ascii: "{")]
        if let requestID {
            header.append(contentsOf: #""request_id":"#.utf8)
            JSONValue.appendString(requestID, to: &header)
        }
        header.append(UInt8(ascii: "}"))
        return header
    }
}
