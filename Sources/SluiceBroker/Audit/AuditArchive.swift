public import Foundation
public import SluiceWire

/// The audit events a compaction removes from a database's log, kept as numbered segment files
/// chained by hash, so the audit trail outlives the log rows it was made from.
///
/// Layout: `<dir of the database>/audit-archive/<db>/segment-000001.jsonl`, … (for
/// `plugins/<id>.db`, under `plugins/audit-archive/<id>/`). A segment is JSON lines, canonical:
///
///     {"first_seq":1,"format":"sluice-audit-segment-1","last_seq":200,"prev_sha256":"",
///      "segment":1,"stream":"tasks","written_at":"2026-11-30T12:00:00.000Z"}
///     {"epoch":"…","event":{…audit record…},"seq":1,"stream":"tasks","topic":"audit.tasks"}
///     …
///
/// `prev_sha256` is the SHA-256 of the previous segment's bytes (empty for the first), and the
/// database's `sluice_meta` keeps the newest segment's hash and last seq, written in the same
/// transaction that deletes the archived log rows: every segment is anchored in the one after
/// it, and the newest in the database. Segments are written durably (temp file, fsync, rename,
/// fsync of the directory) before any log row they hold is deleted.
public struct AuditArchive: Sendable {
    public static let format = "sluice-audit-segment-1"

    /// The directory of one database's segments.
    public let directory: URL
    public let stream: String

    public init(directory: URL, stream: String) {
        self.directory = directory
        self.stream = stream
    }

    /// The archive of the database file at `databaseURL` (its stream is the file's name).
    public init(databaseAt databaseURL: URL) {
        let stream = databaseURL.deletingPathExtension().lastPathComponent
        self.init(
            directory: databaseURL.deletingLastPathComponent().appendingPathComponent("audit-archive")
                .appendingPathComponent(stream),
            stream: stream)
    }

    /// Every database archive in a data directory (top-level databases and plugins' databases).
    public static func all(in dataDirectory: URL) -> [AuditArchive] {
        let files = FileManager.default
        return [dataDirectory, dataDirectory.appendingPathComponent("plugins")].flatMap { parent in
            let root = parent.appendingPathComponent("audit-archive")
            let streams = ((try? files.contentsOfDirectory(atPath: root.path)) ?? []).filter { !$0.hasPrefix(".") }
            return streams.sorted().map {
                AuditArchive(directory: root.appendingPathComponent($0), stream: $0)
            }
        }
    }

    /// One segment's header line.
    public struct Header: Sendable, Equatable {
        public var segment: Int
        public var firstSeq: Int64
        public var lastSeq: Int64
        public var previousSHA256: String
        public var stream: String
        public var writtenAt: String

        var json: JSONValue {
            [
                "format": .string(AuditArchive.format), "segment": .int(Int64(segment)), "first_seq": .int(firstSeq),
                "last_seq": .int(lastSeq), "prev_sha256": .string(previousSHA256), "stream": .string(stream),
                "written_at": .string(writtenAt),
            ]
        }

        init(segment: Int, firstSeq: Int64, lastSeq: Int64, previousSHA256: String, stream: String, writtenAt: String) {
            self.segment = segment
            self.firstSeq = firstSeq
            self.lastSeq = lastSeq
            self.previousSHA256 = previousSHA256
            self.stream = stream
            self.writtenAt = writtenAt
        }

        init?(json: JSONValue) {
            guard json["format"]?.stringValue == AuditArchive.format, let segment = json["segment"]?.intValue,
                let first = json["first_seq"]?.intValue, let last = json["last_seq"]?.intValue,
                let previous = json["prev_sha256"]?.stringValue, let stream = json["stream"]?.stringValue
            else { return nil }
            self.init(
                segment: Int(segment), firstSeq: first, lastSeq: last, previousSHA256: previous, stream: stream,
                writtenAt: json["written_at"]?.stringValue ?? "")
        }
    }

    /// An archived event: what `SYNC` returned for it before compaction.
    public struct Record: Sendable {
        public var topic: String
        public var stream: String
        public var seq: Int64
        public var epoch: String
        public var event: JSONValue

        public init(topic: String, stream: String, seq: Int64, epoch: String, event: JSONValue) {
            self.topic = topic
            self.stream = stream
            self.seq = seq
            self.epoch = epoch
            self.event = event
        }

        public var json: JSONValue {
            ["topic": .string(topic), "stream": .string(stream), "seq": .int(seq), "epoch": .string(epoch), "event": event]
        }
    }

