public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which processes hold a broker-owned database file open, read from `/proc/<pid>/fd` (Linux): the
/// runtime side of the golden invariant, for `sluice doctor` and for the broker itself. Only
/// processes this user may inspect are seen (all of them for root).
public enum OpenFileHolders {
    public struct Holder: Sendable, Hashable {
        public var pid: Int32
        /// The process's command line (or its name), for the report.
        public var command: String
        /// The file it holds, as given (a database, or its `-wal` / `-shm`).
        public var file: String
    }

    /// Every (process, file) where a process other than `excludedPID` holds one of `files` (or its
    /// `-wal`/`-shm`) open.
    public static func holders(of files: [URL], excluding excludedPID: Int32?) -> [Holder] {
        var watched: [String: String] = [:]
        for url in files {
            let path = url.standardizedFileURL.resolvingSymlinksInPath().path
            for suffix in ["", "-wal", "-shm", "-journal"] { watched[path + suffix] = url.lastPathComponent + suffix }
        }
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: Set<Holder> = []
        for entry in entries {
            guard let pid = Int32(entry), pid != excludedPID else { continue }
            let fdDirectory = "/proc/\(entry)/fd"
            guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else { continue }
            for descriptor in descriptors {
                guard let target = readLink("\(fdDirectory)/\(descriptor)"), let file = watched[target] else { continue }
                found.insert(Holder(pid: pid, command: command(of: entry), file: file))
            }
        }
        return found.sorted { ($0.pid, $0.file) < ($1.pid, $1.file) }
    }

    /// A procfs file's bytes: they report size 0, so read until EOF rather than by size.
    public static func readProcFile(_ path: String) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return [] }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            guard count > 0 else { return bytes }
            bytes += buffer[0..<count]
        }
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(path, &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func command(of pid: String) -> String {
        let data = readProcFile("/proc/\(pid)/cmdline")
        guard !data.isEmpty else {
            return (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        }
        let text = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return String(text.trimmingCharacters(in: .whitespaces).prefix(200))
    }
}
