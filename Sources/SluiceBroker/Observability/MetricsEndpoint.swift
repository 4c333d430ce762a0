public import FlyingFox
import FlyingSocks
public import Foundation
public import ServiceLifecycle

/// `GET /metrics` (Prometheus text format 0.0.4) and `GET /health` over HTTP, on the tcp address
/// the operator names (`sluice serve --metrics-endpoint 127.0.0.1:9464`). A service of the
/// broker's `ServiceGroup`: it stops at the group's graceful shutdown.
///
/// `/health` answers 200 `{"status":"serving"}` while the broker admits requests and 503
/// `{"status":"stopping"}` once it drains or stopped. Nothing here authenticates: bind it to
/// loopback or a network only the scraper reaches (docs/operations.md).
public final class MetricsEndpoint: Service, Sendable {
    public let host: String
    public let port: UInt16
    let server: HTTPServer

    /// `address` is `HOST:PORT` with an IPv4 host (port 0: any free port, see ``boundPort()``).
    public init(address: String, broker: Broker) throws {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw BrokerStateError(message: "--metrics-endpoint takes HOST:PORT (e.g. 127.0.0.1:9464), not \(address)")
        }
        host = String(address[..<colon])
        self.port = port
        let socketAddress: sockaddr_in
        do {
            socketAddress = try .inet(ip4: host, port: port)
        } catch {
            throw BrokerStateError(message: "--metrics-endpoint: \(host) is not an IPv4 address")
        }
        server = HTTPServer(address: socketAddress, logger: .disabled, handler: Routes(broker: broker))
    }

    struct Routes: HTTPHandler {
        let broker: Broker

        func handleRequest(_ request: HTTPRequest) async throws -> HTTPResponse {
            guard request.method == .GET else { return HTTPResponse(statusCode: .methodNotAllowed) }
            switch request.path {
            case "/metrics":
                return HTTPResponse(
                    statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: Data(broker.metrics.exposition()))
            case "/health":
                let serving = broker.isServing
                return HTTPResponse(
                    statusCode: serving ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                    body: Data((serving ? #"{"status":"serving"}"# : #"{"status":"stopping"}"#).utf8))
            default:
                return HTTPResponse(statusCode: .notFound)
            }
        }
    }

    /// Serves until the task is cancelled or the service group shuts down gracefully.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: { [server] in
            Task { await server.stop() }
        }
    }

    /// Returns once the socket listens (throws if it cannot within `timeout` seconds).
    public func waitUntilListening(timeout: TimeInterval = 5) async throws {
        try await server.waitUntilListening(timeout: timeout)
    }

    /// The port the socket listens on (the chosen one when ``port`` is 0).
    public func boundPort() async -> UInt16? {
        if case .ip4(_, let port)? = await server.listeningAddress { return port }
        return nil
    }
}
