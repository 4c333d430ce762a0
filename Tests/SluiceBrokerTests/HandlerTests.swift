import Foundation
import GRDB
import InventoryRules
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// Business rules in Swift (`"handler": "swift"`, examples/handlers): they run in the writer's
/// transaction with the same idempotency, log, audit and replay as SQL contracts.
@Suite(.timeLimit(.minutes(2))) struct HandlerTests {
    static let inventory = Fixtures.repositoryRoot.appendingPathComponent("examples/handlers")

    static func broker(
        _ directory: TemporaryDirectory = TemporaryDirectory(),
        handlers: [String: CommandHandler] = InventoryRules.handlers
    ) throws -> RunningBroker {
        try RunningBroker(directory: directory) {
            $0.contractDirectories = [inventory]
            $0.commandHandlers = handlers
        }
    }

    static func count(_ broker: RunningBroker, _ sql: String) throws -> Int {
        try TasksDatabase.count(broker.open("inventory"), sql)
    }

    @Test func aHandlerCommitsRefusesByRuleAndAnswersARetryFromTheLedger() async throws {
        let broker = try Self.broker()
        defer { broker.stop() }
        let audit = try broker.subscriber(["audit.inventory", "hb"])
        while let frames = try audit.receive(), frames.first != frame("hb") {}
        let client = try broker.client()
        defer { client.close() }
        _ = try await client.send("item.restock@v1", ["sku": "bolt", "quantity": 12], idempotencyKey: "restock")

        let reserved = try await client.send("stock.reserve@v1", ["sku": "bolt", "quantity": 4], idempotencyKey: "r-1")
        #expect(reserved.result["left"] == 8)
        let id = try #require(reserved.result["reservation"]?.stringValue)
        let again = try await client.send("stock.reserve@v1", ["sku": "bolt", "quantity": 4], idempotencyKey: "r-1")
        #expect(again.duplicate && again.seq == reserved.seq && again.result == reserved.result)

        // A refusal by rule: typed, stored (the retry gets it from the ledger), nothing written.
        for _ in 0..<2 {
            do {
                _ = try await client.send("stock.reserve@v1", ["sku": "bolt", "quantity": 9], idempotencyKey: "r-2")
                Issue.record("a reservation beyond the stock committed")
            } catch let error as WireError {
                #expect(error.code == .ruleViolation)
                #expect(!error.retryable)
                #expect(error.details["rule"] == "insufficient_stock")
                #expect(error.details["stock"] == 8)
            }
        }
        do {
            _ = try await client.send("stock.reserve@v1", ["sku": "bolt", "quantity": 7], idempotencyKey: "r-3")
            Issue.record("the per-caller cap did not hold")
        } catch let error as WireError {
            #expect(error.details["rule"] == "per_caller_cap")
        }
        #expect(try Self.count(broker, "SELECT stock FROM items WHERE sku = 'bolt'") == 8)
        #expect(try Self.count(broker, "SELECT count(*) FROM reservations") == 1)
        #expect(try Self.count(broker, "SELECT count(*) FROM reservations WHERE id = '\(id)'") == 1)
        // In the log: the commit and the two refusals (each once), gap-free.
        #expect(try TasksDatabase.logSeqs(broker.open("inventory")) == [1, 2, 3, 4])
        #expect(try Self.count(broker, "SELECT count(*) FROM sluice_log WHERE status = 'failed'") == 2)

        // The audit event of a refusal carries its code.
        var codes: [String] = []
        while codes.count < 2, let frames = try audit.receive() {
            let event = try Event(frames: frames)
            if event.topic == "audit.inventory", event.body["status"] == "failed" {
                codes.append(event.body["code"]?.stringValue ?? "")
            }
        }
        #expect(codes == ["rule_violation", "rule_violation"])
    }

    @Test func aHandlersSQLIsHeldToTheContractSetsRules() async throws {
        let hostile: CommandHandler = { command in
            try command.database.execute("UPDATE sluice_log SET payload_hash = 'forged'")
            return .null
        }
        let broker = try Self.broker(handlers: ["stock.reserve@v1": hostile])
        defer { broker.stop() }
        let client = try broker.client()
        defer { client.close() }
        _ = try await client.send("item.restock@v1", ["sku": "nut", "quantity": 1], idempotencyKey: "restock")
        do {
            _ = try await client.send("stock.reserve@v1", ["sku": "nut", "quantity": 1], idempotencyKey: "h-1")
            Issue.record("a handler touched the broker's ledger")
        } catch let error as WireError {
            #expect(error.code == .internal)
        }
        #expect(try Self.count(broker, "SELECT count(*) FROM sluice_log WHERE payload_hash = 'forged'") == 0)
        #expect(try TasksDatabase.logSeqs(broker.open("inventory")) == [1])
    }

    /// A handler's query reads text whole: a NUL inside it is kept (GRDB's rows stop there).
    @Test func aHandlersQueryReadsTextWhole() async throws {
        let echo: CommandHandler = { command in
            let text = command.input["sku"] ?? .null
            return try command.database.queryOne("SELECT ? AS echoed, length(CAST(? AS BLOB)) AS bytes", [text, text])
                .map { JSONValue.object(JSONObject($0)) } ?? .null
        }
        let broker = try Self.broker(handlers: ["stock.reserve@v1": echo])
        defer { broker.stop() }
        let client = try broker.client()
        defer { client.close() }
        let sku = "a\u{0}b é"
        let ack = try await client.send("stock.reserve@v1", ["sku": .string(sku), "quantity": 1], idempotencyKey: "echo")
        #expect(ack.result["echoed"]?.stringValue == sku)
        #expect(ack.result["bytes"] == .int(Int64(sku.utf8.count)))
    }

    @Test func replayRunsTheHandlersAgainAndRebuildsTheSameDatabase() async throws {
        let directory = TemporaryDirectory()
        let broker = try Self.broker(directory)
        let client = try broker.client()
        _ = try await client.send("item.restock@v1", ["sku": "bolt", "quantity": 20], idempotencyKey: "restock")
        for index in 0..<5 {
            _ = try? await client.send(
                "stock.reserve@v1", ["sku": "bolt", "quantity": .int(Int64(2 + index))], idempotencyKey: "r-\(index)")
        }
        client.close()
        broker.stop()

        let registry = try ContractRegistry(directories: [Self.inventory])
        let live = directory.path("data/inventory.db")
        let report = try LogReplayer(registry: registry, handlers: InventoryRules.handlers).replay(
            database: live, into: directory.path("rebuilt/inventory.db"), verify: true)
        #expect(report.replayed == 6)
        #expect(report.differences.isEmpty, "\(report.differences)")

        #expect(throws: ContractError.self) {
            try LogReplayer(registry: registry).replay(
                database: live, into: directory.path("without/inventory.db"), verify: false)
        }
    }

    @Test func aBrokerWithoutTheHandlerOrWithAStrayOneDoesNotStart() throws {
        #expect(throws: ContractError.self) { try Self.broker(handlers: [:]) }
        let stray: CommandHandler = { _ in .null }
        #expect(throws: ContractError.self) {
            try Self.broker(handlers: InventoryRules.handlers.merging(["item.restock@v1": stray]) { first, _ in first })
        }
    }
}