    /// The segment files, in order (by number).
    public func segmentFiles() -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("segment-") && $0.hasSuffix(".jsonl") }.sorted().map {
            directory.appendingPathComponent($0)
        }
    }

    static func fileName(_ segment: Int) -> String {
        let digits = String(segment)
        return "segment-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".jsonl"
    }

    /// The newest segment's header and hash, if any.
    public func newest() throws -> (header: Header, sha256: String)? {
        guard let file = segmentFiles().last else { return nil }
        let bytes = try Data(contentsOf: file)
        guard let header = AuditArchive.header(of: bytes) else {
            throw AuditArchiveError(message: "\(file.path): no segment header")
        }
        return (header, SHA256.hexDigest(bytes))
    }

    /// Writes the next segment with `events` (audit bodies, by seq, contiguous), durably; returns
    /// its header and hash.
    func append(events: [(seq: Int64, body: [UInt8])], epoch: String) throws -> (header: Header, sha256: String) {
        guard let first = events.first, let last = events.last else {
            throw AuditArchiveError(message: "an archive segment needs at least one event")
        }
        let previous = try newest()
        let header = Header(
            segment: (previous?.header.segment ?? 0) + 1, firstSeq: first.seq, lastSeq: last.seq,
            previousSHA256: previous?.sha256 ?? "", stream: stream, writtenAt: Clock.timestamp())
        var bytes = header.json.canonicalBytes()
        bytes.append(0x0A)
        let topic = Topic.audit(stream)
        for event in events {
            var line = CanonicalObjectWriter(capacity: event.body.count + 128)
            line.string("epoch", epoch)
            line.raw("event", event.body)
            line.int("seq", event.seq)
            line.string("stream", stream)
            line.string("topic", topic)
            bytes.append(contentsOf: line.finish())
            bytes.append(0x0A)
        }
        try DurableFile.createDirectory(directory)
        try DurableFile.write(Data(bytes), to: directory.appendingPathComponent(AuditArchive.fileName(header.segment)))
        return (header, SHA256.hexDigest(bytes))
    }

    static func header(of bytes: Data) -> Header? {
        guard let end = bytes.firstIndex(of: 0x0A), let json = try? JSONValue(parsing: bytes[..<end]) else {
            return nil
        }
        return Header(json: json)
    }

    /// Every archived record, in seq order.
    public func records() throws -> [Record] {
        try segmentFiles().flatMap { file -> [Record] in
            let lines = try Data(contentsOf: file).split(separator: 0x0A).dropFirst()
            return try lines.map { line in
                let json = try JSONValue(parsing: line)
                guard let topic = json["topic"]?.stringValue, let stream = json["stream"]?.stringValue,
                    let seq = json["seq"]?.intValue, let epoch = json["epoch"]?.stringValue, let event = json["event"]
                else { throw AuditArchiveError(message: "\(file.path): a line is not an archived event") }
                return Record(topic: topic, stream: stream, seq: seq, epoch: epoch, event: event)
            }
        }
    }

    /// Checks the chain: segments numbered 1, 2, … without a hole, each header well-formed and of
    /// this stream, each `prev_sha256` the previous segment's hash, seqs contiguous within and
    /// across segments, and the newest segment's hash the one the database recorded (`anchor`:
    /// the database's `audit_archive_sha256` and `audit_archived_seq`). Returns the problems
    /// found, each naming its file; empty when the archive is intact.
    public func verify(anchor: (sha256: String, lastSeq: Int64)?) -> [String] {
        var problems: [String] = []
        var previousHash = ""
        var nextSeq: Int64?
        var hashes: [Int64: String] = [:]
        for (index, file) in segmentFiles().enumerated() {
            guard let bytes = try? Data(contentsOf: file) else {
                problems.append("\(file.path): unreadable")
                continue
            }
            let hash = SHA256.hexDigest(bytes)
            defer { previousHash = hash }
            guard let header = AuditArchive.header(of: bytes) else {
                problems.append("\(file.path): no segment header")
                continue
            }
            if header.segment != index + 1 || file.lastPathComponent != AuditArchive.fileName(header.segment) {
                problems.append("\(file.path): segment \(header.segment) where segment \(index + 1) belongs")
            }
            if header.stream != stream { problems.append("\(file.path): stream \(header.stream), not \(stream)") }
            if header.previousSHA256 != previousHash {
                problems.append(
                    "\(file.path): prev_sha256 does not match segment \(index)'s bytes (a segment before it was changed, removed or replaced)"
                )
            }
            if let expected = nextSeq, header.firstSeq != expected {
                problems.append("\(file.path): starts at seq \(header.firstSeq); the segment before ended at \(expected - 1)")
            }
            var seq = header.firstSeq
            for line in bytes.split(separator: 0x0A).dropFirst() {
                guard let json = try? JSONValue(parsing: line), json["seq"]?.intValue == seq,
                    json["stream"]?.stringValue == stream, json["event"] != nil
                else {
                    problems.append("\(file.path): the record for seq \(seq) is missing or malformed")
                    break
                }
                seq += 1
            }
            if seq != header.lastSeq + 1 {
                problems.append("\(file.path): holds seqs \(header.firstSeq)…\(seq - 1), its header says …\(header.lastSeq)")
            }
            nextSeq = header.lastSeq + 1
            hashes[header.lastSeq] = hash
        }
        if let anchor {
            // A crash between writing a segment and deleting its rows leaves a segment newer than the
            // anchor (its rows are still in the log); the anchored one must still match.
            if let hash = hashes[anchor.lastSeq] {
                if hash != anchor.sha256 {
                    problems.append(
                        "\(directory.path): the segment ending at seq \(anchor.lastSeq) is not the one the database recorded (its hash differs)"
                    )
                }
            } else {
                problems.append(
                    "\(directory.path): the database records an archive up to seq \(anchor.lastSeq), and no segment ends there")
            }
        } else if !hashes.isEmpty {
            problems.append("\(directory.path): segments exist but the database records no archive")
        }
        return problems
    }
}

public struct AuditArchiveError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
