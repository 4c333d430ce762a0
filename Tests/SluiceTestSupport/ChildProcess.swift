public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that run this package's executables.
///
/// Not Foundation's `Process`: on this toolchain its `run()` crashed (a `memcpy` in
/// `Process.run`) when a test process with thousands of descriptors (many brokers in parallel)
/// opened and closed them meanwhile. Here the child gets standard input from `/dev/null`,
/// standard output and error on one pipe (or `/dev/null`), and no other descriptor of this
/// process: a child that kept, say, another test's half-written copy of a binary or an unlinked
/// file open would make that test's `exec` fail with "text file busy" or its disk stay full.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    /// The read end of the child's output pipe (nil when its output is discarded).
    public let output: Int32?
    private var exitStatus: Int32?

    public init(_ executable: URL, _ arguments: [String], captureOutput: Bool = true) throws {
        guard captureOutput else {
            pid = try spawnChild(executable, arguments, output: nil)
            output = nil
            return
        }
        var ends: [Int32] = [-1, -1]
        // (pipe2 is not exported to Swift here: close-on-exec right after, for both ends.)
        guard pipe(&ends) == 0 else { throw ChildProcessError(message: "pipe: \(errno)") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(ends[1]) }
        do {
            pid = try spawnChild(executable, arguments, output: ends[1])
        } catch {
            close(ends[0])
            throw error
        }
        output = ends[0]
    }

    deinit { if let output { close(output) } }

    /// Everything the child printed, until it closes its output (nil output: empty).
    public func readOutput() -> String {
        guard let output else { return "" }
        return String(decoding: Fixtures.readToEnd(output), as: UTF8.self)
    }

    /// Waits for the child to exit: its exit status, or 128 + the signal that ended it.
    @discardableResult
    public func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        let code = waitForExitCode(pid)
        exitStatus = code
        return code
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A long-running child (a broker) with a thread that reaps it: `isRunning`, the exit status and
/// waits with a limit, like Foundation's `Process` offers, without its `run()` (see
/// ``ChildProcess``). Output goes to `outputDescriptor` (a log file).
public final class WatchedChild: @unchecked Sendable {
    public let processIdentifier: pid_t
    private let exited = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var status: Int32?

    public init(_ executable: URL, _ arguments: [String], outputDescriptor: Int32) throws {
        let pid = try spawnChild(executable, arguments, output: outputDescriptor)
        processIdentifier = pid
        Thread.detachNewThread { [self] in
            let code = waitForExitCode(pid)
            lock.withLock { status = code }
            exited.signal()
        }
    }

    public var isRunning: Bool { lock.withLock { status == nil } }

    /// The exit status (128 + signal when a signal ended it); -1 while it runs.
    public var terminationStatus: Int32 { lock.withLock { status ?? -1 } }

    /// Waits up to `limit` seconds for the exit; false if it still runs.
    public func waitForExit(limit: TimeInterval) -> Bool {
        guard exited.wait(timeout: .now() + limit) == .success else { return false }
        exited.signal()  // later waits return at once too
        return true
    }

    public func waitUntilExit() {
        exited.wait()
        exited.signal()
    }
}

/// Adds a close, in the child, of every descriptor above 2 this process has open now (after the
/// dup2 actions already added, so the child's 0–2 stay). A descriptor closed meanwhile is no
/// error: glibc's posix_spawn ignores EBADF from a close action.
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
        if let descriptor = Int32(entry), descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }
}

/// Starts `executable` with standard input from `/dev/null`, standard output and error on
/// `output` (`/dev/null` when nil) and no other descriptor of this process; returns its pid.
func spawnChild(_ executable: URL, _ arguments: [String], output: Int32?) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if let output {
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }
    closeInheritedDescriptors(&actions)
    let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable.path, &actions, nil, argv, environ)
    guard spawned == 0 else {
        throw ChildProcessError(message: "cannot run \(executable.path): \(String(cString: strerror(spawned)))")
    }
    return pid
}

/// Reaps `pid`: its exit status, or 128 + the signal that ended it.
func waitForExitCode(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}
