import ArgumentParser
import Foundation
import SluiceClient
import SluiceWire

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send one command and print its acknowledgement (after it committed).",
        discussion: """
            Example: sluice send task.create@v1 '{"title": "write docs"}' --key docs-1
            With --key, sending the same command again is safe: it commits once and later sends print the \
            stored result with "duplicate": true. Exit status: 0 on ACK, 1 on a broker ERROR (printed as JSON \
            on stderr), 4 on a timeout (the command may have committed: ask `sluice status <key>`), 3 when the \
            broker refused the credentials (nothing was sent).
            """
    )

    @Argument(help: "Contract as name@version, e.g. task.create@v1.")
    var contract: String

    @Argument(help: "The command's input as a JSON object.")
    var input: String

    @Option(name: .long, help: "Idempotency key (default: a fresh time-ordered UUID, version 7, printed on stderr).")
    var key: String?

    @Option(name: .long, help: "Milliseconds after which the broker must not start the command.")
    var deadlineMs: Int?

    @Option(name: .long, help: "A W3C traceparent to record with the command (00-<32 hex>-<16 hex>-<2 hex>).")
    var traceparent: String?

    @Option(name: .long, help: "The tenant the command acts for (recorded in the log and the audit event).")
    var tenant: String?

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        let payload: JSONValue
        do {
            payload = try JSONValue(parsing: input)
        } catch {
            throw ValidationError("input is not JSON: \(error)")
        }
        let key = self.key ?? RandomIdentifier.timeOrderedUUID()
        if self.key == nil { FileHandle.standardError.write(Data("idempotency key: \(key)\n".utf8)) }
        let client = try connection.makeClient()
        defer { client.close() }
        do {
            let context = CallerContext(traceparent: traceparent, tenant: tenant)
            let ack = try await client.send(
                contract, payload, idempotencyKey: key, deadlineMs: deadlineMs, context: context.isEmpty ? nil : context)
            print(ack.json.canonicalString)
        } catch let error as WireError {
            FileHandle.standardError.write(Data((error.json.canonicalString + "\n").utf8))
            throw ExitCode(1)
        } catch let error as SluiceClientError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            // Refused credentials: nothing was sent, and sending again will not help (exit 3). Any
            // other client error (no answer in time): the command may have run (exit 4); sending it
            // again with the same key is safe.
            throw ExitCode(error.code == .credentialsRefused ? 3 : 4)
        }
    }
}

extension ConnectionOptions {
    func makeClient(events: Bool = false) throws -> SluiceClient {
        try startBrokerIfNeeded()
        let credentials = try self.credentials(events: events)
        var configuration = ClientConfiguration(
            endpoint: commandEndpoint, eventEndpoint: events ? eventEndpoint : nil, credentials: credentials
        )
        configuration.attemptTimeout = .milliseconds(Int(timeout * 1000))
        return try SluiceClient(configuration: configuration)
    }
}
