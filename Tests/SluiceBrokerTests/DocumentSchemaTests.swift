import Foundation
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import Testing

/// schemas/contract.schema.json and plugin.schema.json describe what the broker accepts: the
/// shipped examples and a scaffolded plugin pass them, and documents the broker refuses fail them.
@Suite struct DocumentSchemaTests {
    func schema(_ name: String) throws -> InputSchema {
        let url = Fixtures.repositoryRoot.appendingPathComponent("schemas/\(name).schema.json")
        return try InputSchema(try JSONValue(parsing: Array(try Data(contentsOf: url))))
    }

    func document(_ url: URL) throws -> JSONValue { try JSONValue(parsing: Array(try Data(contentsOf: url))) }

    @Test func shippedContractsMatchTheContractSchema() throws {
        let folder = Fixtures.tasksContracts.appendingPathComponent("contracts")
        let schema = try schema("contract")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(!files.isEmpty)
        for file in files {
            #expect(schema.violations(of: try document(folder.appendingPathComponent(file))) == [], "\(file)")
        }
    }

    @Test func aScaffoldedPluginMatchesBothSchemas() throws {
        let directory = TemporaryDirectory()
        let folder = try PluginScaffold.create(id: "demo", mode: .shared, in: directory.url)
        #expect(try schema("plugin").violations(of: try document(folder.appendingPathComponent("plugin.json"))) == [])
        #expect(
            try schema("contract").violations(
                of: try document(folder.appendingPathComponent("contracts/demo.item.create.v1.json"))) == [])
    }

    @Test(arguments: [
        #"{"name": "Bad Name", "version": "v1", "kind": "command", "statements": ["SELECT 1"]}"#,
        #"{"name": "a.b", "version": "1", "kind": "command", "statements": ["SELECT 1"]}"#,
        #"{"name": "a.b", "version": "v1", "kind": "write", "statements": ["SELECT 1"]}"#,
        #"{"name": "a.b", "version": "v1", "kind": "command", "statements": []}"#,
        #"{"name": "a.b", "version": "v1", "kind": "command", "statements": ["SELECT 1"], "sql": "x"}"#,
    ])
    func documentsTheBrokerRefusesFailTheSchema(_ text: String) throws {
        let json = try JSONValue(parsing: text)
        #expect(!(try schema("contract").violations(of: json)).isEmpty)
        var withDatabase = json.objectValue ?? [:]
        withDatabase["database"] = "things"
        #expect(throws: ContractError.self) { try Contract(json: .object(withDatabase), file: "test.json") }
    }

    @Test func theExampleConfigurationMatchesTheSchemaAndLoads() throws {
        let url = Fixtures.repositoryRoot.appendingPathComponent("examples/sluice.json")
        #expect(try schema("config").violations(of: try document(url)) == [])
        let file = try ConfigurationFile(contentsOf: url)
        #expect(file.dataDirectory == Fixtures.repositoryRoot.appendingPathComponent("data").standardizedFileURL)
        #expect(file.contracts == [Fixtures.repositoryRoot.appendingPathComponent("examples/tasks").standardizedFileURL])
        #expect(file.maxBatch == 256)
    }

    @Test(arguments: [
        #"{"data_dir": "d", "port": 5555}"#, #"{"synchronous": "off"}"#, #"{"max_batch": 0}"#, #"{"contracts": "tasks"}"#,
        #"{"insecure_tcp": "yes"}"#, #"{"endpoint": ""}"#,
    ])
    func configurationsTheBrokerRefusesFailTheSchema(_ text: String) throws {
        let directory = TemporaryDirectory()
        let url = directory.path("sluice.json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        #expect(!(try schema("config").violations(of: try JSONValue(parsing: text))).isEmpty)
        #expect(throws: ConfigurationFile.Invalid.self) { try ConfigurationFile(contentsOf: url) }
    }

    @Test func theExampleProjectionMatchesTheSchemaAndLoads() throws {
        let url = Fixtures.repositoryRoot.appendingPathComponent("examples/projections/open_tasks.json")
        let json = try document(url)
        #expect(try schema("projection").violations(of: json) == [])
        let projection = try Projection(json: json, file: url.path)
        #expect(projection.capability == "projection:open_tasks:read")
    }

    @Test(arguments: [
        #"{"name": "Open", "source": {"db": "tasks", "query": "SELECT 1"}, "target": {"db": "plugins", "table": "t"}, "columns": ["a"]}"#,
        #"{"name": "p", "source": {"db": "tasks"}, "target": {"db": "plugins", "table": "t"}, "columns": ["a"]}"#,
        #"{"name": "p", "source": {"db": "tasks", "query": "SELECT 1"}, "target": {"db": "plugins", "table": "t"}, "columns": []}"#,
        #"{"name": "p", "source": {"db": "tasks", "query": "SELECT 1"}, "target": {"db": "plugins", "table": "t"}, "columns": ["a"], "every": "5s"}"#,
    ])
    func projectionsTheBrokerRefusesFailTheSchema(_ text: String) throws {
        let json = try JSONValue(parsing: text)
        #expect(!(try schema("projection").violations(of: json)).isEmpty)
        #expect(throws: ContractError.self) { try Projection(json: json, file: "test.json") }
    }

    /// What the schema cannot say (JSON Schema as the broker's validator supports it), the broker
    /// still refuses: its own tables as a target, arrays as parameters, a column twice.
    @Test(arguments: [
        #"{"name": "p", "source": {"db": "tasks", "query": "SELECT 1"}, "target": {"db": "plugins", "table": "sluice_log"}, "columns": ["a"]}"#,
        #"{"name": "p", "source": {"db": "tasks", "query": "SELECT 1", "params": {"x": [1]}}, "target": {"db": "plugins", "table": "t"}, "columns": ["a"]}"#,
        #"{"name": "p", "source": {"db": "tasks", "query": "SELECT 1"}, "target": {"db": "plugins", "table": "t"}, "columns": ["a", "a"]}"#,
    ])
    func projectionsOnlyTheBrokerRefuses(_ text: String) throws {
        #expect(throws: ContractError.self) { try Projection(json: try JSONValue(parsing: text), file: "test.json") }
    }
}
