import ArgumentParser
import Foundation
import SluiceClient
import SluiceZMQ

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

    @Option(
        name: .long,
        help: "tcp endpoints: this client's CURVE key file (from `sluice keys generate`). Default for local: <data-dir>/curve/local.key.")
    var keyFile: String?

    @Option(
        name: .long,
        help: "tcp endpoints: the broker's CURVE public key (Z85, `sluice keys list` shows it). Default: read from <data-dir>/curve/broker.key.")
    var serverKey: String?

    @Flag(
        name: .long,
        help: "Do not start a broker when none serves --data-dir (by default one starts in the background and exits when idle).")
    var noAutoStart = false

    @Option(name: .long, help: "Seconds an automatically started broker stays up with no client and nothing pending.")
    var idleExit: Int = 300

    @Option(
        name: .long, parsing: .singleValue,
        help: "Contract sets for an automatically started broker, as for serve. Default: its own (examples/tasks when it exists).")
    var contracts: [String] = []

    /// Ephemeral mode (docs/operations.md): for a data directory's own ipc endpoints, start a
    /// broker when none serves it. Explicit endpoints are someone else's broker: never started.
    func startBrokerIfNeeded() throws {
        guard !noAutoStart, endpoint == nil, eventsEndpoint == nil else { return }
        let executable = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        let autoStart = BrokerAutoStart(
            executable: executable, dataDirectory: dataDirectory,
            contracts: contracts.map { URL(fileURLWithPath: $0).standardizedFileURL }, idleExit: .seconds(idleExit))
        do {
            try autoStart.ensureRunning()
        } catch {
            FileHandle.standardError.write(Data("could not start a broker for \(dataDirectory.path): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    var dataDirectory: URL { URL(fileURLWithPath: dataDir).standardizedFileURL }

    /// Whether an endpoint in use is tcp (CURVE).
    func usesTCP(events: Bool) -> Bool {
        commandEndpoint.hasPrefix("tcp://") || (events && eventEndpoint.hasPrefix("tcp://"))
    }

    /// The PLAIN token for ipc; on tcp, the CURVE keys (and the token too when it is readable).
    func credentials(events: Bool) throws -> ClientCredentials {
        guard usesTCP(events: events) else {
            do {
                return try ClientCredentials(name: user, tokenFile: tokenURL)
            } catch {
                throw ValidationError(
                    "cannot read the token of '\(user)' from \(tokenURL.path): \(error.localizedDescription)")
            }
        }
        let keys = dataDirectory.appendingPathComponent("curve")
        let keyURL =
            keyFile.map { URL(fileURLWithPath: $0) }
            ?? (user == "local" ? keys.appendingPathComponent("local.key") : nil)
        guard let keyURL else {
            throw ValidationError("a tcp endpoint needs this client's CURVE key file: --key-file (from sluice keys generate)")
        }
        let server: String
        if let serverKey {
            server = serverKey
        } else {
            do {
                server = try ZMQCurve.readKeyFile(keys.appendingPathComponent("broker.key")).publicKey
            } catch {
                throw ValidationError(
                    "a tcp endpoint needs the broker's public key: --server-key (sluice keys list prints it on the broker's host)")
            }
        }
        do {
            return ClientCredentials(name: user, curve: try CurveCredentials(keyFile: keyURL, serverKey: server))
        } catch {
            throw ValidationError("cannot read the CURVE keys: \(error)")
        }
    }
    var commandEndpoint: String { endpoint ?? "ipc://" + dataDirectory.appendingPathComponent("sluice.sock").path }
    var eventEndpoint: String { eventsEndpoint ?? "ipc://" + dataDirectory.appendingPathComponent("events.sock").path }

    var tokenURL: URL {
        tokenFile.map { URL(fileURLWithPath: $0) } ?? dataDirectory.appendingPathComponent("tokens/\(user).token")
    }
}
