import Foundation
import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// The golden invariant — nothing but the broker opens its databases — checked in a host
/// application's tree (`sluice validate`) and at runtime (`sluice doctor`, and the broker itself).
@Suite(.timeLimit(.minutes(2))) struct InvariantTests {
    static func write(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: true, encoding: .utf8)
    }

    @Test func validateFindsCodeAndConfigThatOpenTheBrokersFiles() throws {
        let directory = TemporaryDirectory()
        let app = directory.path("app")
        let data = app.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        // Three that open broker-owned files directly.
        try Self.write(
            "import GRDB\nlet queue = try DatabaseQueue(path: \"data/tasks.db\")\n",
            to: app.appendingPathComponent("Sources/App/Store.swift"))
        try Self.write(
            "import sqlite3\n\nconnection = sqlite3.connect('/srv/app/data/plugins.db')\n",
            to: app.appendingPathComponent("scripts/report.py"))
        try Self.write(
            "PORT=8080\nDATABASE_URL=sqlite:///var/lib/app/data/core.db\n", to: app.appendingPathComponent("config/app.env"))
        // Clean: a client that only mentions a name, an app opening its own SQLite file, build
        // output, and the data directory itself.
        try Self.write(
            "import SluiceClient\n// tasks.db belongs to the broker: ask it.\nlet rows = try await client.query(\"task.list@v1\")\n",
            to: app.appendingPathComponent("Sources/App/Client.swift"))
        try Self.write(
            "let cache = try DatabaseQueue(path: \"cache/mytasks.db\")\n",
            to: app.appendingPathComponent("Sources/App/Cache.swift"))
        try Self.write(
            "let q = try DatabaseQueue(path: \"data/tasks.db\")\n",
            to: app.appendingPathComponent(".build/checkouts/Other.swift"))
        try Self.write("sqlite3 tasks.db .dump\n", to: data.appendingPathComponent("notes.sh"))

        let arguments = ["--data-dir", data.path, "--contracts", Fixtures.tasksContracts.path]
        let result = try Fixtures.run("sluice", ["validate", app.path, "--json"] + arguments)
        #expect(result.status == 1, "\(result.output)")
        let findings = try result.output.split(separator: "\n").map { try JSONValue(parsing: String($0)) }
        #expect(
            Set(findings.compactMap { $0["file"]?.stringValue }) == ["tasks.db", "plugins.db", "core.db"], "\(findings)")
        #expect(findings.allSatisfy { !($0["path"]?.stringValue ?? "").contains(".build") })
        let store = try #require(findings.first { $0["file"] == "tasks.db" })
        #expect(store["line"] == 2)
        #expect(store["opener"] == "DatabaseQueue(")

        // The clean files alone pass.
        let clean = try Fixtures.run(
            "sluice",
            ["validate", app.appendingPathComponent("Sources/App/Client.swift").path,
                app.appendingPathComponent("Sources/App/Cache.swift").path] + arguments)
        #expect(clean.status == 0, "\(clean.output)")
        #expect(clean.output.contains("ok: nothing opens the broker's databases directly"))
    }

    /// Another process opens tasks.db behind the broker's back: the broker notices (the open wakes
    /// it; no timer), logs and audits it on `audit.rejected`, and `sluice doctor` names the pid.
    @Test func anotherProcessHoldingADatabaseIsAuditedAndReportedByDoctor() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let broker = try BrokerProcess(dataDirectory: data)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing())
        let watcher = try RawSocket(
            .sub, endpoint: broker.eventEndpoint, credentials: try .operator(dataDirectory: data))
        try watcher.socket.subscribe("audit.rejected")
        try watcher.socket.subscribe("hb")
        while let frames = try watcher.receive(), frames.first != frame("hb") {}

        // A process that opens tasks.db and keeps it open until its stdin closes.
        let intruder = Process()
        intruder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        intruder.arguments = [
            "python3", "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT count(*) FROM tasks').fetchone(); print('open', flush=True); sys.stdin.read()",
            data.appendingPathComponent("tasks.db").path,
        ]
        let input = Pipe()
        let output = Pipe()
        intruder.standardInput = input
        intruder.standardOutput = output
        try intruder.run()
        defer {
            try? input.fileHandleForWriting.close()
            intruder.waitUntilExit()
        }
        let ready = String(decoding: Fixtures.readChunk(output.fileHandleForReading.fileDescriptor), as: UTF8.self)
        #expect(ready.hasPrefix("open"))
        let pid = intruder.processIdentifier

        var record: JSONValue?
        _ = try watcher.awaitEvents { event in
            if event.body["code"] == "direct_open", event.body["pid"] == .int(Int64(pid)) { record = event.body }
            return record != nil
        }
        let audited = try #require(record, "no direct_open record for pid \(pid)")
        #expect(audited["actor"] == .string("(process \(pid))"))
        #expect(audited["file"]?.stringValue?.hasPrefix("tasks.db") == true)
        #expect((audited["command"]?.stringValue ?? "").contains("python3"))

        let doctor = try Fixtures.run("sluice", ["doctor", "--data-dir", data.path])
        #expect(doctor.status == 1, "\(doctor.output)")
        #expect(doctor.output.contains("pid \(pid)"), "\(doctor.output)")

        try input.fileHandleForWriting.close()
        intruder.waitUntilExit()
        let after = try Fixtures.run("sluice", ["doctor", "--data-dir", data.path])
        #expect(!after.output.contains("pid \(pid)"), "\(after.output)")
        #expect(after.output.contains("no process but the broker holds a database open"), "\(after.output)")
    }
}
