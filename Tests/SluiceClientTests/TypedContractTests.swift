import Foundation
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

struct TaskRow: Decodable, Sendable, Equatable {
    var id: String
    var title: String
    var priority: Int
}

struct CreateTask: CommandContract {
    static let contract = "task.create@v1"
    typealias Result = ContractRows<TaskRow>
    var title: String
    var priority: Int?
}

struct ListTasks: QueryContract {
    static let contract = "task.list@v1"
    struct Row: Decodable, Sendable {
        var id: String
        var title: String
        var done: Int
    }
    var status: String?
}

@Suite struct TypedContractTests {
    @Test func typedCommandsAndQueries() async throws {
        let broker = try RunningBroker()
        let client = try broker.client()
        defer { client.close() }
        let created = try await client.send(CreateTask(title: "typed", priority: 4))
        #expect(created.changes == 1)
        #expect(created.rows.first?.title == "typed")
        #expect(created.rows.first?.priority == 4)

        let open = try await client.query(ListTasks(status: "open"))
        #expect(open.map(\.title) == ["typed"])
        #expect(open.first?.id == created.rows.first?.id)
        #expect(try await client.query(ListTasks(status: "done")).isEmpty)

        // The broker still validates: a typed value that breaks the schema is refused.
        await #expect(throws: WireError.self) { try await client.send(CreateTask(title: "", priority: 9)) }
    }
}
