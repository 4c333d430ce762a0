import ArgumentParser
import Foundation
import SluiceBroker
import SluiceWire
import SluiceZMQ

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "CURVE keys for tcp endpoints: generate a client's, register, list and revoke them.",
        discussion: """
            On tcp the broker speaks CURVE (ZeroMQ's own encryption and authentication); an identity is the public \
            key registered for it. A plugin on another host: `sluice keys generate --out alpha.key` there, then on \
            the broker's host `sluice keys add alpha <its public key>`. Registration and revocation take effect at \
            the next connection, without a restart. See docs/security.md.
            """,
        subcommands: [KeysGenerate.self, KeysAdd.self, KeysList.self, KeysRevoke.self]
    )
}

struct KeysGenerate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Make a new CURVE key pair for a client and print its public key.",
        discussion: "The key file (mode 0600) holds both halves: keep it with the client; only the public key travels."
    )

    @Option(name: .long, help: "Where to write the key file.")
    var out: String

    func run() async throws {
        let url = URL(fileURLWithPath: out).standardizedFileURL
        guard !FileManager.default.fileExists(atPath: url.path) else {
            throw ValidationError("\(url.path) exists; a key file is never overwritten")
        }
        // Never starts with '-' (it would read as an option on a command line): see generateKeyPair.
        let pair = try ZMQCurve.generateKeyPair()
        try DurableFile.write(
            Data(ZMQCurve.keyFileText(pair, includingSecret: true, comment: "a Sluice client's CURVE key pair").utf8),
            to: url)
        print(pair.publicKey)
    }
}

struct KeysAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register a public key as an identity's (a plugin id, or local).")

    @Argument(help: "The identity: a plugin id or local.")
    var id: String

    @Argument(
        help: "Its public key: 40 characters of Z85, as `sluice keys generate` printed it (one starting with '-' goes after `--`).")
    var publicKey: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let store = CurveKeyStore(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL)
        do {
            try store.add(id: id, publicKey: publicKey)
        } catch let refusal as CurveKeyStore.Refusal {
            throw ValidationError(refusal.description)
        }
        print("\(id): \(publicKey) registered; its next connection to a tcp endpoint is \(id)")
    }
}

struct KeysList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "The broker's public key, then every registered and revoked client key.")

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    @Flag(name: .long, help: "Print JSON, one object per key.")
    var json = false

    func run() async throws {
        let store = CurveKeyStore(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL)
        let broker = try? ZMQCurve.readKeyFile(store.brokerKeyFile).publicKey
        let entries = store.list()
        if json {
            if let broker { print(JSONValue.object(["id": "(broker)", "public_key": .string(broker)]).canonicalString) }
            for entry in entries {
                let members: [String: JSONValue] = [
                    "id": .string(entry.id), "public_key": .string(entry.publicKey),
                    "revoked_at_ms": entry.revokedAtMs.map(JSONValue.int) ?? .null,
                ]
                print(JSONValue.object(JSONObject(members)).canonicalString)
            }
            return
        }
        print("broker public key: \(broker ?? "(none yet: made when the broker first serves a tcp endpoint)")")
        printTable(
            ["identity", "public key", "state"],
            entries.map { entry in
                [
                    entry.id, entry.publicKey,
                    entry.revokedAtMs.map {
                        "revoked \(Date(timeIntervalSince1970: Double($0) / 1000).ISO8601Format())"
                    } ?? "active",
                ]
            })
    }
}

struct KeysRevoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke an identity's key: its next connection is refused (connections already open stay until they close).",
        discussion: "Recorded in <data-dir>/curve/revocations.log; the broker audits every refused attempt with it on audit.rejected."
    )

    @Argument(help: "The identity whose key to revoke.")
    var id: String

    @Option(name: .long, help: "The broker's data directory.")
    var dataDir: String = "data"

    func run() async throws {
        let store = CurveKeyStore(dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL)
        do {
            let key = try store.revoke(id: id)
            print("\(id): \(key) revoked")
        } catch let refusal as CurveKeyStore.Refusal {
            throw ValidationError(refusal.description)
        }
    }
}
