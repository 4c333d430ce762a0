// Business rules in Swift: a host that embeds the broker implements `stock.reserve@v1` in Swift
// (examples/handlers/rules) and talks to it over inproc, with the same idempotency, log and audit
// as a SQL contract.
//
//   swift run handlers-example [data-dir]      (default: a fresh temporary directory)
import Foundation
import InventoryRules
import Logging
import SluiceBroker
import SluiceClient
import SluiceWire

let data =
    CommandLine.arguments.count > 1
    ? URL(fileURLWithPath: CommandLine.arguments[1])
    : FileManager.default.temporaryDirectory.appendingPathComponent("sluice-handlers-\(UUID().uuidString.prefix(8))")
let rules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

var configuration = BrokerConfiguration(dataDirectory: data)
configuration.contractDirectories = [rules]
configuration.commandHandlers = InventoryRules.handlers
configuration.inprocIdentities = ["local"]
var logger = Logger(label: "handlers-example")
logger.logLevel = .warning
let broker = try Broker(configuration: configuration, logger: logger)
try broker.start()

var clientConfiguration = ClientConfiguration(endpoint: Broker.inprocEndpoint(for: "local"))
clientConfiguration.sharedContext = broker.context
let client = try SluiceClient(configuration: clientConfiguration)

_ = try await client.send("item.restock@v1", ["sku": "bolt", "quantity": 12], idempotencyKey: "restock-1")
let first = try await client.send("stock.reserve@v1", ["sku": "bolt", "quantity": 4], idempotencyKey: "r-1")
print("reserved:", first.result.canonicalString)
let retry = try await client.send("stock.reserve@v1", ["sku": "bolt", "quantity": 4], idempotencyKey: "r-1")
print("the same key again:", retry.duplicate ? "duplicate, nothing ran twice" : "ran again!")
do {
    _ = try await client.send("stock.reserve@v1", ["sku": "bolt", "quantity": 9], idempotencyKey: "r-2")
} catch let error as WireError {
    print("refused:", error.code, error.details["rule"]?.stringValue ?? "", "-", error.message)
}
print("reservations:", try await client.query("reservation.list@v1").rows.count)
client.close()
broker.shutdown()
broker.wait()
