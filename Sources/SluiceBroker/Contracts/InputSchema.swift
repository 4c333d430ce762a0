import Foundation
public import SluiceWire

/// A contract's input schema: the documented subset of JSON Schema that Sluice checks at admission.
///
/// Parsed once when the contract loads; a keyword outside the subset is a load error, never
/// silently ignored, so a schema cannot promise a check that does not happen.
public struct InputSchema: Sendable {
    /// The schema compiled once at load: a tree of immutable nodes shared by every copy of the
    /// contract (a lookup copies one reference, not the tree).
    let node: Node

    /// The JSON types a `type` keyword names, as bits: checking a value's type is one AND, not a
    /// comparison of type names.
    struct Types: OptionSet, Sendable {
        let rawValue: UInt8
        static let object = Types(rawValue: 1 << 0)
        static let array = Types(rawValue: 1 << 1)
        static let string = Types(rawValue: 1 << 2)
        static let integer = Types(rawValue: 1 << 3)
        static let number = Types(rawValue: 1 << 4)
        static let boolean = Types(rawValue: 1 << 5)
        static let null = Types(rawValue: 1 << 6)

        static let byName: [(name: String, type: Types)] = [
            ("object", .object), ("array", .array), ("string", .string), ("integer", .integer),
            ("number", .number), ("boolean", .boolean), ("null", .null),
        ]

        /// Whether `value` is of one of these types. An integral double (`2.0`) and an integer
        /// beyond 64 bits count as `integer`, as JSON Schema says.
        func admit(_ value: JSONValue) -> Bool {
            switch value {
            case .object: contains(.object)
            case .array: contains(.array)
            case .string: contains(.string)
            case .bool: contains(.boolean)
            case .null: contains(.null)
            case .int: !isDisjoint(with: [.integer, .number])
            case .double(let number): contains(.number) || (contains(.integer) && number.rounded() == number)
            case .decimal(let text): contains(.number) || (contains(.integer) && ExactNumber(text: text)?.isInteger == true)
            }
        }
    }

    /// One schema object's keywords.
    final class Node: Sendable {
        /// As written (for messages); nil: any type.
        let typeNames: [String]?
        let types: Types?
        /// In UTF-8 order of their names, as an object's members are: matched in one merge walk,
        /// by exact bytes (code points), never through a dictionary that would merge look-alike names.
        let properties: [(name: String, schema: InputSchema)]
        /// As written (violations are listed in this order)…
        let required: [String]
        /// …and in UTF-8 order, checked in the same kind of walk.
        let requiredInOrder: [String]
        let additionalProperties: Bool
        let enumValues: [JSONValue]?
        let minLength: Int?
        let maxLength: Int?
        let minimum: ExactNumber?
        let maximum: ExactNumber?
        let exclusiveMinimum: ExactNumber?
        let exclusiveMaximum: ExactNumber?
        let multipleOf: ExactNumber?
        /// Whether any of the five number keywords is set (numbers are made exact only then).
        let checksNumbers: Bool
        let items: InputSchema?
        let maxItems: Int?
        let minItems: Int?
        let constValue: JSONValue?
        let pattern: SchemaPattern?
        let format: Format?

