import Foundation
import SluiceBroker
import SluiceTestSupport
import Testing

/// Plugins running as other OS users: they reach the sockets through a group, never the data
/// directory (tokens, databases, keys). Real users, a real `sluice serve`, a real `sluice send`
/// run as each user. Needs root (to create the users), as CI runs.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SeparateUserTests {
    static let group = "sluice-test-plugins"
    static let member = "sluice-test-member"
    static let outsider = "sluice-test-outsider"

    /// Runs `arguments` (an absolute path first), as `user` when one is given: its exit status
    /// and output.
    @discardableResult
    static func run(_ arguments: [String], as user: String? = nil) throws -> (status: Int32, output: String) {
        guard let user else { return try Fixtures.run(arguments[0], Array(arguments.dropFirst())) }
        return try Fixtures.run(
            "/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(user)", "--init-groups", "--reset-env", "--"] + arguments)
    }

    /// The group and two users (one in it), created once per machine.
    static func ensureUsers() throws {
        if try run(["/usr/bin/getent", "group", group]).status != 0 {
            try #require(try run(["/usr/sbin/groupadd", group]).status == 0)
        }
        for (user, groups) in [(member, [group]), (outsider, [])] where try run(["/usr/bin/id", user]).status != 0 {
            let extra = groups.isEmpty ? [] : ["-G", groups.joined(separator: ",")]
            try #require(try run(["/usr/sbin/useradd", "-M", "-U", "-s", "/usr/sbin/nologin"] + extra + [user]).status == 0)
        }
    }

    @Test func aPluginUserReachesTheSocketsAndNothingElse() throws {
        try #require(getuid() == 0, "creating OS users needs root (CI runs as root)")
        try Self.ensureUsers()
        let directory = TemporaryDirectory()
        // Other users must be able to walk to the socket and binary directories.
        chmod(directory.url.path, 0o755)
        let data = directory.path("data")
        try PluginCatalog(dataDirectory: data).install(
            from: try PluginTests.plugin("alpha", in: directory, mode: .exclusiveSQLite))
        let sockets = directory.path("sockets")
        // Made here (the broker's log goes there); the broker gives it its mode and group.
        try FileManager.default.createDirectory(at: sockets, withIntermediateDirectories: true)
        let broker = try BrokerProcess(
            dataDirectory: data, socketDirectory: directory.path("sockets"),
            extraArguments: ["--socket-dir", sockets.path, "--socket-group", Self.group])
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing(), "\(broker.output)")

        // The plugin host hands the plugin its own token (a copy the plugin's user owns), and a
        // client binary any user may run.
        let token = directory.path("alpha.token")
        try FileManager.default.copyItem(at: data.appendingPathComponent("tokens/alpha.token"), to: token)
        try #require(try Self.run(["/usr/bin/chown", "\(Self.member):\(Self.member)", token.path]).status == 0)
        let bin = directory.path("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.sluiceExecutable, to: bin.appendingPathComponent("sluice"))
        let send = [
            bin.appendingPathComponent("sluice").path, "send", "alpha.item.create@v1", #"{"title": "from another user"}"#,
            "--key", "u1", "--endpoint", broker.commandEndpoint, "--user", "alpha", "--token-file", token.path,
            "--timeout", "1",
        ]

        let member = try Self.run(send, as: Self.member)
        #expect(member.status == 0, "\(member.output)")
        #expect(member.output.contains("\"duplicate\""), "\(member.output)")
        // It cannot read the data directory: not the operator's token, not a database.
        for file in ["tokens/local.token", "tokens/alpha.token", "plugins/alpha.db", "audit.key"] {
            let read = try Self.run(["/usr/bin/cat", data.appendingPathComponent(file).path], as: Self.member)
            #expect(read.status != 0 && read.output.contains("Permission denied"), "\(file): \(read.output)")
        }
        // Its group reaches the sockets; other users cannot even look into their directory (so
        // cannot connect: connecting to a unix socket needs search permission on it).
        let listed = try Self.run(["/usr/bin/ls", sockets.path], as: Self.outsider)
        #expect(listed.status != 0 && listed.output.contains("Permission denied"), "\(listed.output)")
        let memberList = try Self.run(["/usr/bin/ls", sockets.path], as: Self.member)
        #expect(memberList.output.contains("sluice.sock") && memberList.output.contains("events.sock"))

        // Everything the broker made is private to its user, but the sockets.
        for (path, mode) in [(data.path, 0o700), (sockets.path, 0o750), (sockets.path + "/sluice.sock", 0o660)] {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == mode, "\(path)")
        }
    }
}
