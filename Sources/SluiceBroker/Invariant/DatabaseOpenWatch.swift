import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Tells the broker when anything opens one of its database files: an inotify watch (`IN_OPEN`)
/// on each, whose descriptor the I/O thread polls beside its sockets. Nothing is polled on a
/// timer: only an open — the broker's own readers' included — makes the I/O thread look at who
/// holds the files (``OpenFileHolders``).
final class DatabaseOpenWatch {
    let fileDescriptor: Int32
    let files: [URL]

    /// Watches `files`; nil when inotify is unavailable (the check then happens in `sluice doctor` only).
    init?(files: [URL]) {
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        for url in files { _ = inotify_add_watch(descriptor, url.path, UInt32(IN_OPEN)) }
        fileDescriptor = descriptor
        self.files = files
    }

    deinit { close(fileDescriptor) }

    /// Reads and discards the pending events (what matters is that some file was opened).
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while read(fileDescriptor, &buffer, buffer.count) > 0 {}
    }
}
