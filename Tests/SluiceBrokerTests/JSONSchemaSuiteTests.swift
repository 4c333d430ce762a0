import Foundation
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import Testing

/// The official JSON Schema Test Suite's cases for the keywords input schemas support (vendored
/// under `JSONSchemaTestSuite/`): every case of every group whose schema loads must be judged as
/// the suite says, by both `accepts` and `violations`.
@Suite struct JSONSchemaSuiteTests {
    static let directory = Fixtures.repositoryRoot.appendingPathComponent("Tests/SluiceBrokerTests/JSONSchemaTestSuite")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted()
    }

    /// Groups whose schemas use what input schemas refuse at load, by file and group description.
    /// Each is refused on purpose; the test fails if one of them starts loading (update the list)
    /// or if any other group is refused.
    static let unsupported: [String: String] = [
        "additionalProperties.json: additionalProperties being false does not allow other properties": "patternProperties",
        "additionalProperties.json: additionalProperties can exist by itself": "additionalProperties with a schema",
        "additionalProperties.json: additionalProperties does not look in applicators": "allOf",
        "additionalProperties.json: additionalProperties with null valued instance properties":
            "additionalProperties with a schema",
        "additionalProperties.json: additionalProperties with schema": "additionalProperties with a schema",
        "additionalProperties.json: non-ASCII pattern with additionalProperties": "patternProperties",
        "items.json: items and subitems": "$defs",
        "items.json: items does not look in applicators, valid case": "allOf",
        "items.json: items with boolean schema (false)": "a boolean schema",
        "items.json: items with boolean schema (true)": "a boolean schema",
        "items.json: prefixItems validation adjusts the starting index for items": "prefixItems",
        "items.json: prefixItems with no additional items allowed": "prefixItems",
        "optional-ecmascript-regex.json: \\a is not an ECMA 262 control escape": "$ref",
        "optional-ecmascript-regex.json: \\d in patternProperties matches [0-9], not unicode digits": "patternProperties",
        "optional-ecmascript-regex.json: \\w in patternProperties matches [A-Za-z0-9_], not unicode letters":
            "patternProperties",
        "optional-ecmascript-regex.json: pattern with non-ASCII digits": "\\p{…} property escapes",
        "optional-ecmascript-regex.json: patternProperties with ASCII ranges": "patternProperties",
        "optional-ecmascript-regex.json: patternProperties with non-ASCII digits": "patternProperties",
        "optional-ecmascript-regex.json: patterns always use unicode semantics with pattern": "\\p{…} property escapes",
        "optional-ecmascript-regex.json: patterns always use unicode semantics with patternProperties":
            "patternProperties",
        "optional-non-bmp-regex.json: Proper UTF-16 surrogate pair handling: patternProperties": "patternProperties",
        "properties.json: properties with boolean schema": "a boolean schema",
        "properties.json: properties, patternProperties, additionalProperties interaction": "patternProperties",
    ]

    @Test(arguments: files)
    func everyCaseIsJudgedAsTheSuiteSays(_ file: String) throws {
        let groups = try JSONValue(parsing: Array(try Data(contentsOf: Self.directory.appendingPathComponent(file))))
        for group in groups.arrayValue ?? [] {
            let name = "\(file): \(group["description"]?.stringValue ?? "?")"
            let schema: InputSchema
            do {
                schema = try InputSchema(group["schema"] ?? .null)
            } catch {
                #expect(Self.unsupported[name] != nil, "refused: \(name): \(error)")
                continue
            }
            #expect(Self.unsupported[name] == nil, "now supported: \(name)")
            for test in group["tests"]?.arrayValue ?? [] {
                let data = test["data"] ?? .null
                let valid = test["valid"]?.boolValue ?? false
                let label = "\(name) / \(test["description"]?.stringValue ?? "?")"
                #expect(schema.accepts(data) == valid, "accepts: \(label)")
                #expect(schema.violations(of: data).isEmpty == valid, "violations: \(label)")
            }
        }
    }
}
