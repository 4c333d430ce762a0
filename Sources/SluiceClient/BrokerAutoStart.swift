public import Foundation
import SluiceWire

#if canImport(Glibc)
    import Glibc
#endif

/// Ephemeral mode: a client pointed at a data directory with no broker serving it starts one in
/// the background (`sluice serve --idle-exit …`), which exits by itself once idle.
///
/// Who serves is decided by the broker's own lock: a serving broker holds `flock` on
/// `<data-dir>/broker.lock` for its lifetime (the kernel drops it when the process dies, however
/// it dies). Starters take `<data-dir>/launch.lock` one at a time: the first that finds
/// `broker.lock` free starts a broker and waits until it serves; the others, once they get
/// `launch.lock`, find `broker.lock` held and just connect. So any number of processes racing to
/// start yield one broker, and after a crash the next caller takes over (the new broker binds
/// over the old ipc socket files).
public struct BrokerAutoStart: Sendable {
    /// The `sluice` executable to run.
    public var executable: URL
    public var dataDirectory: URL
    /// Contract sets for the broker (`--contracts`); empty: its default.
    public var contracts: [URL]
    /// The broker exits after this long with no connection and nothing pending.
    public var idleExit: Duration
    /// More `sluice serve` arguments (endpoints, log level, …).
    public var extraArguments: [String]

    public init(
        executable: URL, dataDirectory: URL, contracts: [URL] = [], idleExit: Duration = .seconds(300),
        extraArguments: [String] = []
    ) {
        self.executable = executable
        self.dataDirectory = dataDirectory
        self.contracts = contracts
        self.idleExit = idleExit
        self.extraArguments = extraArguments
    }

    /// A broker could not be started; `output` is what it printed before it gave up.
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var output: String
        public var description: String { output.isEmpty ? message : "\(message):\n\(output)" }
    }

    /// The line `sluice serve --ready-line` prints once it serves.
    public static let readyLine = "sluice-ready"

    /// Returns once a broker serves the data directory: at once when one does, else after
    /// starting one (true when this call started it).
    @discardableResult
    public func ensureRunning(timeout: Duration = .seconds(60)) throws -> Bool {
        try FileManager.default.createDirectory(
            at: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let launch = open(dataDirectory.appendingPathComponent("launch.lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard launch >= 0 else { throw Failure(message: "cannot open \(dataDirectory.path)/launch.lock", output: "") }
        defer { close(launch) }  // also releases the flock
        // One starter at a time, and nobody past this point while a broker starts: a broker holds
        // broker.lock from early in its start, before it serves, so a caller that saw the lock
        // held would otherwise connect too soon. The wait is bounded by the starter's timeout.
        while flock(launch, LOCK_EX) != 0 && errno == EINTR {}
        if isServing() { return false }
        try start(timeout: timeout)
        return true
    }

    /// Whether a process holds `broker.lock` (a broker serves, or an offline tool runs).
    public func isServing() -> Bool {
        let descriptor = open(dataDirectory.appendingPathComponent("broker.lock").path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// Spawns `sluice serve` in a session of its own (so a terminal's signals do not reach it),
    /// and reads its output until it says it serves.
    private func start(timeout: Duration) throws {
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw Failure(message: "pipe failed", output: "") }
        let (readEnd, writeEnd) = (pipe[0], pipe[1])
        defer { close(readEnd) }
        var arguments = [
            executable.path, "serve", "--data-dir", dataDirectory.path, "--ready-line",
            "--log-file", dataDirectory.appendingPathComponent("broker.log").path,
            "--idle-exit-ms", String(idleExit.wholeMilliseconds),
        ]
        for set in contracts { arguments += ["--contracts", set.path] }
        arguments += extraArguments

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        posix_spawn_file_actions_addclose(&actions, readEnd)
        // Nothing else of this process reaches the broker: an inherited descriptor would outlive
        // this process in it (Foundation's Process, for one, learns that a child exited when a
        // socket it gave the child closes — a broker holding it would keep a parent waiting).
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let descriptor = Int32(entry), descriptor > 2, descriptor != writeEnd, descriptor != readEnd {
                posix_spawn_file_actions_addclose(&actions, descriptor)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc's 0x80, declared only under _GNU_SOURCE): a session of its own.
        posix_spawnattr_setflags(&attributes, 0x80)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable.path, &actions, &attributes, argv, environ)
        close(writeEnd)
        guard spawned == 0 else {
            throw Failure(message: "cannot run \(executable.path): \(String(cString: strerror(spawned)))", output: "")
        }
        // Its output until the ready line; EOF first means it exited (its output says why).
        var output = ""
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                throw Failure(message: "the broker did not serve within \(timeout)", output: output)
            }
            var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(remaining.components.seconds * 1000 + 1, 60_000))
            guard poll(&descriptor, 1, milliseconds) >= 0 || errno == EINTR else { continue }
            let count = read(readEnd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                var status: Int32 = 0
                waitpid(pid, &status, 0)
                throw Failure(message: "the broker exited before it served", output: output)
            }
            output += String(decoding: buffer[0..<count], as: UTF8.self)
            if output.split(separator: "\n").contains(where: { $0 == BrokerAutoStart.readyLine }) {
                // It outlives this call (and may outlive this process); while this process lives,
                // reap it when it exits so it does not linger as a zombie.
                let child = pid
                Thread.detachNewThread {
                    var status: Int32 = 0
                    waitpid(child, &status, 0)
                }
                return
            }
        }
    }
}
