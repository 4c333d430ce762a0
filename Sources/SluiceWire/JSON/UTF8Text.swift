/// Strings from bytes that must be valid UTF-8, for the parsers on the request path.
///
/// The standard library's `String(validating:as:)` is generic and unspecialized: each call looks
/// up type metadata at run time, which a profile of the broker's I/O thread showed costing as
/// much as the validation itself (≈4% of that thread, several strings per request). Text that is
/// all ASCII — member names, ids, keys, almost every value — needs no check at all; other text is
/// decoded (which repairs) and kept only if the repair changed nothing.
public enum UTF8Text {
    /// The string of `bytes`, or nil when they are not valid UTF-8.
    public static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var ascii = true
        for byte in bytes where byte >= 0x80 {
            ascii = false
            break
        }
        let text = String(decoding: bytes, as: UTF8.self)
        if ascii { return text }
        return text.utf8.elementsEqual(bytes) ? text : nil
    }

    /// The string of `bytes`, or nil when they are not valid UTF-8.
    public static func string(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { string($0) }
    }
}
