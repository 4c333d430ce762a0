/// Who a request is ultimately for, beyond the identity that sends it: a W3C `traceparent` and a
/// `tenant`, both optional request header fields (protocol.md §2.3). They travel into the command
/// log, the audit events and the broker's logs, so one action can be followed across plugins.
public struct CallerContext: Sendable, Equatable {
    /// `version-traceid-parentid-flags` (W3C Trace Context), e.g.
    /// `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
    public var traceparent: String?
    /// The tenant the request acts for: 1 to 128 bytes of printable text.
    public var tenant: String?

    public init(traceparent: String? = nil, tenant: String? = nil) {
        self.traceparent = traceparent
        self.tenant = tenant
    }

    public var isEmpty: Bool { traceparent == nil && tenant == nil }

    /// Reads the optional `traceparent` and `tenant` header fields; nil when neither is there.
    public static func parse(_ header: JSONObject) throws(WireError) -> CallerContext? {
        var context = CallerContext()
        if let value = header["traceparent"], !value.isNull {
            guard let text = value.stringValue, isTraceparent(text) else {
                throw WireError(
                    .invalidMessage,
                    "header.traceparent must be a W3C traceparent: 2 hex version (not ff), 32 hex trace id, 16 hex parent id, 2 hex flags, lowercase, '-'-separated, ids not all zero",
                    details: ["field": "traceparent"])
            }
            context.traceparent = text
        }
        if let value = header["tenant"], !value.isNull {
            guard let text = value.stringValue, !text.isEmpty, text.utf8.count <= 128,
                !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else {
                throw WireError(
                    .invalidMessage, "header.tenant must be 1 to 128 bytes of text without control characters",
                    details: ["field": "tenant"])
            }
            context.tenant = text
        }
        return context.isEmpty ? nil : context
    }

    /// `00-<32 hex>-<16 hex>-<2 hex>`, lowercase; a later version may append `-…` after that.
    public static func isTraceparent(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 55 || (bytes.count > 55 && bytes[55] == UInt8(ascii: "-")) else { return false }
        func hex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        }
        func zeros(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == 0x30 } }
        guard hex(0..<2), hex(3..<35), hex(36..<52), hex(53..<55),
            bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-")
        else { return false }
        let version = String(decoding: bytes[0..<2], as: UTF8.self)
        guard version != "ff", !zeros(3..<35), !zeros(36..<52) else { return false }
        return version != "00" || bytes.count == 55
    }

    /// Adds the fields to a request header.
    public func write(into header: inout JSONObject) {
        if let traceparent { header["traceparent"] = .string(traceparent) }
        if let tenant { header["tenant"] = .string(tenant) }
    }

    /// `{"tenant": …, "traceparent": …}` (present fields only), as the command log stores it.
    public var json: JSONValue {
        var header = JSONObject()
        write(into: &header)
        return .object(header)
    }

    /// Reads what ``json`` wrote (nil for anything else).
    public init?(json: JSONValue) {
        guard let members = json.objectMembers else { return nil }
        self.init(traceparent: members["traceparent"]?.stringValue, tenant: members["tenant"]?.stringValue)
        if isEmpty { return nil }
    }
}
