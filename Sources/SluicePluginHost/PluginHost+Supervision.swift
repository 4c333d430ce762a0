import Foundation
import Logging
import SluiceClient
import SluiceWire
import Synchronization

extension PluginHost {
    /// One plugin's life, restarts included, until the host stops.
    func supervise(id: String, make: @escaping @Sendable () -> any Plugin) async {
        var consecutiveFailures = 0
        while !Task.isCancelled {
            update(id) { $0.state = .starting }
            let outcome = await runOnce(id: id, plugin: make())
            switch outcome {
            case .stopped:
                update(id) { $0.state = .stopped }
                return
            case .failed(let reason, let healthyFor):
                // A plugin that ran healthily for a while starts its backoff afresh.
                if healthyFor > configuration.initialBackoff * 20 { consecutiveFailures = 0 }
                consecutiveFailures += 1
                update(id) {
                    $0.state = .failed
                    $0.lastError = reason
                    $0.restarts += 1
                }
                logger.warning("plugin failed; restarting", metadata: ["plugin": "\(id)", "reason": "\(reason)"])
                let delay = min(
                    configuration.maximumBackoff, configuration.initialBackoff * (1 << min(consecutiveFailures - 1, 20))
                )
                try? await Task.sleep(for: delay)
            }
        }
        update(id) { $0.state = .stopped }
    }

    enum RunOutcome {
        case stopped
        case failed(String, healthyFor: Duration)
    }

    /// Starts one instance and watches it until it fails or the host stops.
    func runOnce(id: String, plugin: any Plugin) async -> RunOutcome {
        let executor = ThreadExecutor(name: "sluice-plugin-\(id)")
        let client: SluiceClient
        do {
            var clientConfiguration: ClientConfiguration
            if let context = configuration.inprocContext {
                // In process: the endpoint is the identity; no token, no handshake.
                clientConfiguration = ClientConfiguration(
                    endpoint: InprocEndpoint.requests(id), eventEndpoint: InprocEndpoint.events(id))
                clientConfiguration.sharedContext = context
            } else {
                clientConfiguration = ClientConfiguration(
                    endpoint: "ipc://" + configuration.dataDirectory.appendingPathComponent("sluice.sock").path,
                    eventEndpoint: "ipc://" + configuration.dataDirectory.appendingPathComponent("events.sock").path,
                    credentials: try ClientCredentials(
                        name: id, tokenFile: configuration.dataDirectory.appendingPathComponent("tokens/\(id).token")
                    )
                )
            }
            clientConfiguration.attemptTimeout = configuration.callTimeout
            client = try SluiceClient(configuration: clientConfiguration)
        } catch {
            executor.stop()
            return .failed("cannot connect as \(id): \(error)", healthyFor: .zero)
        }
        let broker = PluginBroker(
            client: client, failureThreshold: configuration.breakerThreshold, coolDown: configuration.breakerCoolDown)
        brokers.withLock { $0[id] = broker }
        let context = PluginContext(id: id, broker: broker, logger: Logger(label: "sluice.plugin.\(id)"))
        var hung = false
        defer {
            brokers.withLock { $0[id] = nil }
            client.close()
            // A hung plugin's thread is stuck in its job: it is abandoned, not joined.
            executor.stop()
        }

        switch await withTimeout(configuration.healthTimeout, on: executor, { try await plugin.initialize(context) }) {
        case .value: break
        case .threw(let error): return .failed("initialize threw: \(error)", healthyFor: .zero)
        case .timedOut:
            return .failed("initialize did not return within \(configuration.healthTimeout)", healthyFor: .zero)
        case .cancelled: return .stopped
        }
        update(id) { $0.state = .healthy }
        let started = ContinuousClock.now
        let ending = RunEnding()
        let work = Task(executorPreference: executor) {
            do {
                try await plugin.run(context)
                ending.record("run() returned")
            } catch {
                ending.record("run() threw: \(error)")
            }
        }

        var outcome: RunOutcome = .stopped
        watch: while true {
            do {
                try await Task.sleep(for: configuration.healthInterval)
            } catch {
                break watch  // the host is stopping
            }
            if let reason = ending.reason, !Task.isCancelled {
                outcome = .failed(reason, healthyFor: started.duration(to: .now))
                break watch
            }
            switch await withTimeout(configuration.healthTimeout, on: executor, { await plugin.health() }) {
            case .value(.healthy): update(id) { $0.state = .healthy }
            case .value(.degraded(let reason)):
                update(id) {
                    $0.state = .degraded
                    $0.lastError = reason
                }
            case .timedOut:
                hung = true
                outcome = .failed(
                    "health() did not answer within \(configuration.healthTimeout): hung",
                    healthyFor: started.duration(to: .now))
                break watch
            case .threw, .cancelled:
                break watch
            }
        }
        if case .stopped = outcome {
            update(id) { $0.state = .stopping }
            await broker.drain(limit: configuration.drainTimeout)
        }
        work.cancel()
        if !hung { _ = await withTimeout(configuration.healthTimeout, on: executor, { await plugin.shutdown() }) }
        return outcome
    }

    enum Timed<Value: Sendable> {
        case value(Value)
        case threw(any Error)
        case timedOut
        case cancelled
    }

    /// Runs `body` on the plugin's thread, giving up after `limit` (the job may go on running:
    /// a hung plugin cannot be stopped, only abandoned). Nothing here waits for the job once the
    /// limit passed: a job stuck on its thread for good leaves only a suspended watcher behind.
    func withTimeout<Value: Sendable>(
        _ limit: Duration, on executor: ThreadExecutor, _ body: @escaping @Sendable () async throws -> Value
    ) async -> Timed<Value> {
        let job = Task(executorPreference: executor) { try await body() }
        let first = FirstOutcome<Value>()
        Task {
            switch await job.result {
            case .success(let value): first.finish(.value(value))
            case .failure(let error): first.finish(.threw(error))
            }
        }
        let timer = Task {
            do {
                try await Task.sleep(for: limit)
                first.finish(.timedOut)
            } catch {}  // cancelled: the job answered first
        }
        let outcome = await withTaskCancellationHandler {
            await first.value()
        } onCancel: {
            first.finish(.cancelled)
        }
        timer.cancel()
        switch outcome {
        case .timedOut, .cancelled: job.cancel()
        case .value, .threw: break
        }
        return outcome
    }
}

/// The first of several outcomes racing to be reported; the later ones are dropped.
final class FirstOutcome<Value: Sendable>: Sendable {
    private let state = Mutex<(outcome: PluginHost.Timed<Value>?, waiter: CheckedContinuation<PluginHost.Timed<Value>, Never>?)>(
        (nil, nil))

    func finish(_ outcome: PluginHost.Timed<Value>) {
        let waiter = state.withLock { state -> CheckedContinuation<PluginHost.Timed<Value>, Never>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: outcome)
    }

    func value() async -> PluginHost.Timed<Value> {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> PluginHost.Timed<Value>? in
                if let outcome = state.outcome { return outcome }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// How a plugin's `run` ended, set once by its task, read by the supervisor.
final class RunEnding: Sendable {
    private let state = Mutex<String?>(nil)
    var reason: String? { state.withLock { $0 } }
    func record(_ reason: String) { state.withLock { $0 = $0 ?? reason } }
}