        /// Parses a schema document; `pointer` names where it sits, for error messages.
        init(_ json: JSONValue, pointer: String) throws(ContractError) {
            guard case .object(let members) = json else {
                throw ContractError(file: "", "schema at '\(pointer)' must be an object")
            }
            for key in members.keys where !InputSchema.knownKeywords.contains(key) {
                throw ContractError(file: "", "schema keyword '\(key)' at '\(pointer)' is not supported")
            }
            if let type = members["type"] {
                let names = type.stringValue.map { [$0] } ?? type.arrayValue?.compactMap(\.stringValue) ?? []
                let bits = names.compactMap { name in Types.byName.first { $0.name == name }?.type }
                guard !names.isEmpty, bits.count == names.count else {
                    throw ContractError(file: "", "schema 'type' at '\(pointer)' must name JSON types")
                }
                typeNames = names
                types = Types(bits)
            } else {
                typeNames = nil
                types = nil
            }
            if let properties = members["properties"] {
                guard case .object(let entries) = properties else {
                    throw ContractError(file: "", "'properties' at '\(pointer)' must be an object")
                }
                var compiled: [(name: String, schema: InputSchema)] = []
                for (name, schema) in entries {  // in UTF-8 order of the names (JSONObject's order)
                    compiled.append((name, try InputSchema(schema, pointer: pointer + "/properties/" + name)))
                }
                // (JSONObject keeps its members in this order already; sorted here so the walk
                // does not depend on that.)
                self.properties = compiled.sorted { JSONValue.utf8Precedes($0.name, $1.name) }
            } else {
                self.properties = []
            }
            if let required = members["required"] {
                guard let names = required.arrayValue?.compactMap(\.stringValue), names.count == required.arrayValue?.count
                else {
                    throw ContractError(file: "", "'required' at '\(pointer)' must be an array of strings")
                }
                self.required = names
                requiredInOrder = names.sorted(by: JSONValue.utf8Precedes)
            } else {
                self.required = []
                requiredInOrder = []
            }
            if let additional = members["additionalProperties"] {
                guard let flag = additional.boolValue else {
                    throw ContractError(file: "", "'additionalProperties' at '\(pointer)' must be true or false")
                }
                additionalProperties = flag
            } else {
                additionalProperties = true
            }
            if let values = members["enum"] {
                guard let list = values.arrayValue, !list.isEmpty else {
                    throw ContractError(file: "", "'enum' at '\(pointer)' must be a non-empty array")
                }
                enumValues = list
            } else {
                enumValues = nil
            }
            minLength = try InputSchema.count(members["minLength"], "minLength", pointer)
            maxLength = try InputSchema.count(members["maxLength"], "maxLength", pointer)
            maxItems = try InputSchema.count(members["maxItems"], "maxItems", pointer)
            minItems = try InputSchema.count(members["minItems"], "minItems", pointer)
            constValue = members["const"]
            if let pattern = members["pattern"] {
                guard let text = pattern.stringValue else {
                    throw ContractError(file: "", "'pattern' at '\(pointer)' must be a string")
                }
                do {
                    self.pattern = try SchemaPattern(text)
                } catch {
                    throw ContractError(
                        file: "", "'pattern' at '\(pointer)' is not a supported ECMA-262 regular expression: \(error)")
                }
            } else {
                self.pattern = nil
            }
            if let format = members["format"] {
                guard let name = format.stringValue, let parsed = Format(rawValue: name) else {
                    throw ContractError(file: "", "'format' at '\(pointer)' must be \"date-time\" or \"uuid\"")
                }
                self.format = parsed
            } else {
                self.format = nil
            }
            minimum = try InputSchema.number(members["minimum"], "minimum", pointer)
            maximum = try InputSchema.number(members["maximum"], "maximum", pointer)
            exclusiveMinimum = try InputSchema.number(members["exclusiveMinimum"], "exclusiveMinimum", pointer)
            exclusiveMaximum = try InputSchema.number(members["exclusiveMaximum"], "exclusiveMaximum", pointer)
            multipleOf = try InputSchema.number(members["multipleOf"], "multipleOf", pointer)
            if let multipleOf, multipleOf.isMultiple(of: multipleOf) == nil {
                throw ContractError(
                    file: "",
                    "'multipleOf' at '\(pointer)' must be a number above 0 with at most \(ExactNumber.maximumDivisorDigits) significant digits"
                )
            }
            checksNumbers =
                minimum != nil || maximum != nil || exclusiveMinimum != nil || exclusiveMaximum != nil || multipleOf != nil
            items = try members["items"].map { items throws(ContractError) in
                try InputSchema(items, pointer: pointer + "/items")
            }
        }

