import Foundation
@testable import SluiceBroker
import SluiceClient
import SluiceTestSupport
import SluiceWire
import Testing

/// `exclusive-postgres` plugins against a real PostgreSQL (Debian's, a cluster per test):
/// provisioning, the same promises as a SQLite database (one transaction for ledger, data and
/// log; idempotency; events after commit), the role's isolation, and a server that goes away.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PostgresTests {
    static let notesPlugin = Fixtures.repositoryRoot.appendingPathComponent("examples/postgres-notes")

    /// A broker serving the tasks contracts and the notes plugin, on `cluster`.
    static func broker(_ cluster: PostgresCluster, directory: TemporaryDirectory = TemporaryDirectory()) throws
        -> RunningBroker
    {
        try PluginCatalog(dataDirectory: directory.path("data")).install(from: notesPlugin)
        return try RunningBroker(directory: directory) { $0.postgres = cluster.server }
    }

    static func client(_ broker: RunningBroker, as name: String, maxAttempts: Int = 1) throws -> SluiceClient {
        let token = try #require(TokenStore(dataDirectory: broker.broker.configuration.dataDirectory).token(for: name))
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint, eventEndpoint: broker.eventEndpoint,
            credentials: ClientCredentials(name: name, token: token))
        configuration.attemptTimeout = .seconds(20)
        configuration.maxAttempts = maxAttempts
        return try SluiceClient(configuration: configuration)
    }

    @Test func commandsCommitInPostgreSQLOnceWithTheirLedgerAndLog() async throws {
        let cluster = try PostgresCluster()
        let broker = try Self.broker(cluster)
        defer { broker.stop() }
        let events = try broker.subscriber(["audit.notes", "inval.notes"])
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }

        let first = try await notes.send("notes.add@v1", ["ref": "a", "body": "hello", "stars": 4], idempotencyKey: "k1")
        #expect(first.db == "notes" && first.seq == 1 && !first.duplicate)
        #expect(first.result["rows"] == [["ref": "a", "stars": 4]])
        #expect(first.result["changes"] == 1)
        // The same key and payload: the stored answer, nothing written again.
        let again = try await notes.send("notes.add@v1", ["ref": "a", "body": "hello", "stars": 4], idempotencyKey: "k1")
        #expect(again.duplicate && again.seq == 1 && again.result == first.result)
        // The same key with another payload: refused.
        await #expect(throws: WireError.self) {
            try await notes.send("notes.add@v1", ["ref": "b", "body": "other"], idempotencyKey: "k1")
        }
        do {
            _ = try await notes.send("notes.add@v1", ["ref": "b", "body": "other"], idempotencyKey: "k1")
        } catch let error as WireError {
            #expect(error.code == .idempotencyMismatch && error.details["seq"] == 1)
        }
        // A CHECK constraint refuses: stored and logged at the next seq, the same answer again.
        for _ in 0..<2 {
            do {
                _ = try await notes.send("notes.add@v1", ["ref": "c", "body": "forbidden"], idempotencyKey: "k2")
                Issue.record("a CHECK violation was acknowledged")
            } catch let error as WireError {
                #expect(error.code == .constraintViolation && error.details["sqlstate"] == "23514", "\(error)")
            }
        }
        let third = try await notes.send("notes.add@v1", ["ref": "d", "body": "later"], idempotencyKey: "k3")
        #expect(third.seq == 3)

        // What PostgreSQL holds: two notes, a gap-free log, the ledger's three keys.
        #expect(try cluster.psql("SELECT ref || ':' || stars || ':' || author FROM plugin_notes.notes ORDER BY ref") == "a:4:notes\nd:0:notes")
        #expect(try cluster.psql("SELECT string_agg(seq || ':' || status, ',' ORDER BY seq) FROM sluice_notes.log") == "1:ok,2:failed,3:ok")
        #expect(try cluster.psql("SELECT string_agg(idempotency_key || ':' || seq, ',' ORDER BY seq) FROM sluice_notes.ledger") == "k1:1,k2:2,k3:3")

        // Events after commit, with the log's seqs.
        var seen: [String] = []
        var invalidations: [Int64: JSONValue] = [:]
        while seen.count < 6, let frames = try events.receive() {
            let event = try Event(frames: frames)
            seen.append("\(event.topic)#\(event.seq)")
            if event.topic == "inval.notes" { invalidations[event.seq] = event.body }
        }
        #expect(seen == ["audit.notes#1", "inval.notes#1", "audit.notes#2", "inval.notes#2", "audit.notes#3", "inval.notes#3"])
        // PostgreSQL has no row ids: the tables a command wrote, with no rows listed; a refused
        // command wrote none.
        #expect(invalidations[1]?["tables"] == ["notes": []] && invalidations[1]?["keys"] == ["notes"])
        #expect(invalidations[2]?["tables"] == [:])

        // Reads: a named query, STATUS and SYNC, from PostgreSQL.
        let query = try await notes.query("notes.by-author@v1", ["author": "notes"])
        #expect(query.db == "notes" && query.seq == 3 && !query.truncated)
        #expect(query.columns == ["ref", "body", "stars", "created_at"])
        #expect(query.rows.map { Array($0.prefix(3)) } == [["a", "hello", 4], ["d", "later", 0]])
        #expect(query.rows.allSatisfy { $0[3].stringValue?.hasSuffix("Z") == true })
        var stored = first
        stored.duplicate = true
        #expect(try await notes.status(idempotencyKey: "k1") == .committed(stored))
        if case .failed(let db, let seq, let error) = try await notes.status(idempotencyKey: "k2", db: "notes") {
            #expect(db == "notes" && seq == 2 && error.code == .constraintViolation)
        } else {
            Issue.record("k2 is not a stored failure")
        }
        #expect(try await notes.status(idempotencyKey: "never") == .unknown)
        let (replayed, end) = try await notes.sync(topic: "audit.notes", fromSeq: 2)
        #expect(replayed.map(\.seq) == [2, 3] && end.headSeq == 3 && end.complete)
        #expect(replayed.first?.body["status"] == "failed")

        // A gap-free subscription (SYNC, then live events, heartbeats checked) delivers the stream
        // in order; heartbeats announce the stream's real position.
        var subscription = notes.subscribe(topic: "audit.notes").makeAsyncIterator()
        var delivered: [Int64] = []
        while delivered.count < 3, let event = try await subscription.next() { delivered.append(event.seq) }
        #expect(delivered == [1, 2, 3])
        let heartbeats = try broker.subscriber(["hb"])
        var announced: JSONValue?
        while announced == nil, let frames = try heartbeats.receive() {
            announced = try Event(frames: frames).body["streams"]?["notes"]
        }
        #expect(announced?["seq"] == 3 && announced?["epoch"]?.stringValue == end.epoch, "\(String(describing: announced))")

        // The SQLite databases beside it are served as before.
        let local = try broker.client()
        defer { local.close() }
        #expect(try await local.send("task.create@v1", ["title": "beside"]).db == "tasks")
    }

    /// Commands in flight together share a transaction; one refused by a constraint among them
    /// is undone alone (the batch runs again with a savepoint per command).
    /// `sluice doctor --postgres-url`: the role's rights and the migrations, as the server has them.
    @Test func doctorChecksTheRolesRightsAndTheMigrationsOnTheServer() async throws {
        let cluster = try PostgresCluster()
        let broker = try Self.broker(cluster)
        defer { broker.stop() }
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        _ = try await notes.send("notes.add@v1", ["ref": "a", "body": "x"])
        let data = broker.broker.configuration.dataDirectory
        let passwordFile = broker.directory.path("pg.pass")
        try cluster.password.write(to: passwordFile, atomically: true, encoding: .utf8)
        let arguments = [
            "doctor", "--data-dir", data.path, "--contracts", Fixtures.tasksContracts.path, "--postgres-url",
            "postgres://\(PostgresCluster.adminRole)@127.0.0.1:\(cluster.port)/\(PostgresCluster.database)",
            "--postgres-password-file", passwordFile.path,
        ]
        let healthy = try Fixtures.run("sluice", arguments)
        #expect(healthy.output.contains("ok: notes: role plugin_notes holds no right outside"), "\(healthy.output)")
        #expect(healthy.output.contains("ok: notes: 1 migration(s) applied, as on disk"), "\(healthy.output)")
        #expect(!healthy.output.contains("problem: notes"), "\(healthy.output)")

        try cluster.psql("CREATE TABLE public.operator_secrets (v text); GRANT SELECT ON public.operator_secrets TO plugin_notes")
        let granted = try Fixtures.run("sluice", arguments)
        #expect(granted.status == 1)
        #expect(granted.output.contains("problem: notes: role plugin_notes holds 1 grant(s) on tables outside"), "\(granted.output)")
    }

    /// `sluice replay <id> --verify`: the log run again into a scratch schema gives every logged
    /// outcome and the same tables; a row changed behind the broker's back is found.
    @Test func replayVerifiesAPostgresDatabaseAgainstItsLog() async throws {
        let cluster = try PostgresCluster()
        let broker = try Self.broker(cluster)
        defer { broker.stop() }
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        for index in 0..<30 {
            _ = try? await notes.send(
                "notes.add@v1", ["ref": .string("r\(index)"), "body": index == 7 ? "forbidden" : .string("note \(index)"), "stars": .int(Int64(index % 6))])
        }
        let data = broker.broker.configuration.dataDirectory
        let passwordFile = broker.directory.path("pg.pass")
        try cluster.password.write(to: passwordFile, atomically: true, encoding: .utf8)
        let arguments = [
            "replay", "notes", "--verify", "--data-dir", data.path, "--contracts", Fixtures.tasksContracts.path,
            "--postgres-url", "postgres://\(PostgresCluster.adminRole)@127.0.0.1:\(cluster.port)/\(PostgresCluster.database)",
            "--postgres-password-file", passwordFile.path,
        ]
        let clean = try Fixtures.run("sluice", arguments)
        #expect(clean.status == 0, "\(clean.output)")
        #expect(clean.output.contains("replayed 30 commands (seq 1…30)"), "\(clean.output)")
        #expect(clean.output.contains("verify: every table is identical"), "\(clean.output)")

        try cluster.psql("UPDATE plugin_notes.notes SET body = 'changed behind its back' WHERE ref = 'r3'")
        let tampered = try Fixtures.run("sluice", arguments)
        #expect(tampered.status == 1)
        #expect(tampered.output.contains("1 live row(s) not rebuilt, 1 rebuilt row(s) not live"), "\(tampered.output)")
        #expect(try cluster.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'sluice_replay_notes'") == "0")
    }

    @Test func aRefusedCommandInABatchLeavesTheOthersCommitted() async throws {
        let cluster = try PostgresCluster()
        let broker = try Self.broker(cluster)
        defer { broker.stop() }
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        let outcomes = await withTaskGroup(of: (Int, Result<Acknowledgement, any Error>).self) { group in
            for index in 0..<40 {
                group.addTask {
                    let body: JSONValue = index % 10 == 5 ? "forbidden" : .string("note \(index)")
                    do {
                        return (index, .success(try await notes.send("notes.add@v1", ["ref": .string("r\(index)"), "body": body])))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var outcomes: [Int: Result<Acknowledgement, any Error>] = [:]
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
        var seqs: [Int64] = []
        for (index, outcome) in outcomes {
            switch outcome {
            case .success(let ack):
                #expect(index % 10 != 5, "r\(index) must be refused")
                seqs.append(ack.seq)
            case .failure(let error):
                #expect(index % 10 == 5 && (error as? WireError)?.code == .constraintViolation, "r\(index): \(error)")
            }
        }
        #expect(seqs.count == 36)
        #expect(try cluster.psql("SELECT count(*) FROM plugin_notes.notes") == "36")
        // Every command took a seq, refused ones too, with no gaps.
        #expect(try cluster.psql("SELECT count(*) || ' ' || max(seq) || ' ' || count(*) FILTER (WHERE status = 'failed') FROM sluice_notes.log") == "40 40 4")
        #expect(try cluster.psql("SELECT count(*) FROM sluice_notes.ledger") == "40")
    }

    @Test func thePluginsRoleHasNoRightsOutsideItsOwnSchemas() async throws {
        let cluster = try PostgresCluster()
        try cluster.psql("CREATE TABLE public.operator_secrets (v text); INSERT INTO public.operator_secrets VALUES ('s')")
        let broker = try Self.broker(cluster)
        defer { broker.stop() }
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        _ = try await notes.send("notes.add@v1", ["ref": "a", "body": "hello"])

        let data = broker.broker.configuration.dataDirectory
        let password = try String(contentsOf: data.appendingPathComponent("postgres/notes.password"), encoding: .utf8)
        let mode = try FileManager.default.attributesOfItem(atPath: data.appendingPathComponent("postgres/notes.password").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Its own data: yes. Anything else: PostgreSQL says no.
        #expect(try cluster.psql("SELECT count(*) FROM notes", as: "plugin_notes", password: password) == "1")
        for (what, sql) in [
            ("another role's table", "SELECT * FROM public.operator_secrets"),
            ("a table outside its schemas", "CREATE TABLE public.mine (v text)"),
            ("rewriting its log", "DELETE FROM sluice_notes.log"),
            ("rewriting a log row", "UPDATE sluice_notes.log SET status = 'ok'"),
            ("a new role", "CREATE ROLE escape LOGIN"),
            ("a new database", "CREATE DATABASE escape"),
            ("becoming the administrator", "SET ROLE sluice_admin"),
        ] {
            #expect(throws: PostgresCluster.Failure.self, "\(what)") {
                try cluster.psql(sql, as: "plugin_notes", password: password)
            }
        }
        #expect(try cluster.psql("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'plugin_notes'") == "f")
        #expect(try cluster.psql("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'plugin_notes'") == "8")
    }

    @Test func aServerThatIsDownFailsOnlyItsOwnDatabaseAndComesBack() async throws {
        let cluster = try PostgresCluster()
        let broker = try Self.broker(cluster)
        defer { broker.stop() }
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        _ = try await notes.send("notes.add@v1", ["ref": "before", "body": "up"], idempotencyKey: "before")

        try cluster.stop()
        do {
            _ = try await notes.send("notes.add@v1", ["ref": "during", "body": "down"], idempotencyKey: "during")
            Issue.record("a command was acknowledged while PostgreSQL was down")
        } catch let error as WireError {
            #expect(error.code == .unavailable && error.retryable && error.retryAfterMs != nil, "\(error)")
            #expect(error.details["db"] == "notes")
        }
        // The SQLite database is not held up.
        let local = try broker.client()
        defer { local.close() }
        #expect(try await local.send("task.create@v1", ["title": "while postgres is down"]).db == "tasks")

        // Back: the same command with the same key commits once; the client waits retry_after_ms.
        try cluster.start()
        let patient = try Self.client(broker, as: "notes", maxAttempts: 20)
        defer { patient.close() }
        let ack = try await patient.send("notes.add@v1", ["ref": "during", "body": "down"], idempotencyKey: "during")
        #expect(ack.seq == 2 && !ack.duplicate)
        #expect(try cluster.psql("SELECT string_agg(ref, ',' ORDER BY ref) FROM plugin_notes.notes") == "before,during")
    }

    @Test func aMigrationChangedAfterItRanIsRefusedAndNothingIsAcknowledged() async throws {
        let cluster = try PostgresCluster()
        let directory = TemporaryDirectory()
        do {
            let broker = try Self.broker(cluster, directory: directory)
            let notes = try Self.client(broker, as: "notes")
            _ = try await notes.send("notes.add@v1", ["ref": "a", "body": "x"])
            notes.close()
            broker.stop()
        }
        let migration = directory.path("data/installed/notes/migrations/001_create_notes.sql")
        try (try String(contentsOf: migration, encoding: .utf8) + "\n-- edited\n").write(
            to: migration, atomically: true, encoding: .utf8)
        let broker = try RunningBroker(directory: directory) { $0.postgres = cluster.server }
        defer { broker.stop() }
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        do {
            _ = try await notes.send("notes.add@v1", ["ref": "b", "body": "y"])
            Issue.record("acknowledged with a drifted migration")
        } catch let error as WireError {
            #expect(error.code == .unavailable && error.message.contains("changed after it ran"), "\(error)")
        }
        #expect(try cluster.psql("SELECT count(*) FROM plugin_notes.notes") == "1")
    }

    @Test func credentialsRotateWhileServingAndAPurgeDropsTheSchemasAndRole() async throws {
        let cluster = try PostgresCluster()
        let broker = try Self.broker(cluster)
        defer { broker.stop() }
        let data = broker.broker.configuration.dataDirectory
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        let local = try broker.client()
        defer { local.close() }
        _ = try await notes.send("notes.add@v1", ["ref": "before", "body": "x"])
        let passwordFile = data.appendingPathComponent("postgres/notes.password")
        let old = try String(contentsOf: passwordFile, encoding: .utf8)

        try PostgresProvisioning.newPassword("notes", dataDirectory: data)
        let rotated = try await local.reload(action: "rotate-credentials", plugin: "notes")
        #expect(rotated["changes"]?.arrayValue?.first?["action"] == "credentials_rotated")
        // The new workers connected with the new password: commands go on.
        #expect(try await notes.send("notes.add@v1", ["ref": "after", "body": "y"]).seq == 2)
        let new = try String(contentsOf: passwordFile, encoding: .utf8)
        #expect(new != old)
        // A backup of the data directory carries the role's password (0600), so a restored
        // directory connects with it.
        let backup = broker.directory.path("backup")
        try DataDirectoryBackup.backup(dataDirectory: data, to: backup)
        let copied = backup.appendingPathComponent("postgres/notes.password")
        #expect(try String(contentsOf: copied, encoding: .utf8) == new)
        #expect(try FileManager.default.attributesOfItem(atPath: copied.path)[.posixPermissions] as? Int == 0o600)
        #expect(throws: PostgresCluster.Failure.self) { try cluster.psql("SELECT 1", as: "plugin_notes", password: old) }
        #expect(try cluster.psql("SELECT count(*) FROM notes", as: "plugin_notes", password: new) == "2")

        _ = try PluginCatalog(dataDirectory: data).remove("notes")
        let removed = try await local.reload(action: "remove", plugin: "notes", purge: true)
        #expect(removed["changes"]?.arrayValue?.first?["purged"] == true)
        #expect(try cluster.psql("SELECT count(*) FROM pg_namespace WHERE nspname IN ('plugin_notes', 'sluice_notes')") == "0")
        #expect(try cluster.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'plugin_notes'") == "0")
        #expect(!FileManager.default.fileExists(atPath: passwordFile.path))
    }

    @Test func theStorageLimitStopsThePluginsCommandsOnly() async throws {
        let cluster = try PostgresCluster()
        let directory = TemporaryDirectory()
        // The example plugin with a 1 MiB limit.
        let source = directory.path("notes")
        try FileManager.default.copyItem(at: Self.notesPlugin, to: source)
        let manifest = source.appendingPathComponent("plugin.json")
        try (try String(contentsOf: manifest, encoding: .utf8)).replacingOccurrences(of: "\"storage_mb\": 256", with: "\"storage_mb\": 1")
            .write(to: manifest, atomically: true, encoding: .utf8)
        try PluginCatalog(dataDirectory: directory.path("data")).install(from: source)
        let broker = try RunningBroker(directory: directory) { $0.postgres = cluster.server }
        defer { broker.stop() }
        let notes = try Self.client(broker, as: "notes")
        defer { notes.close() }
        var acknowledged = 0
        var refusal: WireError?
        var generator = SystemRandomNumberGenerator()
        for index in 0..<500 {
            // Random text, so PostgreSQL cannot compress it away.
            let body = String((0..<9000).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement(using: &generator)! })
            do {
                _ = try await notes.send("notes.add@v1", ["ref": .string("n\(index)"), "body": .string(body)])
                acknowledged += 1
            } catch let error as WireError {
                refusal = error
                break
            }
        }
        #expect(refusal?.code == .storageLimit, "\(String(describing: refusal))")
        #expect(acknowledged > 10)
        #expect(try cluster.psql("SELECT count(*) FROM plugin_notes.notes") == "\(acknowledged)")
        let size = Int(try cluster.psql(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('plugin_notes', 'sluice_notes') AND c.relkind = 'r'")) ?? 0
        #expect(size >= 1 << 20 && size < 2 << 20, "\(size) bytes: at the limit, not far past it")
        let local = try broker.client()
        defer { local.close() }
        #expect(try await local.send("task.create@v1", ["title": "beside a full plugin"]).db == "tasks")
    }

    /// `postgres.url` names the server without its password; the password comes from a file
    /// (relative to the configuration file) or the environment.
    @Test func theServerIsConfiguredWithItsPasswordOutsideTheURL() throws {
        let directory = TemporaryDirectory()
        let config = directory.path("sluice.json")
        try "secret\n".write(to: directory.path("pg.pass"), atomically: true, encoding: .utf8)
        try #"{"postgres": {"url": "postgres://admin@db.internal:6543/sluice", "password_file": "pg.pass"}}"#.write(
            to: config, atomically: true, encoding: .utf8)
        let file = try ConfigurationFile(contentsOf: config)
        let server = try PostgresServer(url: try #require(file.postgresURL), passwordFile: file.postgresPasswordFile)
        #expect(server == PostgresServer(host: "db.internal", port: 6543, database: "sluice", username: "admin", password: "secret"))
        #expect(!"\(server)".contains("secret"))
        let fromEnvironment = try PostgresServer(
            url: "postgresql://admin@localhost/sluice", environment: [PostgresServer.passwordVariable: "other"])
        #expect(fromEnvironment.password == "other" && fromEnvironment.port == 5432)
        #expect(throws: PostgresServer.Invalid.self) {
            try PostgresServer(url: "postgres://admin:secret@db/sluice", environment: [:])
        }
        #expect(throws: PostgresServer.Invalid.self) { try PostgresServer(url: "postgres://admin@db", environment: [:]) }
        try #"{"postgres": {"url": "postgres://admin@db/sluice", "password": "secret"}}"#.write(
            to: config, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationFile.Invalid.self) { try ConfigurationFile(contentsOf: config) }
    }

    /// PostgreSQL statements: `:name` becomes `$n` in code only.
    @Test func namedParametersBecomePositionalOutsideLiteralsAndCasts() {
        let (sql, names) = SQLParameters.postgres(
            "SELECT :a::int, ':b', $$ :c $$, $t$:c$t$, \"x:y\", E'\\':e', $1, :f -- :g\n, :a /* :h */")
        #expect(sql == "SELECT $1::int, ':b', $$ :c $$, $t$:c$t$, \"x:y\", E'\\':e', $1, $2 -- :g\n, $1 /* :h */")
        #expect(names == ["a", "f"])
        #expect(
            SQLParameters.postgresStatements("CREATE TABLE a (x text DEFAULT ';');\n-- done;\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\n")
                == ["CREATE TABLE a (x text DEFAULT ';')", "-- done;\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql"])
    }

    /// A command's statements run inside the broker's transaction: one that would end it or
    /// change the session is refused at install, naming it.
    @Test func statementsThatWouldEndTheTransactionOrChangeTheSessionAreRefused() throws {
        for (statement, accepted) in [
            ("SET synchronous_commit TO off", false), ("COMMIT", false), ("/* x */ ROLLBACK", false),
            ("BEGIN", false), ("DROP TABLE notes", false), ("RESET ALL", false), ("CALL p()", false),
            ("DO $$ BEGIN END $$", false), ("SAVEPOINT s", false),
            ("-- a comment first\nINSERT INTO notes (id, ref, body, stars, author, created_at) VALUES (:_id::uuid, :ref, :body, 0, :_actor, now())", true),
            ("(SELECT 1)", true), ("WITH gone AS (DELETE FROM notes WHERE ref = :ref RETURNING ref) SELECT count(*) FROM gone", true),
        ] {
            let directory = TemporaryDirectory()
            let source = directory.path("notes")
            try FileManager.default.copyItem(at: Self.notesPlugin, to: source)
            let contract = source.appendingPathComponent("contracts/notes.add.v1.json")
            var json = try JSONValue(parsing: Array(try Data(contentsOf: contract))).objectValue ?? [:]
            json["statements"] = [.string(statement)]
            try JSONValue.object(json).canonicalString.write(to: contract, atomically: true, encoding: .utf8)
            do {
                try PluginCatalog(dataDirectory: directory.path("data")).install(from: source)
                #expect(accepted, "\(statement) was installed")
            } catch let error as ContractError {
                #expect(!accepted, "\(statement): \(error)")
                #expect("\(error)".contains("exclusive-postgres command runs"), "\(error)")
            }
        }
    }

    @Test func aPostgresPluginWithoutAServerIsRefusedAtStart() throws {
        let directory = TemporaryDirectory()
        try PluginCatalog(dataDirectory: directory.path("data")).install(from: Self.notesPlugin)
        do {
            _ = try RunningBroker(directory: directory)
            Issue.record("started without a PostgreSQL server")
        } catch {
            #expect("\(error)".contains("postgres.url"), "\(error)")
        }
    }
}

/// The crash loop of ProcessTests, on PostgreSQL: a real `sluice serve` killed with SIGKILL under
/// pipelined load, restarted, and every command resent with its key.
@Suite(.serialized, .timeLimit(.minutes(5))) struct PostgresCrashTests {
    func client(_ broker: BrokerProcess, maxAttempts: Int) throws -> SluiceClient {
        var configuration = ClientConfiguration(
            endpoint: broker.commandEndpoint,
            credentials: try ClientCredentials(
                name: "notes", tokenFile: broker.dataDirectory.appendingPathComponent("tokens/notes.token")))
        configuration.attemptTimeout = .seconds(10)
        configuration.maxAttempts = maxAttempts
        return try SluiceClient(configuration: configuration)
    }

    func start(_ data: URL, _ cluster: PostgresCluster, passwordFile: URL) async throws -> BrokerProcess {
        let broker = try BrokerProcess(
            dataDirectory: data,
            extraArguments: [
                "--postgres-url", "postgres://\(PostgresCluster.adminRole)@127.0.0.1:\(cluster.port)/\(PostgresCluster.database)",
                "--postgres-password-file", passwordFile.path,
            ])
        var configuration = ClientConfiguration(endpoint: broker.commandEndpoint, credentials: try .operator(dataDirectory: data))
        configuration.attemptTimeout = .milliseconds(200)
        configuration.maxAttempts = 100
        let ping = try SluiceClient(configuration: configuration)
        defer { ping.close() }
        try await ping.ping()
        return broker
    }

    @Test func sigkillMidLoadLosesNoAcknowledgedCommandAndRetriesCommitNothingTwice() async throws {
        let cluster = try PostgresCluster()
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let passwordFile = directory.path("postgres-password")
        try cluster.password.write(to: passwordFile, atomically: true, encoding: .utf8)
        try PluginCatalog(dataDirectory: data).install(from: PostgresTests.notesPlugin)
        var everything: Set<String> = []
        var generator = SystemRandomNumberGenerator()
        for round in 0..<3 {
            let broker = try await start(data, cluster, passwordFile: passwordFile)
            let record = ProcessTests.LoadRecord()
            let load = try client(broker, maxAttempts: 1)
            let writers = (0..<4).map { writer in
                Task {
                    for index in 0..<100_000 {
                        let key = "r\(round)-w\(writer)-\(index)"
                        let payload: JSONValue = ["ref": .string(key), "body": "crash"]
                        await record.attempt(key, payload)
                        guard let ack = try? await load.send("notes.add@v1", payload, idempotencyKey: key) else { break }
                        await record.acknowledge(key, ack)
                    }
                    await record.writerStopped()
                }
            }
            let killAfter = Int.random(in: 50...400, using: &generator)
            await record.waitForAcknowledgements(killAfter)
            broker.kill9()
            load.close()
            for writer in writers { await writer.value }
            let acknowledged = await record.acknowledged
            let attempted = await record.attempted
            #expect(acknowledged.count >= killAfter, "round \(round)")

            // Every ACK is in PostgreSQL once, with the seq it was acknowledged with.
            let rows = try cluster.psql(
                "SELECT n.ref || ' ' || l.seq FROM plugin_notes.notes n JOIN sluice_notes.log l ON l.idempotency_key = n.ref WHERE n.ref LIKE 'r\(round)-%'"
            ).split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
            let stored = Dictionary(rows.map { ($0[0], Int64($0[1]) ?? -1) }, uniquingKeysWith: { _, _ in -2 })
            for (key, ack) in acknowledged {
                #expect(stored[key] == ack.seq, "round \(round): acknowledged \(key) at seq \(ack.seq)")
            }

            let restarted = try await start(data, cluster, passwordFile: passwordFile)
            let retry = try client(restarted, maxAttempts: 3)
            let resent = try await ProcessTests.send(attempted, as: "notes.add@v1", through: retry)
            retry.close()
            for (key, original) in acknowledged {
                #expect(resent[key]?.duplicate == true && resent[key]?.seq == original.seq, "round \(round): \(key)")
            }
            everything.formUnion(attempted.keys)
            #expect(try cluster.psql("SELECT count(*) || ' ' || count(DISTINCT ref) FROM plugin_notes.notes") == "\(everything.count) \(everything.count)")
            let seqs = try cluster.psql("SELECT count(*) || ' ' || min(seq) || ' ' || max(seq) FROM sluice_notes.log")
            #expect(seqs == "\(everything.count) 1 \(everything.count)", "round \(round): the log has no gaps")
            #expect(restarted.terminate() == 0)
        }
    }
}
