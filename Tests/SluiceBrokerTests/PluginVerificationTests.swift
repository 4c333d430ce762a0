import Foundation
import SluiceBroker
import SluiceTestSupport
import SluiceWire
import Testing

/// Install checks a plugin before copying anything: its files' permissions, the broker versions
/// its manifest accepts, and, once the operator trusts signing keys, an Ed25519 signature.
@Suite(.timeLimit(.minutes(2))) struct PluginVerificationTests {
    static func installed(_ data: URL) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("installed").path))?
            .filter { !$0.hasPrefix(".") } ?? []
    }

    @Test func groupOrWorldWritableFilesAreRefused() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let folder = try PluginTests.plugin("alpha", in: directory)
        let contract = try #require(
            try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("contracts").path).first)
        let file = folder.appendingPathComponent("contracts/\(contract)")
        for mode in [0o664, 0o646] {
            chmod(file.path, mode_t(mode))
            #expect(throws: PluginVerification.Refused.self) {
                try PluginCatalog(dataDirectory: data).install(from: folder)
            }
        }
        chmod(folder.path, 0o777)
        chmod(file.path, 0o644)
        #expect(throws: PluginVerification.Refused.self) { try PluginCatalog(dataDirectory: data).install(from: folder) }
        #expect(Self.installed(data).isEmpty)
        chmod(folder.path, 0o755)
        try PluginCatalog(dataDirectory: data).install(from: folder)
        #expect(Self.installed(data) == ["alpha"])
    }

    @Test func symbolicLinksAreRefused() throws {
        let directory = TemporaryDirectory()
        let folder = try PluginTests.plugin("alpha", in: directory)
        try FileManager.default.createSymbolicLink(
            at: folder.appendingPathComponent("migrations/999_outside.sql"), withDestinationURL: URL(fileURLWithPath: "/etc/passwd"))
        let error = #expect(throws: PluginVerification.Refused.self) {
            try PluginCatalog(dataDirectory: directory.path("data")).install(from: folder)
        }
        #expect(error?.reason.contains("symbolic link") == true)
    }

    @Test func theManifestsBrokerVersionRangeMustIncludeThisBroker() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let current = BrokerVersion.current
        let tooNew = try PluginTests.plugin("alpha", in: directory) {
            $0["broker_version"] = .string(">=\(current.major + 1).0.0")
        }
        let error = #expect(throws: PluginManifest.Invalid.self) { try PluginCatalog(dataDirectory: data).install(from: tooNew) }
        #expect(error?.field == "broker_version")
        let malformed = try PluginTests.plugin("beta", in: directory) { $0["broker_version"] = "newest" }
        #expect(throws: PluginManifest.Invalid.self) { try PluginCatalog(dataDirectory: data).install(from: malformed) }
        #expect(Self.installed(data).isEmpty)
        let fits = try PluginTests.plugin("gamma", in: directory) {
            $0["broker_version"] = .string(">=\(current) <\(current.major + 1).0.0")
        }
        try PluginCatalog(dataDirectory: data).install(from: fits)
        #expect(Self.installed(data) == ["gamma"])
    }

    @Test func versionRanges() throws {
        let version = SemanticVersion(major: 1, minor: 4, patch: 2)
        for (range, expected) in [
            (">=1.0.0 <2.0.0", true), (">1.4.2", false), ("<=1.4.2", true), ("1.4.2", true), ("=1.4.1", false),
            (">=1.4.3", false), (">=0.9.0 <1.4.2", false),
        ] {
            #expect(try #require(VersionRange(range)).contains(version) == expected, "\(range)")
        }
        for bad in ["", "1.4", ">=1.x.0", "~1.0.0", ">= 1.0.0", "1.0.0.0", ">=1.0.0  <2.0.0"] { #expect(VersionRange(bad) == nil, "\(bad)") }
    }

    /// The whole path as an operator and a plugin author type it: keygen, trust, sign, install;
    /// unsigned, tampered-with and signed-by-someone-else plugins are refused with a clear error.
    @Test func onceAKeyIsTrustedOnlyPluginsItSignedInstall() throws {
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let key = directory.path("author.key")
        let generated = try Fixtures.run("sluice", ["plugins", "keygen", "--out", key.path])
        #expect(generated.status == 0, "\(generated.output)")
        let publicKey = generated.output.trimmingCharacters(in: .whitespacesAndNewlines)
        var status = stat()
        #expect(stat(key.path, &status) == 0 && status.st_mode & 0o077 == 0)

        let folder = try PluginTests.plugin("alpha", in: directory)
        // No trusted key: no signature needed (but the first plugin is not installed here).
        let trust = try Fixtures.run("sluice", ["plugins", "trust", "author", publicKey, "--data-dir", data.path])
        #expect(trust.status == 0, "\(trust.output)")

        let unsigned = try Fixtures.run("sluice", ["plugins", "install", folder.path, "--data-dir", data.path])
        #expect(unsigned.status != 0)
        #expect(unsigned.output.contains("has no plugin.sig"), "\(unsigned.output)")

        let signed = try Fixtures.run("sluice", ["plugins", "sign", folder.path, "--key", key.path])
        #expect(signed.status == 0, "\(signed.output)")
        // Changed after signing: refused.
        let migration = folder.appendingPathComponent("migrations/002_more.sql")
        try "CREATE TABLE alpha_more(id TEXT PRIMARY KEY);\n".write(to: migration, atomically: true, encoding: .utf8)
        let tampered = try Fixtures.run("sluice", ["plugins", "install", folder.path, "--data-dir", data.path])
        #expect(tampered.output.contains("does not verify with any trusted key"), "\(tampered.output)")
        try FileManager.default.removeItem(at: migration)

        let installed = try Fixtures.run("sluice", ["plugins", "install", folder.path, "--data-dir", data.path])
        #expect(installed.status == 0, "\(installed.output)")
        #expect(Self.installed(data) == ["alpha"])

        // Signed by a key nobody trusts.
        let stranger = directory.path("stranger.key")
        _ = try Fixtures.run("sluice", ["plugins", "keygen", "--out", stranger.path])
        let beta = try PluginTests.plugin("beta", in: directory)
        _ = try Fixtures.run("sluice", ["plugins", "sign", beta.path, "--key", stranger.path])
        let foreign = try Fixtures.run("sluice", ["plugins", "install", beta.path, "--data-dir", data.path])
        #expect(foreign.output.contains("does not verify with any trusted key"), "\(foreign.output)")
        #expect(Self.installed(data) == ["alpha"])

        let listed = try Fixtures.run("sluice", ["plugins", "trusted", "--json", "--data-dir", data.path])
        #expect(try JSONValue(parsing: listed.output.trimmingCharacters(in: .whitespacesAndNewlines))["name"] == "author")
    }
}
