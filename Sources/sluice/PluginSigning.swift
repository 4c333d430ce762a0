import ArgumentParser
import Foundation
import SluiceBroker

/// Signing plugins and the keys the broker trusts (docs/plugins.md, "Signed plugins").
struct PluginsKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make an Ed25519 key pair for signing plugins: the private key to a file (0600), the public key printed.",
        discussion: "Give the public key to the operators who install your plugins: sluice plugins trust <name> <public-key>."
    )

    @Option(name: .long, help: "Where to write the private key (must not exist).")
    var out: String

    func run() async throws {
        let url = URL(fileURLWithPath: out)
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw ValidationError("\(out) exists; choose another file")
        }
        let pair = TrustedSigningKeys.generate()
        try DurableFile.write(Data((pair.privateKey + "\n").utf8), to: url, permissions: 0o600)
        print(pair.publicKey)
    }
}

struct PluginsSign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a plugin folder: writes <folder>/plugin.sig over every file in it.",
        discussion: "Sign last: any change to a file afterwards makes the signature fail at install."
    )

    @Argument(help: "The plugin folder (with plugin.json).")
    var path: String

    @Option(name: .long, help: "The private key file (from sluice plugins keygen).")
    var key: String

    func run() async throws {
        guard let privateKey = try? String(contentsOfFile: key, encoding: .utf8) else {
            throw ValidationError("cannot read the private key \(key)")
        }
        let folder = URL(fileURLWithPath: path).standardizedFileURL
        try PluginVerification.checkFiles(folder)
        try PluginVerification.sign(folder, privateKey: privateKey)
        print("signed \(folder.path) (\(folder.appendingPathComponent(PluginVerification.signatureFile).path))")
    }
}

struct PluginsTrust: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Trust a signing key: from now on install and upgrade require a plugin signed by a trusted key.",
        discussion: "With no trusted key, plugins need no signature. The key is stored in <data-dir>/trusted-keys/<name>.pub."
    )

    @Argument(help: "A name for the key ([a-z0-9-]).")
    var name: String

    @Argument(help: "The Ed25519 public key, base64 (as sluice plugins keygen prints it).")
    var publicKey: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        try TrustedSigningKeys(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL)
            .add(name: name, publicKey: publicKey)
        print("trusted \(name); plugins must now be signed by a trusted key to be installed")
    }
}

struct PluginsDistrust: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distrust", abstract: "Stop trusting a signing key (plugins already installed stay).")

    @Argument(help: "The key's name.")
    var name: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        guard try TrustedSigningKeys(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL).remove(name: name)
        else {
            throw ValidationError("no trusted key named \(name)")
        }
        print("\(name) is no longer trusted")
    }
}

struct PluginsTrusted: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trusted", abstract: "List the signing keys the broker trusts.")

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Flag(name: .long, help: "Print JSON, one object per key.")
    var json = false

    func run() async throws {
        let keys = try TrustedSigningKeys(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL).all()
        if keys.isEmpty && !json {
            print("no trusted signing keys: plugins need no signature")
            return
        }
        printTable(["name", "public key"], keys.sorted { $0.key < $1.key }.map { [$0.key, $0.value] }, json: json)
    }
}