        /// The schema of the property named exactly `name` (same code points), if any.
        func property(named name: String) -> InputSchema? {
            properties.first { JSONValue.sameCodePoints($0.name, name) }?.schema
        }
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
        "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "items", "maxItems", "minItems", "const",
        "pattern", "format", "description", "title", "$schema", "$id",
    ]

    /// Parses and compiles a schema document; `pointer` names where it sits, for error messages.
    public init(_ json: JSONValue, pointer: String = "") throws(ContractError) {
        node = try Node(json, pointer: pointer)
    }

    private static func number(_ value: JSONValue?, _ keyword: String, _ pointer: String) throws(ContractError)
        -> ExactNumber?
    {
        guard let value else { return nil }
        guard let number = ExactNumber(value) else {
            throw ContractError(file: "", "'\(keyword)' at '\(pointer)' must be a number")
        }
        return number
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
        let node = self.node
        if let types = node.types, !types.admit(value) { return false }
        if let allowed = node.enumValues, !allowed.contains(where: { InputSchema.equal($0, value) }) { return false }
        if let constant = node.constValue, !InputSchema.equal(constant, value) { return false }
        switch value {
        case .object(let object):
            let members = object.members
            // Both lists are in UTF-8 order of the names: one walk over each, one three-way
            // comparison per step.
            if !node.requiredInOrder.isEmpty {
                var index = 0
                for name in node.requiredInOrder {
                    var order = -1
                    while index < members.count {
                        order = JSONValue.utf8Order(members[index].name, name)
                        if order >= 0 { break }
                        index += 1
                    }
                    guard index < members.count, order == 0 else { return false }
                }
            }
            let properties = node.properties
            var next = 0
            for member in members {
                var order = -1
                while next < properties.count {
                    order = JSONValue.utf8Order(properties[next].name, member.name)
                    if order >= 0 { break }
                    next += 1
                }
                if next < properties.count, order == 0 {
                    if !properties[next].schema.accepts(member.value) { return false }
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
            // Exact decimal comparison and division: no rounding through Double (see ExactNumber).
            guard node.checksNumbers, let number = ExactNumber(value) else { break }
            if let minimum = node.minimum, number < minimum { return false }
            if let maximum = node.maximum, number > maximum { return false }
            if let bound = node.exclusiveMinimum, number <= bound { return false }
            if let bound = node.exclusiveMaximum, number >= bound { return false }
            if let divisor = node.multipleOf, number.isMultiple(of: divisor) != true { return false }
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
        let node = self.node
        var found: [Violation] = []
        if let types = node.types, let names = node.typeNames, !types.admit(value) {
            // Reported with every other rule the value breaks (the value-specific ones below
            // apply only to their own type, so they add nothing misleading).
            found.append(
                Violation(
                    pointer: pointer, rule: "type",
                    message: "expected \(names.joined(separator: " or ")), got \(value.typeName)"))
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
            guard node.checksNumbers, let number = ExactNumber(value) else { break }
            if let minimum = node.minimum, number < minimum {
                found.append(Violation(pointer: pointer, rule: "minimum", message: "must be ≥ \(minimum.canonicalText)"))
            }
            if let maximum = node.maximum, number > maximum {
                found.append(Violation(pointer: pointer, rule: "maximum", message: "must be ≤ \(maximum.canonicalText)"))
            }
            if let bound = node.exclusiveMinimum, number <= bound {
                found.append(
                    Violation(pointer: pointer, rule: "exclusiveMinimum", message: "must be > \(bound.canonicalText)"))
            }
            if let bound = node.exclusiveMaximum, number >= bound {
                found.append(
                    Violation(pointer: pointer, rule: "exclusiveMaximum", message: "must be < \(bound.canonicalText)"))
            }
            if let divisor = node.multipleOf, number.isMultiple(of: divisor) != true {
                found.append(
                    Violation(
                        pointer: pointer, rule: "multipleOf", message: "must be a multiple of \(divisor.canonicalText)"))
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

    static func escape(_ name: String) -> String {
        name.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
