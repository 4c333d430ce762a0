import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The broker's one inotify instance, whose descriptor the I/O thread polls beside its sockets:
/// opens of the database files (the golden invariant: after one, the I/O thread looks at who
/// holds them) and changes in the token and key directories (revocation reaching open
/// connections, ``CredentialCheck``). One instance for both: a user gets 128 by default, shared
/// by all of its processes, and a machine running many brokers (a full test run) ran out.
/// Nothing is polled on a timer.
final class FileWatch {
    enum Change: Hashable {
        case databaseOpened
        case credentialsChanged
    }

    /// -1 when inotify is unavailable (then the golden invariant is checked by `sluice doctor`
    /// only, and credential verdicts are not cached).
    let fileDescriptor: Int32
    private var changes: [Int32: Change] = [:]
    private var watchedFiles: Set<String> = []

    /// Why there is no instance (`errno` of `inotify_init1`), when there is none.
    let failure: Int32

    init() {
        fileDescriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        failure = fileDescriptor >= 0 ? 0 : errno
    }

    deinit { if fileDescriptor >= 0 { close(fileDescriptor) } }

    var isWatching: Bool { fileDescriptor >= 0 }

    /// Watches `files` for opens (a reload's new databases too); files already watched stay.
    func watchDatabases(_ files: [URL]) {
        for url in files where !watchedFiles.contains(url.path) {
            watchedFiles.insert(url.path)
            add(url.path, mask: UInt32(IN_OPEN), as: .databaseOpened)
        }
    }

    /// Watches `directory` (made if missing) for files written, renamed, created or deleted.
    func watchCredentials(_ directory: URL) {
        try? DurableFile.createDirectory(directory)
        add(
            directory.path, mask: UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE),
            as: .credentialsChanged)
    }

    private func add(_ path: String, mask: UInt32, as change: Change) {
        guard fileDescriptor >= 0 else { return }
        let descriptor = inotify_add_watch(fileDescriptor, path, mask)
        if descriptor >= 0 { changes[descriptor] = change }
    }

    /// Reads the pending events; what kinds of change they were.
    func drain() -> Set<Change> {
        var seen: Set<Change> = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        let header = MemoryLayout<inotify_event>.size
        while true {
            let count = read(fileDescriptor, &buffer, buffer.count)
            guard count > 0 else { return seen }
            var offset = 0
            while offset + header <= count {
                let (descriptor, nameLength) = buffer.withUnsafeBytes { bytes in
                    (
                        bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                        Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    )
                }
                if let change = changes[descriptor] { seen.insert(change) }
                offset += header + nameLength
            }
        }
    }
}
