import ArgumentParser
import Foundation
import SluiceClient
import SluiceWire

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print events from the broker's PUB channel as they are published.",
        discussion: """
            Topics: audit.<db> (commands run), inval.<db> (what they changed), audit.rejected (refused requests), \
            hb (heartbeat). The topic is a prefix filter: `sluice tail audit.` prints every audit event. \
            Each line is: <topic> <stream>#<seq> <body JSON>.
            """
    )

    @Argument(help: "Topic prefix; empty for everything except heartbeats.")
    var topic: String = ""

    @Flag(name: .long, help: "Also print heartbeats when tailing everything.")
    var heartbeats = false

    @Option(name: .long, help: "Exit after this many events.")
    var count: Int?

    @Option(
        name: .long,
        help:
            "Gap-free from this seq on: replays stored events, then follows live ones, never missing one. Needs a stored topic (audit.<db>, inval.<db>, audit.rejected)."
    )
    var from: Int64?

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let client = try connection.makeClient(events: true)
        defer { client.close() }
        var printed = 0
        if let from {
            guard Topic.stream(of: topic) != nil else {
                throw ValidationError("--from needs a stored topic: audit.<db>, inval.<db> or audit.rejected")
            }
            for try await event in client.subscribe(topic: topic, fromSeq: from) {
                print("\(event.topic) \(event.stream)#\(event.seq) \(String(decoding: event.bodyBytes, as: UTF8.self))")
                fflush(nil)
                printed += 1
                if let count, printed >= count { break }
            }
            return
        }
        for try await event in client.events(topic: topic) {
            if topic.isEmpty && event.topic == Topic.heartbeat && !heartbeats { continue }
            print("\(event.topic) \(event.stream)#\(event.seq) \(String(decoding: event.bodyBytes, as: UTF8.self))")
            fflush(nil)
            printed += 1
            if let count, printed >= count { break }
        }
    }
}
