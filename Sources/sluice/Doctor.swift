import ArgumentParser
import Foundation
import GRDB
import Logging
import SluiceBroker
import SluiceWire

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Check a data directory: permissions, manifests, database integrity, WAL sizes, orphan files, other processes holding databases open.",
        discussion:
            "Prints one line per check (ok, warning, problem) and exits 1 when there is a problem. Read-only; safe while serving. With --json, one {\"level\", \"message\"} object per check."
    )

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Option(
        name: .long, parsing: .singleValue, help: "Contract sets, as for serve. Default: examples/tasks when it exists."
    )
    var contracts: [String] = []

    @Flag(name: .long, help: "One JSON object per check ({\"level\", \"message\"}) instead of lines of text.")
    var json = false

    @OptionGroup var postgres: PostgresOptions

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir).standardizedFileURL
        var problems = 0
        func report(_ level: String, _ text: String) {
            if level == "problem" { problems += 1 }
            if json {
                print(JSONValue.object(["level": .string(level), "message": .string(text)]).canonicalString)
            } else {
                print("\(level): \(text)")
            }
        }
        let files = FileManager.default
        guard files.fileExists(atPath: data.path) else {
            report("problem", "\(data.path) does not exist")
            throw ExitCode(1)
        }

        func mode(_ path: String) -> Int? {
            (try? files.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
        }
        if let bits = mode(data.path) {
            bits & 0o077 == 0
                ? report("ok", "\(data.path) is private (\(String(bits, radix: 8)))")
                : report(
                    "problem",
                    "\(data.path) is mode \(String(bits, radix: 8)); other users can reach its sockets: chmod 700")
        }
        let tokens = data.appendingPathComponent("tokens")
        for name in ((try? files.contentsOfDirectory(atPath: tokens.path)) ?? []).sorted() {
            let path = tokens.appendingPathComponent(name).path
            if let bits = mode(path), bits & 0o077 != 0 {
                report("problem", "\(path) is mode \(String(bits, radix: 8)); tokens must be 0600")
            }
        }

        var registry = ContractRegistry()
        do {
            registry = try loadRegistry(dataDir: dataDir, contracts: contracts)
            report("ok", "\(registry.contracts.count) contracts and \(registry.plugins.count) plugins load")
        } catch {
            report("problem", "contracts or plugins do not load: \(error)")
        }

        let expected = Set(registry.databases.map { registry.file(of: $0) }).union(["audit.db", "core.db"])
        let found =
            (((try? files.contentsOfDirectory(atPath: data.path)) ?? []).filter { $0.hasSuffix(".db") })
            + (((try? files.contentsOfDirectory(atPath: data.appendingPathComponent("plugins").path)) ?? [])
                .filter { $0.hasSuffix(".db") }.map { "plugins/" + $0 })
        for file in found.sorted() {
            let url = data.appendingPathComponent(file)
            if !expected.contains(file) {
                report("problem", "\(file) belongs to no contract set or installed plugin (orphan)")
            }
            var configuration = Configuration()
            configuration.readonly = true
            do {
                let queue = try DatabaseQueue(path: url.path, configuration: configuration)
                let integrity = try await queue.read { db in
                    try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? ""
                }
                integrity == "ok" ? report("ok", "\(file): integrity ok") : report("problem", "\(file): \(integrity)")
                let name = String(url.deletingPathExtension().lastPathComponent)
                if let migrations = registry.migrations[
                    registry.databases.first { registry.file(of: $0) == file } ?? name]
                {
                    let recorded = try await queue.read { db -> [String: String] in
                        guard try db.tableExists("sluice_migrations") else { return [:] }
                        var map: [String: String] = [:]
                        for row in try Row.fetchAll(db, sql: "SELECT name, checksum FROM sluice_migrations") {
                            map[row["name"]] = row["checksum"]
                        }
                        return map
                    }
                    for migration in migrations {
                        if let checksum = recorded[migration.name], checksum != migration.checksum {
                            report("problem", "\(file): migration \(migration.name) changed after it ran")
                        } else if recorded[migration.name] == nil {
                            report("warning", "\(file): migration \(migration.name) has not run yet")
                        }
                    }
                }
            } catch {
                report("problem", "\(file): cannot be read: \(error)")
            }
            if let size = (try? files.attributesOfItem(atPath: url.path + "-wal")[.size] as? Int) ?? nil,
                size > 64 << 20
            {
                report("warning", "\(file)-wal is \(size >> 20) MiB: a reader may hold an old snapshot")
            }
        }
        // exclusive-postgres databases live on the server (the server itself is not reached
        // here): their role's password must be the broker's alone.
        for name in registry.postgresDatabases.sorted() {
            let passwordFile = data.appendingPathComponent("postgres/\(name).password")
            if let bits = mode(passwordFile.path) {
                bits & 0o077 != 0
                    ? report("problem", "\(passwordFile.path) is mode \(String(bits, radix: 8)); it must be 0600")
                    : report(
                        "ok",
                        "\(name): exclusive-postgres (schemas plugin_\(name) and sluice_\(name) on the broker's server; not checked from here)")
            } else {
                report("warning", "\(name): exclusive-postgres, not provisioned yet (the broker provisions it when it reaches the server)")
            }
            if postgres.postgresURL != nil {
                do {
                    guard let server = try postgres.server() else { continue }
                    for finding in PostgresDoctor.check(
                        name, server: server, migrations: registry.migrations[name] ?? [], logger: Logger(label: "sluice.doctor"))
                    {
                        report(finding.level, finding.message)
                    }
                } catch {
                    report("problem", "\(error)")
                }
            } else {
                report("warning", "\(name): exclusive-postgres; give --postgres-url to check its role and migrations on the server")
            }
        }
        // The golden invariant at runtime: who else holds the databases open. The broker is the
        // process holding broker.lock; sluice's own read-only tools are named as such.
        let brokers = Set(
            OpenFileHolders.holders(of: [data.appendingPathComponent("broker.lock")], excluding: nil).map(\.pid))
        let ownExecutable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let holders = OpenFileHolders.holders(
            of: found.map { data.appendingPathComponent($0) }, excluding: ProcessInfo.processInfo.processIdentifier
        ).filter { !brokers.contains($0.pid) }
        for holder in holders {
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder.pid)/exe")) == ownExecutable {
                report("warning", "pid \(holder.pid) (\(holder.command)), a sluice command, has \(holder.file) open")
            } else {
                report(
                    "problem",
                    "pid \(holder.pid) (\(holder.command)) holds \(holder.file) open: only the broker may open its databases")
            }
        }
        if holders.isEmpty { report("ok", "no process but the broker holds a database open") }
        // The audit trail: the archive's chain and anchors (what `sluice audit verify` checks).
        for trail in (try? AuditTrail.verify(dataDirectory: data)) ?? [] {
            if trail.problems.isEmpty {
                if trail.segments > 0 {
                    report("ok", "\(trail.stream): audit archive of \(trail.segments) segment(s) verified")
                }
            } else {
                for problem in trail.problems { report("problem", "audit trail: \(problem)") }
            }
        }
        if json {
            if problems > 0 { throw ExitCode(1) }
            return
        }
        if problems > 0 {
            print("\(problems) problem(s)")
            throw ExitCode(1)
        }
        print("no problems")
    }
}
