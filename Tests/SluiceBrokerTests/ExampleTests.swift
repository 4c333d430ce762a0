import Foundation
import SluiceBroker
import SluiceTestSupport
import SluiceZMQ
import Testing

/// The examples in examples/ run against a real broker process and do what their READMEs say.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ExampleTests {
    func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try Fixtures.run(executable, arguments)
    }

    @Test func tasksAndAuditTailExamples() async throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(
            from: Fixtures.repositoryRoot.appendingPathComponent("examples/audit-tail/plugin")
        )
        let broker = try BrokerProcess(dataDirectory: data)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing())

        let tasks = try run("tasks-example", [data.path])
        #expect(tasks.status == 0, "\(tasks.output)")
        #expect(tasks.output.contains("nothing created twice"))
        #expect(tasks.output.contains("completed it"))

        // The audit-tail plugin prints the two commands (create, complete) and stores where it is.
        let first = try run("audit-tail-example", [data.path, "2"])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("audit.tasks #1 task.create@v1 ok"), "\(first.output)")
        #expect(first.output.contains("audit.tasks #2 task.complete@v1 ok"))
        #expect(first.output.contains("audit-tail: healthy, restarts 0"))

        // Run again after more work: it resumes after #2, repeating nothing.
        #expect(try run("tasks-example", [data.path]).status == 0)
        let second = try run("audit-tail-example", [data.path, "2"])
        #expect(second.output.contains("audit.tasks #3 task.create@v1 ok"), "\(second.output)")
        #expect(!second.output.contains("audit.tasks #1 "))
        #expect(!second.output.contains("audit.tasks #2 "))

        // The host reported its plugin's health where `sluice plugins health` reads it.
        let health = try run("sluice", ["plugins", "health", "--data-dir", data.path])
        #expect(health.status == 0, "\(health.output)")
        #expect(health.output.contains("audit-tail"))

        // Broker counters, in the Prometheus text format, per identity too.
        let metrics = try run("sluice", ["stats", "--prometheus", "--data-dir", data.path])
        #expect(metrics.status == 0, "\(metrics.output)")
        #expect(metrics.output.contains("# TYPE sluice_committed_total counter"))
        #expect(metrics.output.contains("sluice_committed_total 4"))
        #expect(metrics.output.contains("sluice_actor_commands_total{actor=\"local\"} 6"), "\(metrics.output)")
        #expect(metrics.output.contains("sluice_query_executions_total{contract=\"task.list@v1\"}"))
        #expect(metrics.output.contains("# TYPE sluice_db_batches_total counter"), "\(metrics.output)")
        #expect(metrics.output.contains("sluice_db_batched_commands_total{db=\"tasks\"}"), "\(metrics.output)")
    }

    /// examples/handlers: a host embedding the broker, with a command implemented in Swift.
    @Test func theHandlersExampleEmbedsTheBrokerAndAppliesItsRules() throws {
        let directory = TemporaryDirectory()
        let result = try run("handlers-example", [directory.path("data").path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("the same key again: duplicate, nothing ran twice"), "\(result.output)")
        #expect(result.output.contains("refused: rule_violation insufficient_stock"), "\(result.output)")
        #expect(result.output.contains("reservations: 1"), "\(result.output)")
    }
}
