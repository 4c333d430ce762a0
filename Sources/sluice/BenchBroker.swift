import Foundation
import Logging
import SluiceBroker
import SluiceClient

/// A broker for a benchmark: its own data directory under `directory`, the benchmark contract
/// set, warnings-only logging, and the operator's token for worker processes.
struct BenchBroker {
    let broker: Broker
    let configuration: BrokerConfiguration
    let token: String

    init(in directory: URL, synchronous: SynchronousMode = .full) throws {
        let contracts = directory.appendingPathComponent("contracts-set")
        try BenchWorker.writeContractSet(contracts)
        var configuration = BrokerConfiguration(dataDirectory: directory.appendingPathComponent("data"))
        configuration.contractDirectories = [contracts]
        configuration.synchronous = synchronous
        var logger = Logger(label: "sluice.bench")
        logger.logLevel = .warning
        broker = try Broker(configuration: configuration, logger: logger)
        try broker.start()
        token = try broker.tokens.ensureToken(for: TokenStore.operatorName)
        self.configuration = configuration
    }

    func client() throws -> SluiceClient {
        try SluiceClient(
            endpoint: configuration.commandEndpoint, credentials: ClientCredentials(name: "local", token: token))
    }

    func stop() {
        broker.shutdown()
        broker.wait()
    }
}
