/// Writes one JSON object in canonical form straight to bytes, for hot paths (replies, events)
/// where building a `JSONValue` dictionary only to sort and encode it would cost more than the
/// work it describes. Members must be added in canonical key order (UTF-8 byte order); debug
/// builds check it.
public struct CanonicalObjectWriter {
    public private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var empty = true
    #if DEBUG
        private var lastKey: String?
    #endif

    public init(capacity: Int = 128) { bytes.reserveCapacity(capacity) }

    private mutating func key(_ key: String) {
        #if DEBUG
            assert(
                lastKey.map { JSONValue.utf8Precedes($0, key) } ?? true,
                "keys out of canonical order: \(lastKey ?? "") ≥ \(key)")
            lastKey = key
        #endif
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
        JSONValue.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func string(_ name: String, _ value: String) {
        key(name)
        JSONValue.appendString(value, to: &bytes)
    }

    public mutating func int(_ name: String, _ value: Int64) {
        key(name)
        JSONValue.appendInteger(value, to: &bytes)
    }

    /// A member whose value is an array of integers: `"name":[1,2]`.
    public mutating func integers(_ name: String, _ values: [Int64]) {
        array(name, values, JSONValue.appendInteger)
    }

    /// A member whose value is an array of strings: `"name":["a","b"]`.
    public mutating func strings(_ name: String, _ values: [String]) {
        array(name, values, JSONValue.appendString)
    }

    private mutating func array<Element>(
        _ name: String, _ values: [Element], _ append: (Element, inout [UInt8]) -> Void
    ) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (position, value) in values.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            append(value, &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    public mutating func bool(_ name: String, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func double(_ name: String, _ value: Double) {
        key(name)
        JSONValue.appendDouble(value, to: &bytes)
    }

    public mutating func value(_ name: String, _ value: JSONValue) {
        key(name)
        value.append(to: &bytes)
    }

    /// A member whose value is already canonical JSON.
    public mutating func raw(_ name: String, _ encoded: [UInt8]) {
        key(name)
        bytes.append(contentsOf: encoded)
    }

    public mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }
}
