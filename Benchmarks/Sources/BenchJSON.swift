import ArgumentParser
import Foundation
import SluiceWire

/// `sluice-bench json`: what the wire's JSON parser costs per document, against Foundation's
/// `JSONSerialization` parsing the same bytes in the same process and run.
struct BenchJSON: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "json",
        abstract: "CPU per parse of typical wire documents: SluiceWire's JSONValue parser vs. Foundation's JSONSerialization.",
        discussion: """
            Parses each document --parses times (a tenth as many for the largest) with each parser, alternating \
            --rounds times, and prints the CPU \
            (user + system) per parse and the ratio to Foundation of the same round. The documents: a REPLAY body \
            (an audit event in its envelope, ~400 bytes), a command input (~90 bytes) and an input holding an \
            array of 40 objects (~2.5 KiB). Then a COMMAND's frames read into a request (in general and in one \
            pass), and a REPLAY body read into an event as a catching-up client reads it (the event built whole, \
            or checked and kept as text).
            """
    )

    @Option(help: "Parses per document, parser and round (a tenth as many of the largest document).")
    var parses = 100_000

    @Option(help: "Alternating rounds.")
    var rounds = 3

    static let documents: [(name: String, bytes: [UInt8])] = [
        (
            "REPLAY body",
            Array(
                #"{"epoch":"0b7c9a1e-4f1d-4c55-9a53-1f4e0c2d9b11","event":{"actor":"bench-client-1","affected":{"keys":[],"tables":{"items":{"inserted":1}}},"contract":"bench.insert@1","db":"bench","idempotency_key":"k-0000123456","latency_ms":1.234,"level":"metadata","request_id":"r-abcdef1234567890","seq":12345,"status":"ok","ts":"2026-11-30T22:00:00.123Z"},"seq":12345,"stream":"bench","topic":"audit.bench"}"#
                    .utf8)
        ),
        ("command input", Array(#"{"done":false,"id":"task-000123","priority":3,"title":"write the report for the week"}"#.utf8)),
        (
            "input with 40 objects",
            Array(
                (#"{"items":["# + (0..<40).map { #"{"n":\#($0),"name":"item number \#($0)","price":\#($0).25,"tags":["a","b"]}"# }
                    .joined(separator: ",") + "]}").utf8)
        ),
    ]

    func run() throws {
        print("sluice-bench json: \(parses) parses per document, parser and round, \(rounds) rounds")
        print("")
        print("| document | bytes | round | JSONValue µs/parse | JSONSerialization µs/parse | × Foundation |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for document in Self.documents {
            let data = Data(document.bytes)
            let parses = document.bytes.count > 1000 ? max(1, parses / 10) : parses
            for round in 1...rounds {
                var members = 0
                var started = CPUTime.now().selfSeconds
                for _ in 0..<parses {
                    let (value, _) = try JSONValue.parsingCanonical(document.bytes)
                    if case .object(let object) = value { members &+= object.count }
                }
                let ours = (CPUTime.now().selfSeconds - started) / Double(parses) * 1e6
                started = CPUTime.now().selfSeconds
                for _ in 0..<parses {
                    if let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] { members &+= object.count }
                }
                let foundation = (CPUTime.now().selfSeconds - started) / Double(parses) * 1e6
                guard members > 0 else { throw ValidationError("nothing parsed") }
                print(
                    "| \(document.name) | \(document.bytes.count) | \(round) | \(String(format: "%.3f", ours)) | "
                        + "\(String(format: "%.3f", foundation)) | \(String(format: "%.2f×", ours / foundation)) |")
            }
        }
        try readCommands()
        try readReplays()
    }

    /// CPU per `REPLAY` body read into an event as a catching-up client reads it: the envelope and
    /// the event built whole, against the envelope built and the event checked but kept as text
    /// (built when a consumer first asks for it).
    func readReplays() throws {
        print("")
        print("| REPLAY body → Event | round | built whole µs/read | event kept as text µs/read | × built whole |")
        print("| --- | ---: | ---: | ---: | ---: |")
        let body = Self.documents[0].bytes
        for round in 1...rounds {
            var seqs: Int64 = 0
            var started = CPUTime.now().selfSeconds
            for _ in 0..<parses {
                let envelope = try JSONValue(parsing: body)
                guard let topic = envelope["topic"]?.stringValue, let stream = envelope["stream"]?.stringValue,
                    let seq = envelope["seq"]?.intValue, let epoch = envelope["epoch"]?.stringValue,
                    let value = envelope["event"]
                else { throw ValidationError("malformed") }
                seqs &+= Event(topic: topic, stream: stream, seq: seq, epoch: epoch, body: value).seq
            }
            let whole = (CPUTime.now().selfSeconds - started) / Double(parses) * 1e6
            started = CPUTime.now().selfSeconds
            for _ in 0..<parses {
                let (envelope, text) = try JSONValue.parsingObject(body, keepingTextOf: "event")
                guard let topic = envelope["topic"]?.stringValue, let stream = envelope["stream"]?.stringValue,
                    let seq = envelope["seq"]?.intValue, let epoch = envelope["epoch"]?.stringValue, let text
                else { throw ValidationError("malformed") }
                seqs &+= Event(topic: topic, stream: stream, seq: seq, epoch: epoch, body: text).seq
            }
            let kept = (CPUTime.now().selfSeconds - started) / Double(parses) * 1e6
            guard seqs > 0 else { throw ValidationError("nothing read") }
            print(
                "| \(Self.documents[0].name) | \(round) | \(String(format: "%.3f", whole)) | \(String(format: "%.3f", kept)) | "
                    + "\(String(format: "%.2f×", kept / whole)) |")
        }
    }

    /// A COMMAND's frames as the C and the Swift load generators send them (the C one writes its
    /// header members out of order), the bench contract's input as the body.
    static let commands: [(name: String, frames: [[UInt8]])] = [
        ("C client's COMMAND", #"{"request_id":"1234","contract":"bench.insert@v1","idempotency_key":"bench-3-1234"}"#),
        (
            "Swift client's COMMAND",
            #"{"contract":"bench.insert@v1","idempotency_key":"3f2b8c1e-9a4d-4e6f-8b1a-2c3d4e5f6a7b","request_id":"c1-1234"}"#
        ),
    ].map { name, header in
        (
            name,
            [
                WireMessage.protocolTag, Array("COMMAND".utf8), Array(header.utf8),
                Array(#"{"client":3,"n":1234,"payload":"client 3 command 1234 padding-padding-padding"}"#.utf8),
            ]
        )
    }

    /// CPU per COMMAND read from its frames: the general reading (the header parsed into an
    /// object, then its fields looked up) against the one pass over the header's bytes the I/O
    /// thread uses for a plain COMMAND. Both parse the body the same way.
    func readCommands() throws {
        print("")
        print("| COMMAND frames → request | round | general µs/read | one pass µs/read | × general |")
        print("| --- | ---: | ---: | ---: | ---: |")
        let limits = ProtocolLimits()
        for command in Self.commands {
            let frames = command.frames[...]
            for round in 1...rounds {
                var keys = 0
                var started = CPUTime.now().selfSeconds
                for _ in 0..<parses {
                    keys &+= try CommandRequest(WireMessage(frames: frames, limits: limits), limits: limits)
                        .idempotencyKey.utf8.count
                }
                let general = (CPUTime.now().selfSeconds - started) / Double(parses) * 1e6
                started = CPUTime.now().selfSeconds
                for _ in 0..<parses {
                    guard let request = CommandRequest(plainFrames: frames, limits: limits) else {
                        throw ValidationError("\(command.name) is not a plain COMMAND")
                    }
                    keys &+= request.idempotencyKey.utf8.count
                }
                let onePass = (CPUTime.now().selfSeconds - started) / Double(parses) * 1e6
                guard keys > 0 else { throw ValidationError("nothing read") }
                print(
                    "| \(command.name) | \(round) | \(String(format: "%.3f", general)) | "
                        + "\(String(format: "%.3f", onePass)) | \(String(format: "%.2f×", onePass / general)) |")
            }
        }
    }
}
