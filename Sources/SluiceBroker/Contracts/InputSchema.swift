import Foundation
public import SluiceWire

/// A contract's input schema: the documented subset of JSON Schema that Sluice checks at admission.
///
/// Parsed once when the contract loads; a keyword outside the subset is a load error, never
/// silently ignored, so a schema cannot promise a check that does not happen.
public indirect enum InputSchema: Sendable {
    case node(Node)

    public struct Node: Sendable {
        var types: [String]?
        /// By exact name (code points): a Swift dictionary would merge look-alike names.
        var properties: [(name: String, schema: InputSchema)] = []

        func property(named name: String) -> InputSchema? {
            properties.first { JSONValue.sameCodePoints($0.name, name) }?.schema
        }
        var required: [String] = []
        var additionalProperties = true
        var enumValues: [JSONValue]?
        var minLength: Int?
        var maxLength: Int?
        var minimum: ExactNumber?
        var maximum: ExactNumber?
        var items: InputSchema?
        var maxItems: Int?
        var minItems: Int?
        var constValue: JSONValue?
        var pattern: SchemaPattern?
        var format: Format?
    }

    /// The `format` values that are checked (others are refused at load).
    enum Format: String, Sendable {
        case dateTime = "date-time"
        case uuid

        func accepts(_ text: String) -> Bool {
            switch self {
            case .uuid: InputSchema.isUUID(text)
            case .dateTime: InputSchema.isDateTime(text)
            }
        }
    }

    static let knownKeywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "enum", "minLength", "maxLength", "minimum",
        "maximum", "items", "maxItems", "minItems", "const", "pattern", "format", "description", "title", "$schema",
        "$id",
    ]
    static let knownTypes: Set<String> = ["object", "array", "string", "integer", "number", "boolean", "null"]

    /// Parses a schema document; `pointer` names where it sits, for error messages.
    public init(_ json: JSONValue, pointer: String = "") throws(ContractError) {
        guard case .object(let members) = json else {
            throw ContractError(file: "", "schema at '\(pointer)' must be an object")
        }
        for key in members.keys where !InputSchema.knownKeywords.contains(key) {
            throw ContractError(file: "", "schema keyword '\(key)' at '\(pointer)' is not supported")
        }
        var node = Node()
        if let type = members["type"] {
            let names = type.stringValue.map { [$0] } ?? type.arrayValue?.compactMap(\.stringValue) ?? []
            guard !names.isEmpty, names.allSatisfy(InputSchema.knownTypes.contains) else {
                throw ContractError(file: "", "schema 'type' at '\(pointer)' must name JSON types")
            }
            node.types = names
        }
        if let properties = members["properties"] {
            guard case .object(let entries) = properties else {
                throw ContractError(file: "", "'properties' at '\(pointer)' must be an object")
            }
            for (name, schema) in entries {
                node.properties.append((name, try InputSchema(schema, pointer: pointer + "/properties/" + name)))
            }
        }
        if let required = members["required"] {
            guard let names = required.arrayValue?.compactMap(\.stringValue), names.count == required.arrayValue?.count
            else {
                throw ContractError(file: "", "'required' at '\(pointer)' must be an array of strings")
            }
            node.required = names
        }
        if let additional = members["additionalProperties"] {
            guard let flag = additional.boolValue else {
                throw ContractError(file: "", "'additionalProperties' at '\(pointer)' must be true or false")
            }
            node.additionalProperties = flag
        }
        if let values = members["enum"] {
            guard let list = values.arrayValue, !list.isEmpty else {
                throw ContractError(file: "", "'enum' at '\(pointer)' must be a non-empty array")
            }
            node.enumValues = list
        }
        node.minLength = try InputSchema.count(members["minLength"], "minLength", pointer)
        node.maxLength = try InputSchema.count(members["maxLength"], "maxLength", pointer)
        node.maxItems = try InputSchema.count(members["maxItems"], "maxItems", pointer)
        node.minItems = try InputSchema.count(members["minItems"], "minItems", pointer)
        node.constValue = members["const"]
        if let pattern = members["pattern"] {
            guard let text = pattern.stringValue else {
                throw ContractError(file: "", "'pattern' at '\(pointer)' must be a string")
            }
            do {
                node.pattern = try SchemaPattern(text)
            } catch {
                throw ContractError(
                    file: "", "'pattern' at '\(pointer)' is not a supported ECMA-262 regular expression: \(error)")
            }
        }
        if let format = members["format"] {
            guard let name = format.stringValue, let parsed = Format(rawValue: name) else {
                throw ContractError(file: "", "'format' at '\(pointer)' must be \"date-time\" or \"uuid\"")
            }
            node.format = parsed
        }
        if let minimum = members["minimum"] {
            guard let value = ExactNumber(minimum) else {
                throw ContractError(file: "", "'minimum' at '\(pointer)' must be a number")
            }
            node.minimum = value
        }
        if let maximum = members["maximum"] {
            guard let value = ExactNumber(maximum) else {
                throw ContractError(file: "", "'maximum' at '\(pointer)' must be a number")
            }
            node.maximum = value
        }
        if let items = members["items"] { node.items = try InputSchema(items, pointer: pointer + "/items") }
        self = .node(node)
    }

    private static func count(_ value: JSONValue?, _ keyword: String, _ pointer: String) throws(ContractError) -> Int? {
        guard let value else { return nil }
        guard let number = value.intValue, number >= 0 else {
            throw ContractError(file: "", "'\(keyword)' at '\(pointer)' must be a non-negative integer")
        }
        return Int(number)
    }

    /// One failed rule: where (a JSON pointer into the input) and which keyword.
    public struct Violation: Sendable, Equatable, CustomStringConvertible {
        public var pointer: String
        public var rule: String
        public var message: String
        public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(message)" }
        public var json: JSONValue {
            ["pointer": .string(pointer), "rule": .string(rule), "message": .string(message)]
        }
    }

    /// Whether `value` is valid. Allocates nothing, so admission pays for error details only
    /// when there is an error to describe.
    public func accepts(_ value: JSONValue) -> Bool {
        guard case .node(let node) = self else { return true }
        if let types = node.types, !types.contains(where: { InputSchema.matches(value, type: $0) }) { return false }
        if let allowed = node.enumValues, !allowed.contains(where: { InputSchema.equal($0, value) }) { return false }
        if let constant = node.constValue, !InputSchema.equal(constant, value) { return false }
        switch value {
        case .object(let members):
            for name in node.required where members[name] == nil { return false }
            for (name, member) in members {
                if let schema = node.property(named: name) {
                    if !schema.accepts(member) { return false }
                } else if !node.additionalProperties {
                    return false
                }
            }
        case .string(let text):
            if node.minLength != nil || node.maxLength != nil {
                let length = text.unicodeScalars.count
                if let minLength = node.minLength, length < minLength { return false }
                if let maxLength = node.maxLength, length > maxLength { return false }
            }
            if let pattern = node.pattern, !pattern.matches(text) { return false }
            if let format = node.format, !format.accepts(text) { return false }
        case .int, .double, .decimal:
            // Exact decimal comparison: no rounding through Double (see ExactNumber).
            guard node.minimum != nil || node.maximum != nil, let number = ExactNumber(value) else { break }
            if let minimum = node.minimum, number < minimum { return false }
            if let maximum = node.maximum, number > maximum { return false }
        case .array(let items):
            if let maxItems = node.maxItems, items.count > maxItems { return false }
            if let minItems = node.minItems, items.count < minItems { return false }
            if let itemSchema = node.items, !items.allSatisfy(itemSchema.accepts) { return false }
        default:
            break
        }
        return true
    }

    /// Every rule `value` breaks (empty when it is valid), each with the JSON pointer of the
    /// offending value.
    public func violations(of value: JSONValue, at pointer: String = "") -> [Violation] {
        guard case .node(let node) = self else { return [] }
        var found: [Violation] = []
        if let types = node.types, !types.contains(where: { InputSchema.matches(value, type: $0) }) {
            // Reported with every other rule the value breaks (the value-specific ones below
            // apply only to their own type, so they add nothing misleading).
            found.append(
                Violation(
                    pointer: pointer, rule: "type",
                    message: "expected \(types.joined(separator: " or ")), got \(value.typeName)"))
        }
        if let allowed = node.enumValues, !allowed.contains(where: { InputSchema.equal($0, value) }) {
            found.append(
                Violation(pointer: pointer, rule: "enum", message: "must be one of \(JSONValue.array(allowed))"))
        }
        if let constant = node.constValue, !InputSchema.equal(constant, value) {
            found.append(Violation(pointer: pointer, rule: "const", message: "must be \(constant)"))
        }
        switch value {
        case .object(let members):
            for name in node.required where members[name] == nil {
                found.append(
                    Violation(
                        pointer: pointer + "/" + InputSchema.escape(name), rule: "required", message: "is required"))
            }
            for (name, member) in members {  // in UTF-8 order of the names
                let memberPointer = pointer + "/" + InputSchema.escape(name)
                if let schema = node.property(named: name) {
                    found += schema.violations(of: member, at: memberPointer)
                } else if !node.additionalProperties {
                    found.append(
                        Violation(pointer: memberPointer, rule: "additionalProperties", message: "is not allowed"))
                }
            }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let minLength = node.minLength, length < minLength {
                found.append(
                    Violation(
                        pointer: pointer, rule: "minLength", message: "must have at least \(minLength) characters"))
            }
            if let maxLength = node.maxLength, length > maxLength {
                found.append(
                    Violation(pointer: pointer, rule: "maxLength", message: "must have at most \(maxLength) characters")
                )
            }
            if let pattern = node.pattern, !pattern.matches(text) {
                found.append(Violation(pointer: pointer, rule: "pattern", message: "must match \(pattern.source)"))
            }
            if let format = node.format, !format.accepts(text) {
                found.append(Violation(pointer: pointer, rule: "format", message: "must be a \(format.rawValue)"))
            }
        case .int, .double, .decimal:
            guard node.minimum != nil || node.maximum != nil, let number = ExactNumber(value) else { break }
            if let minimum = node.minimum, number < minimum {
                found.append(Violation(pointer: pointer, rule: "minimum", message: "must be ≥ \(minimum.canonicalText)"))
            }
            if let maximum = node.maximum, number > maximum {
                found.append(Violation(pointer: pointer, rule: "maximum", message: "must be ≤ \(maximum.canonicalText)"))
            }
        case .array(let items):
            if let maxItems = node.maxItems, items.count > maxItems {
                found.append(
                    Violation(pointer: pointer, rule: "maxItems", message: "must have at most \(maxItems) items"))
            }
            if let minItems = node.minItems, items.count < minItems {
                found.append(
                    Violation(pointer: pointer, rule: "minItems", message: "must have at least \(minItems) items"))
            }
            if let itemSchema = node.items {
                for (index, item) in items.enumerated() {
                    found += itemSchema.violations(of: item, at: pointer + "/\(index)")
                }
            }
        default:
            break
        }
        return found
    }

    /// Equality as JSON Schema defines it for `enum` and `const`: numbers by their value (`1` and
    /// `1.0` are equal), strings and member names by their code points, arrays item by item,
    /// objects member by member.
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.int, .int), (.int, .double), (.double, .int), (.double, .double), (.int, .decimal), (.decimal, .int),
            (.double, .decimal), (.decimal, .double), (.decimal, .decimal):
            return ExactNumber(lhs) == ExactNumber(rhs)
        case (.array(let left), .array(let right)):
            return left.count == right.count && zip(left, right).allSatisfy { equal($0, $1) }
        case (.object(let left), .object(let right)):
            return left.count == right.count
                && zip(left.members, right.members).allSatisfy {
                    JSONValue.sameCodePoints($0.name, $1.name) && equal($0.value, $1.value)
                }
        default:
            return lhs == rhs
        }
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null),
            ("integer", .int), ("number", .int), ("number", .double), ("number", .decimal):
            true
        case ("integer", .double(let number)):
            number.rounded() == number
        case ("integer", .decimal(let text)):
            ExactNumber(text: text)?.isInteger == true
        default:
            false
        }
    }

    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
