// The audit-tail example: a worker-thread plugin, run by a PluginHost, that follows the
// audit.tasks stream gap-free from a stored position, so a restart neither misses nor repeats.
//
//   sluice plugins install examples/audit-tail/plugin    (once; then restart the broker)
//   swift run audit-tail-example [data-dir] [seconds]
import Foundation
import SluiceClient
import SluicePluginHost
import SluiceWire

final class AuditTail: Plugin {
    let positionFile: URL
    init(positionFile: URL) { self.positionFile = positionFile }

    func initialize(_ context: PluginContext) async throws {}

    func run(_ context: PluginContext) async throws {
        let stored = (try? Data(contentsOf: positionFile)).flatMap { try? JSONDecoder().decode(StreamPosition.self, from: $0) }
        for try await event in context.broker.subscribe(topic: "audit.tasks", after: stored) {
            print("audit.tasks #\(event.seq) \(event.body["contract"]?.stringValue ?? "") \(event.body["status"]?.stringValue ?? "")")
            // Store the position after handling the event: a restart resumes right after it.
            try JSONEncoder().encode(StreamPosition(after: event)).write(to: positionFile, options: .atomic)
        }
    }
}

let arguments = CommandLine.arguments.dropFirst()
let dataDirectory = URL(fileURLWithPath: arguments.first ?? "data")
let seconds = Double(arguments.dropFirst().first ?? "") ?? 10
let host = PluginHost(configuration: .init(dataDirectory: dataDirectory))
host.register(id: "audit-tail") { AuditTail(positionFile: dataDirectory.appendingPathComponent("audit-tail.position")) }
host.start()
try await Task.sleep(for: .seconds(seconds))
print(host.statuses().map { "\($0.id): \($0.state.rawValue), restarts \($0.restarts)" }.joined(separator: "\n"))
await host.stop()
