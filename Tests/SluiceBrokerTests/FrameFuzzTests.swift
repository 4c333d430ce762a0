import Foundation
import GRDB
import SluiceTestSupport
import SluiceWire
import SluiceZMQ
import Testing

/// Random and mutated multipart messages against a real `sluice serve`: it never crashes, never
/// writes without an ACK, keeps answering valid requests, and its memory stays bounded.
/// `SLUICE_FUZZ_MESSAGES` sets the count (100,000 here; `make fuzz` runs 1,000,000) and
/// `SLUICE_FUZZ_SEED` replays a run.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FrameFuzzTests {
    /// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
    }

    static let seeds: [[[UInt8]]] = [
        [[], frame("SLU1"), frame("COMMAND"), frame(#"{"request_id":"c","contract":"task.create@v1","idempotency_key":"k"}"#), frame(#"{"title":"t","priority":3}"#)],
        [[], frame("SLU1"), frame("QUERY"), frame(#"{"request_id":"q","contract":"task.list@v1"}"#), frame(#"{"status":"open"}"#)],
        [[], frame("SLU1"), frame("STATUS"), frame(#"{"request_id":"s"}"#), frame(#"{"idempotency_key":"k","db":"tasks"}"#)],
        [[], frame("SLU1"), frame("SYNC"), frame(#"{"request_id":"y"}"#), frame(#"{"topic":"audit.tasks","from_seq":1,"limit":2}"#)],
        [[], frame("SLU1"), frame("HELLO"), frame(#"{"request_id":"h"}"#), frame(#"{"client":"fuzz"}"#)],
        [[], frame("SLU1"), frame("STATS"), frame("{}"), frame("{}")],
        [[], frame("SLU1"), frame("PING"), frame(#"{"request_id":"p"}"#), frame(#"{"n":[1,2.5,-3e9,"x",null,true]}"#)],
    ]

    /// Fragments that tend to break parsers, spliced into frames.
    static let nasty: [[UInt8]] = [
        frame("{"), frame("}"), frame("["), frame("\""), frame("\\u0000"), frame("\\ud800"), frame("1e400"),
        frame("-0"), frame("123456789012345678901234567890"), frame("NaN"), frame(",,"), frame(":"), [0xFF], [0xC0, 0xAF],
        [0xED, 0xA0, 0x80], [0x00], frame(String(repeating: "[", count: 80)), frame("\"request_id\":"),
        frame("\"contract\":\"task.create@v1\""), frame("\"idempotency_key\":\"\""),
    ]

    static func mutate(_ seed: [[UInt8]], _ random: inout Generator) -> [[UInt8]] {
        var frames = seed
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            switch Int.random(in: 0..<9, using: &random) {
            case 0 where !frames.isEmpty:  // flip a bit
                let index = Int.random(in: 0..<frames.count, using: &random)
                if !frames[index].isEmpty {
                    let at = Int.random(in: 0..<frames[index].count, using: &random)
                    frames[index][at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
                }
            case 1 where !frames.isEmpty:  // truncate a frame
                let index = Int.random(in: 0..<frames.count, using: &random)
                frames[index] = Array(frames[index].prefix(Int.random(in: 0...frames[index].count, using: &random)))
            case 2 where !frames.isEmpty:  // splice a nasty fragment in
                let index = Int.random(in: 0..<frames.count, using: &random)
                let at = Int.random(in: 0...frames[index].count, using: &random)
                frames[index].insert(contentsOf: nasty.randomElement(using: &random)!, at: at)
            case 3 where !frames.isEmpty:  // drop a frame
                frames.remove(at: Int.random(in: 0..<frames.count, using: &random))
            case 4 where frames.count < 8:  // duplicate a frame
                if let copy = frames.randomElement(using: &random) { frames.append(copy) }
            case 5:  // a random frame
                let count = Int.random(in: 0..<64, using: &random)
                frames.insert((0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }, at: 0)
            case 6 where frames.count > 2:  // swap two frames
                frames.swapAt(
                    Int.random(in: 0..<frames.count, using: &random), Int.random(in: 0..<frames.count, using: &random))
            case 7 where frames.count > 1:  // replace a frame with another seed's
                let other = seeds.randomElement(using: &random)!
                let index = Int.random(in: 1..<frames.count, using: &random)
                frames[index] = other[min(index, other.count - 1)]
            default:  // a long frame (well under the hard frame limit)
                if !frames.isEmpty {
                    frames[frames.count - 1] += Array(repeating: 0x61, count: Int.random(in: 0..<8192, using: &random))
                }
            }
        }
        return frames.isEmpty ? [[]] : frames
    }

    static func residentKiB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// What one fuzz run saw.
    struct Report: Sendable {
        var acknowledgedNew = 0
        var replies = 0
        var unreadableReplies = 0
        var lastCommandAcknowledged = false
        var residentAfterWarmUp = 0
        var resident = 0
    }

    struct Unanswered: Error, CustomStringConvertible {
        var description: String
    }

    @Test func randomAndMutatedFramesNeverCrashNeverWriteWithoutAnACKAndStayAnswered() async throws {
        let environment = ProcessInfo.processInfo.environment
        let total = Int(environment["SLUICE_FUZZ_MESSAGES"] ?? "") ?? 100_000
        let seed = UInt64(environment["SLUICE_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64.max)
        let directory = TemporaryDirectory()
        let data = directory.path("data")
        let broker = try BrokerProcess(dataDirectory: data)
        defer { _ = broker.terminate() }
        #expect(try broker.waitUntilServing(), "\(broker.output)")

        // Blocking socket loops, off the cooperative pool.
        let report = try await onDedicatedThread { try Self.drive(broker, total: total, seed: seed) }

        #expect(broker.process.isRunning, "seed \(seed): the broker died\n\(broker.output)")
        #expect(report.lastCommandAcknowledged, "seed \(seed)")
        #expect(report.unreadableReplies == 0, "seed \(seed): every reply is [envelope…, empty, SLU1, kind, header, body]")
        let db = try TasksDatabase.open(data.appendingPathComponent("tasks.db"))
        #expect(try TasksDatabase.integrity(db) == "ok")
        let rows = try TasksDatabase.count(db, "SELECT count(*) FROM tasks")
        #expect(rows == report.acknowledgedNew, "seed \(seed): every row has its ACK (\(rows) rows, \(report.acknowledgedNew) ACKs)")
        // Memory bounded: after the first tenth, the rest of the flood adds less than 64 MiB.
        try #require(report.residentAfterWarmUp > 0 && report.resident > 0, "VmRSS of the broker")
        #expect(
            report.resident < report.residentAfterWarmUp + 64 * 1024,
            "seed \(seed): RSS grew from \(report.residentAfterWarmUp) KiB to \(report.resident) KiB")
        #expect(report.replies >= total / 2, "most messages are answered (\(report.replies) replies)")
    }

    /// Sends `total` fuzzed messages in chunks of 1,000, each chunk followed by a PING that must
    /// be answered, then one valid COMMAND; reads every reply.
    static func drive(_ broker: BrokerProcess, total: Int, seed: UInt64) throws -> Report {
        var random = Generator(state: seed)
        let socket = try broker.socket(.dealer)
        let pid = broker.process.processIdentifier
        var report = Report()
        /// Reads replies until the one with `requestID`; counts fresh ACKs on the way.
        func read(until requestID: String) throws -> WireMessage? {
            while let frames = try socket.receive() {
                report.replies += 1
                // Frames a request put before its delimiter come back first, as a routing envelope.
                guard let delimiter = frames.firstIndex(of: []),
                    let message = try? WireMessage(frames: Array(frames[(delimiter + 1)...]))
                else {
                    report.unreadableReplies += 1
                    continue
                }
                if message.kind == .ack, message.body["duplicate"] == false { report.acknowledgedNew += 1 }
                if message.requestID == requestID { return message }
            }
            return nil
        }

        let chunk = 1000
        for start in stride(from: 0, to: total, by: chunk) {
            for _ in 0..<min(chunk, total - start) {
                let frames =
                    Int.random(in: 0..<10, using: &random) == 0
                    ? (0..<Int.random(in: 1...6, using: &random)).map { _ in
                        (0..<Int.random(in: 0..<48, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                    }
                    : mutate(seeds.randomElement(using: &random)!, &random)
                try socket.send(frames)
            }
            // Valid requests are answered throughout.
            let barrier = "barrier-\(start)"
            try socket.send([[], frame("SLU1"), frame("PING"), frame(#"{"request_id":"\#(barrier)"}"#), frame("{}")])
            guard try read(until: barrier)?.kind == .pong else {
                throw Unanswered(description: "seed \(seed): no PONG after \(start + chunk) messages\n\(broker.output)")
            }
            if report.residentAfterWarmUp == 0, start >= total / 10 { report.residentAfterWarmUp = residentKiB(pid) }
        }
        let last = "last-command"
        try socket.send(
            [[], frame("SLU1"), frame("COMMAND"),
             frame(#"{"request_id":"\#(last)","contract":"task.create@v1","idempotency_key":"fuzz-last"}"#),
             frame(#"{"title":"after the fuzz"}"#)])
        // One writer answers in order: every earlier ACK has arrived once this one has.
        report.lastCommandAcknowledged = try read(until: last)?.kind == .ack
        report.resident = residentKiB(pid)
        return report
    }
}
