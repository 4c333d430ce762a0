// The tasks example: typed commands and queries against the `examples/tasks` contracts.
//
//   make run                                  (a broker serving ./data, in another terminal)
//   swift run tasks-example [data-dir]
import Foundation
import SluiceClient
import SluiceWire

struct TaskRow: Decodable, Sendable {
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

struct CompleteTask: CommandContract {
    struct Done: Decodable, Sendable {
        var id: String
        var done: Int
    }
    static let contract = "task.complete@v1"
    typealias Result = ContractRows<Done>
    var id: String
}

struct ListTasks: QueryContract {
    struct Row: Decodable, Sendable {
        var id: String
        var title: String
        var done: Int
    }
    static let contract = "task.list@v1"
    var status: String?
}

let dataDirectory = URL(fileURLWithPath: CommandLine.arguments.dropFirst().first ?? "data")
let client = try SluiceClient(
    endpoint: "ipc://" + dataDirectory.appendingPathComponent("sluice.sock").path,
    credentials: .operator(dataDirectory: dataDirectory)
)
defer { client.close() }

// A key of our own makes the create safe to retry, even from another process after a crash.
let key = "tasks-example-\(ProcessInfo.processInfo.processIdentifier)"
let created = try await client.send(CreateTask(title: "try Sluice", priority: 3), idempotencyKey: key)
let task = created.rows[0]
print("created \(task.title) (\(task.id))")

let again = try await client.send(CreateTask(title: "try Sluice", priority: 3), idempotencyKey: key)
precondition(again.rows[0].id == task.id, "a retry with the same key returns the same task")
print("retried with the same key: same task, nothing created twice")

let open = try await client.query(ListTasks(status: "open"))
precondition(open.contains { $0.id == task.id }, "a query sees this client's own write")
print("open tasks: \(open.count)")

_ = try await client.send(CompleteTask(id: task.id))
let done = try await client.query(ListTasks(status: "done"))
precondition(done.contains { $0.id == task.id })
print("completed it; done tasks: \(done.count)")
