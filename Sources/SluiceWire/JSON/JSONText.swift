/// The text of one JSON document, checked to be one that ``JSONValue/init(parsing:)`` accepts,
/// and built into a ``JSONValue`` only when asked.
///
/// For what is received in bulk and often only passed on, stored or looked into in part — a
/// `REPLAY`'s event, a live event's body: checking the text costs a pass over its bytes; building
/// the value costs an allocation per string, array and object in it.
public struct JSONText: Sendable {
    /// The document as received.
    public let bytes: [UInt8]
    /// Whether `bytes` already are the value's ``JSONValue/canonicalBytes()``; never claimed
    /// wrongly, may be missed (as ``JSONValue/parsingCanonical(_:)`` tells it).
    public let isCanonical: Bool

    /// From bytes the parser has checked.
    init(checked bytes: [UInt8], isCanonical: Bool) {
        self.bytes = bytes
        self.isCanonical = isCanonical
    }

    /// The document's value, built on each call.
    public func value() -> JSONValue {
        do {
            return try JSONValue(parsing: bytes)
        } catch {
            // The check at init throws wherever the parser does (JSONTextTests holds them to it).
            preconditionFailure("JSON text that was checked does not parse: \(error)")
        }
    }

    /// The value's canonical encoding: `bytes` when they already are.
    public func canonicalBytes() -> [UInt8] { isCanonical ? bytes : value().canonicalBytes() }
}
