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
            array of 40 objects (~2.5 KiB).
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
    }
}
