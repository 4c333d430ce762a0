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
    private(set) var files: [URL] = []

    /// Watches `files`; nil when inotify is unavailable (the check then happens in `sluice doctor` only).
    init?(files: [URL]) {
        let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { return nil }
        fileDescriptor = descriptor
        watch(files)
    }

    /// Adds `files` (a reload's new databases) to the watch; files already watched stay as they are.
    func watch(_ files: [URL]) {
        for url in files where !self.files.contains(url) {
            _ = inotify_add_watch(fileDescriptor, url.path, UInt32(IN_OPEN))
            self.files.append(url)
        }
    }

    deinit { close(fileDescriptor) }

    /// Reads and discards the pending events (what matters is that some file was opened).
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while read(fileDescriptor, &buffer, buffer.count) > 0 {}
    }
}
