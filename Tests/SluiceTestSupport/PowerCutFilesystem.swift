public import Foundation

/// A FUSE filesystem (`Tests/PowerCutFS/powercutfs.c`) mounted in a temp directory, that keeps
/// every write in memory until it is fsync'ed and, on ``cut()``, drops whatever was not: what a
/// power failure does to a real disk. Names (create, rename, unlink) are durable only once their
/// directory is fsync'ed.
///
/// Needs `/dev/fuse`, root (or fusermount3) and libfuse3-dev to build the C program; `make test`
/// and `.ci/run` install `fuse3` and `libfuse3-dev`.
public final class PowerCutFilesystem: @unchecked Sendable {
    // Process is used from the test's task only; @unchecked because Foundation's Process is not Sendable.
    public let mountPoint: URL
    private let process = Process()
    private let errors: URL

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(mountPoint: URL) throws {
        self.mountPoint = mountPoint
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        errors = mountPoint.deletingLastPathComponent().appendingPathComponent("powercutfs.log")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.executableURL = try Self.executable()
        process.arguments = ["-f", "-s", "-o", "fsname=powercutfs", mountPoint.path]
        let ready = Pipe()
        process.standardOutput = ready
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        // It prints "ready" once the kernel has mounted it; EOF first means it failed.
        var printed = Data()
        while !String(decoding: printed, as: UTF8.self).contains("ready") {
            let chunk = Data(Fixtures.readChunk(ready.fileHandleForReading.fileDescriptor))
            if chunk.isEmpty {
                process.waitUntilExit()
                throw Failure(description: "powercutfs did not mount \(mountPoint.path): \(log)")
            }
            printed.append(chunk)
        }
    }

    /// The power fails: every file and directory reverts to what was last fsync'ed. Stop every
    /// process using the filesystem first (their open files would refer to the old state).
    public func cut() throws { try control("cut") }

    /// Makes everything durable, like `sync` plus an fsync of every directory.
    public func syncEverything() throws { try control("sync") }

    /// What powercutfs printed (mount errors, one line per cut).
    public var log: String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }

    public func unmount() {
        guard process.isRunning else { return }
        let fusermount = Process()
        fusermount.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
        fusermount.arguments = ["-u", "-z", mountPoint.path]
        if (try? fusermount.run()) != nil { fusermount.waitUntilExit() }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
    }

    deinit { unmount() }

    private func control(_ command: String) throws {
        let handle = try FileHandle(forWritingTo: mountPoint.appendingPathComponent(".powercut"))
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(command.utf8))
    }

    /// Builds `powercutfs` into `.build/powercutfs/` when missing or older than its source.
    static func executable() throws -> URL {
        let source = Fixtures.repositoryRoot.appendingPathComponent("Tests/PowerCutFS/powercutfs.c")
        let directory = Fixtures.repositoryRoot.appendingPathComponent(".build/powercutfs")
        let binary = directory.appendingPathComponent("powercutfs")
        let files = FileManager.default
        func modified(_ url: URL) -> Date? { (try? files.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date }
        if let built = modified(binary), let written = modified(source), built >= written { return binary }
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        let flags = try Fixtures.run("/usr/bin/pkg-config", ["--cflags", "--libs", "fuse3"])
        guard flags.status == 0 else {
            throw Failure(description: "libfuse3-dev is missing (apt-get install fuse3 libfuse3-dev): \(flags.output)")
        }
        let staging = directory.appendingPathComponent("powercutfs.\(getpid())")
        let arguments = ["-O2", "-Wall", "-o", staging.path, source.path]
            + flags.output.split(whereSeparator: \.isWhitespace).map(String.init)
        let compiled = try Fixtures.run("/usr/bin/cc", arguments)
        guard compiled.status == 0 else { throw Failure(description: "powercutfs did not build: \(compiled.output)") }
        guard rename(staging.path, binary.path) == 0 else { throw Failure(description: "could not place \(binary.path)") }
        return binary
    }
}
