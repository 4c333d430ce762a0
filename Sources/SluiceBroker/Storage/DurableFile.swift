public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes files so that they survive a power cut: the bytes are fsync'ed before the name points
/// at them, and the directory is fsync'ed after the name changes (a new or renamed name is durable
/// only then). Every file the broker creates and relies on goes through here.
public enum DurableFile {
    private static func writeAll(_ data: Data, to descriptor: Int32, _ url: URL) throws {
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw failure("write", url) }
                offset += written
            }
        }
    }

    /// Appends `data` to `url` (created 0600 if missing) and fsyncs it (and, for a new file, its
    /// directory): an append-only record that survives a power cut once this returns.
    public static func append(_ data: Data, to url: URL) throws {
        let isNew = !FileManager.default.fileExists(atPath: url.path)
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw failure("open", url) }
        defer { close(descriptor) }
        try writeAll(data, to: descriptor, url)
        guard fsync(descriptor) == 0 else { throw failure("fsync", url) }
        if isNew { try syncDirectory(of: url) }
    }

    /// Replaces `url` atomically with `data`: writes `.<name>.partial`, fsyncs it, renames it over
    /// `url` and fsyncs the directory. A crash at any point leaves the old file or the new one.
    public static func write(_ data: Data, to url: URL, permissions: mode_t = 0o600) throws {
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
        let descriptor = open(staging.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, permissions)
        guard descriptor >= 0 else { throw failure("create", staging) }
        defer { close(descriptor) }
        _ = fchmod(descriptor, permissions)
        try writeAll(data, to: descriptor, staging)
        guard fsync(descriptor) == 0 else { throw failure("fsync", staging) }
        guard rename(staging.path, url.path) == 0 else { throw failure("rename", url) }
        try syncDirectory(of: url)
    }

    /// Creates `directory` (and missing parents) with `permissions`, making each new name durable.
    public static func createDirectory(_ directory: URL, permissions: Int = 0o700) throws {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue { return }
        let parent = directory.deletingLastPathComponent()
        if parent.path != directory.path { try createDirectory(parent, permissions: permissions) }
        try files.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [
            .posixPermissions: permissions
        ])
        try syncDirectory(parent)
    }

    /// fsyncs the directory that holds `url`, so a name created, renamed or removed there is durable.
    public static func syncDirectory(of url: URL) throws {
        try syncDirectory(url.deletingLastPathComponent())
    }

    /// fsyncs `directory` itself.
    public static func syncDirectory(_ directory: URL) throws {
        try sync(directory, flags: O_RDONLY | O_DIRECTORY)
    }

    /// fsyncs every file and directory under `root` (and `root`), for a tree copied with
    /// `FileManager` before it is renamed into place.
    public static func syncTree(_ root: URL) throws {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: root.path, isDirectory: &isDirectory) else { return }
        if isDirectory.boolValue {
            for name in try files.contentsOfDirectory(atPath: root.path) {
                try syncTree(root.appendingPathComponent(name))
            }
            try syncDirectory(root)
        } else {
            try sync(root, flags: O_RDONLY)
        }
    }

    private static func sync(_ url: URL, flags: Int32) throws {
        let descriptor = open(url.path, flags | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open", url) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw failure("fsync", url) }
    }

    private static func failure(_ operation: String, _ url: URL) -> DurabilityError {
        DurabilityError(path: url.path, message: "\(operation) failed: \(String(cString: strerror(errno)))")
    }
}
