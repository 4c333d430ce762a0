import ArgumentParser
import Foundation
import SluiceBroker
import SluiceWire

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CI gate: find code or config that opens the broker's SQLite files directly.",
        discussion: """
            The golden invariant: nothing but the broker opens its databases. Scans source, scripts and \
            configuration under the given paths (default: the current directory; .git, .build, node_modules and the \
            data directory are skipped) for lines that name a broker-owned file (tasks.db, plugins.db, \
            plugins/<id>.db, core.db, audit.db) in files that open SQLite (sqlite3_open, DatabaseQueue, \
            sqlite3.connect, sqlite: URLs, ATTACH, the sqlite3 shell, …). Exit status: 0 when none, 1 when some \
            (each printed as path:line), 2 on wrong arguments. With --json, one object per finding.
            """
    )

    @Argument(help: "Files or folders to scan (default: .).")
    var paths: [String] = []

    @Option(name: .long, help: "The broker's data directory (its databases name the owned files; it is not scanned).")
    var dataDir: String = "data"

    @Option(
        name: .long, parsing: .singleValue, help: "Contract sets, as for serve. Default: examples/tasks when it exists."
    )
    var contracts: [String] = []

    @Flag(name: .long, help: "Print JSON, one object per finding.")
    var json = false

    func run() async throws {
        let registry = try loadRegistry(dataDir: dataDir, contracts: contracts)
        let scan = DirectAccessScan(registry: registry)
        let roots = (paths.isEmpty ? ["."] : paths).map { URL(fileURLWithPath: $0).standardizedFileURL }
        let findings = scan.scan(roots, excluding: [URL(fileURLWithPath: dataDir).standardizedFileURL])
        for finding in findings {
            if json {
                let members: [String: JSONValue] = [
                    "path": .string(finding.path), "line": .int(Int64(finding.line)), "file": .string(finding.file),
                    "opener": .string(finding.opener), "text": .string(finding.text),
                ]
                print(JSONValue.object(JSONObject(members)).canonicalString)
            } else {
                print("\(finding.path):\(finding.line): opens \(finding.file) directly (\(finding.opener)): \(finding.text)")
            }
        }
        if !json {
            print(
                findings.isEmpty
                    ? "ok: nothing opens the broker's databases directly (\(scan.ownedFiles.count) files checked for)"
                    : "\(findings.count) place(s) open the broker's databases directly: send commands and queries to the broker instead"
            )
        }
        if !findings.isEmpty { throw ExitCode(1) }
    }
}
