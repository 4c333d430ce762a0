#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A JSON document as the wire carries it: the one representation the broker, the client and the
/// hashing of idempotent payloads agree on.
///
/// Integers and floating-point numbers stay distinct (`1` is not `1.0`) so a payload round-trips
/// without drift, and objects keep their members sorted by key so the canonical encoding needs no
/// extra pass. Strings and member names are equal when their code points are (`"é"` is not
/// `"e\u{301}"`), unlike Swift's `String ==`.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
    /// A number JSON allows that neither case above holds exactly: an integer beyond 64 bits, or
    /// a number whose double would overflow or underflow to zero (`1e400`, `-1e-400`). The text
    /// is ``ExactNumber/canonicalText``. Valid JSON; a contract refuses it where it would bind
    /// to SQL, since SQLite stores neither.
    case decimal(String)

    /// An object from a Swift dictionary (for building values in code).
    public static func object(_ members: [String: JSONValue]) -> JSONValue { .object(JSONObject(members)) }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): sameCodePoints(a, b)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        case (.decimal(let a), .decimal(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .int(let value): hasher.combine(value)
        case .double(let value): hasher.combine(value)
        case .string(let value): JSONValue.hashCodePoints(value, into: &hasher)
        case .array(let items): hasher.combine(items)
        case .object(let members): hasher.combine(members)
        case .decimal(let text): hasher.combine(text)
        }
    }

    /// Equal code points, i.e. equal UTF-8 bytes (not Unicode canonical equivalence).
    public static func sameCodePoints(_ lhs: String, _ rhs: String) -> Bool {
        let count = lhs.utf8.count
        guard count == rhs.utf8.count else { return false }
        // One memcmp over the stored bytes (native strings, small or not, are contiguous UTF-8);
        // the byte-by-byte `elementsEqual` was ~5% of the I/O thread (member names, per request).
        let compared: Bool?? = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                count == 0 || memcmp(left.baseAddress!, right.baseAddress!, count) == 0
            }
        }
        if let compared = compared ?? nil { return compared }
        return lhs.utf8.elementsEqual(rhs.utf8)
    }

    public static func hashCodePoints(_ text: String, into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}

extension JSONValue {
    /// The member named `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The members when this is an object, by exact name.
    public var objectMembers: JSONObject? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var intValue: Int64? {
        switch self {
        case .int(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 9.0e15: return Int64(value)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        case .decimal(let text): return Double(text)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The members as a Swift dictionary (see ``JSONObject/dictionary``: for known names only).
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members.dictionary }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// The JSON type name used in validation errors (`string`, `integer`, `number`, ...).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .decimal(let text): ExactNumber(text: text)?.isInteger == true ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(lastWins: elements))
    }
}

extension JSONValue: CustomStringConvertible {
    public var description: String { String(decoding: canonicalBytes(), as: UTF8.self) }
}
