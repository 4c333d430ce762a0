import ArgumentParser
import Foundation

/// How client subcommands find the broker: by its data directory, or by explicit endpoints.
struct ConnectionOptions: ParsableArguments {
    @Option(
        name: .long, help: "The broker's data directory; its endpoints are <dir>/sluice.sock and <dir>/events.sock.")
    var dataDir: String = "data"

    @Option(
        name: .long,
        help: "Request endpoint (overrides --data-dir), e.g. ipc:///tmp/s/sluice.sock or tcp://127.0.0.1:5555.")
    var endpoint: String?

    @Option(name: .long, help: "Event endpoint (overrides --data-dir).")
    var eventsEndpoint: String?

    @Option(name: .long, help: "Seconds to wait for each attempt's reply.")
    var timeout: Double = 5

    @Option(name: .long, help: "Identity to connect as: `local` (the operator) or a plugin id.")
    var user: String = "local"

    @Option(name: .long, help: "File holding the identity's token. Default: <data-dir>/tokens/<user>.token.")
    var tokenFile: String?

    var dataDirectory: URL { URL(fileURLWithPath: dataDir).standardizedFileURL }
    var commandEndpoint: String { endpoint ?? "ipc://" + dataDirectory.appendingPathComponent("sluice.sock").path }
    var eventEndpoint: String { eventsEndpoint ?? "ipc://" + dataDirectory.appendingPathComponent("events.sock").path }

    var tokenURL: URL {
        tokenFile.map { URL(fileURLWithPath: $0) } ?? dataDirectory.appendingPathComponent("tokens/\(user).token")
    }
}
