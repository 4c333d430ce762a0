/// Writes one JSON object in canonical form straight to bytes, for hot paths (replies, events)
/// where building a `JSONValue` dictionary only to sort and encode it would cost more than the
/// work it describes. Members must be added in canonical key order (UTF-8 byte order); debug
/// builds check it.
///
/// Member names are literals (`StaticString`): they are copied as they are, with no scan for
/// characters to escape, so they must be plain names (no `"`, `\` or control characters; debug
/// builds check). A name known only at run time (a table's) goes through
/// ``integers(named:_:)``, which escapes it.
public struct CanonicalObjectWriter {
    public private(set) var bytes: [UInt8]
    private var empty = true
    #if DEBUG
        private var lastKey: String?
    #endif

    public init(capacity: Int = 128) {
        // Reserved before the first byte: one allocation, not one for `{` and another to grow.
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// The object written after `start` in one buffer (``finish()`` returns both): for an object
    /// that goes inside another, whose beginning is already encoded. `capacity` counts `start`.
    public init(after start: [UInt8], capacity: Int) {
        bytes = []
        bytes.reserveCapacity(max(capacity, start.count + 2))
        bytes.append(contentsOf: start)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ key: StaticString) {
        #if DEBUG
            let name = key.description
            assert(
                !name.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") },
                "member name needs escaping: \(name)")
            checkOrder(name)
        #endif
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func key(named key: String) {
        #if DEBUG
            checkOrder(key)
        #endif
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        JSONValue.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    #if DEBUG
        private mutating func checkOrder(_ key: String) {
            assert(
                lastKey.map { JSONValue.utf8Precedes($0, key) } ?? true,
                "keys out of canonical order: \(lastKey ?? "") ≥ \(key)")
            lastKey = key
        }
    #endif

    public mutating func string(_ name: StaticString, _ value: String) {
        key(name)
        JSONValue.appendString(value, to: &bytes)
    }

    /// A string member whose value's UTF-8 encoding is `utf8` (which must be valid UTF-8).
    public mutating func string(_ name: StaticString, utf8: UnsafeBufferPointer<UInt8>) {
        key(name)
        JSONValue.appendString(utf8: utf8, to: &bytes)
    }

    public mutating func int(_ name: StaticString, _ value: Int64) {
        key(name)
        JSONValue.appendInteger(value, to: &bytes)
    }

    /// A member whose value is an array of integers: `"name":[1,2]`.
    public mutating func integers(_ name: StaticString, _ values: [Int64]) {
        key(name)
        array(values, JSONValue.appendInteger)
    }

    /// Like ``integers(_:_:)`` for a name known only at run time (escaped as needed).
    public mutating func integers(named name: String, _ values: [Int64]) {
        key(named: name)
        array(values, JSONValue.appendInteger)
    }

    /// A member whose value is an array of strings: `"name":["a","b"]`.
    public mutating func strings(_ name: StaticString, _ values: [String]) {
        key(name)
        array(values, JSONValue.appendString)
    }

    private mutating func array<Element>(_ values: [Element], _ append: (Element, inout [UInt8]) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (position, value) in values.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            append(value, &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func bool(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func double(_ name: StaticString, _ value: Double) {
        key(name)
        JSONValue.appendDouble(value, to: &bytes)
    }

    public mutating func value(_ name: StaticString, _ value: JSONValue) {
        key(name)
        value.append(to: &bytes)
    }

    /// A member whose value is already canonical JSON.
    public mutating func raw(_ name: StaticString, _ encoded: [UInt8]) {
        key(name)
        bytes.append(contentsOf: encoded)
    }

    /// A member whose value is already canonical JSON, part of a larger buffer.
    public mutating func raw(_ name: StaticString, _ encoded: ArraySlice<UInt8>) {
        key(name)
        bytes.append(contentsOf: encoded)
    }

    /// A member whose value is already canonical JSON, from bytes someone else holds.
    public mutating func raw(_ name: StaticString, _ encoded: UnsafeBufferPointer<UInt8>) {
        key(name)
        bytes.append(contentsOf: encoded)
    }

    public mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}
