public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Paths into this repository, for tests that use the shipped examples and the built binary.
public enum Fixtures {
    /// The repository root, found from this source file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `examples/tasks` contract set that `sluice serve` uses by default.
    public static let tasksContracts = repositoryRoot.appendingPathComponent("examples/tasks")

    /// The `sluice` executable built next to the test bundle.
    public static var sluiceExecutable: URL { executable("sluice") }

    /// An executable of this package (`sluice`, `tasks-example`...) built next to the test bundle.
    public static func executable(_ name: String) -> URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return repositoryRoot.appendingPathComponent(".build/debug/\(name)")
    }

    /// Runs one of this package's executables (or any path) to completion: its exit status and
    /// everything it printed.
    public static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(
            executable.hasPrefix("/") ? URL(fileURLWithPath: executable) : Fixtures.executable(executable), arguments)
        let output = child.readOutput()
        return (child.wait(), output)
    }

    /// Everything `descriptor` yields until EOF, retrying a read a signal interrupted (Foundation's
    /// `readDataToEndOfFile` traps on EINTR, and this process receives SIGCHLD from the brokers
    /// its tests start).
    /// One read of what is available (blocking until something is), retrying EINTR; empty at EOF.
    public static func readChunk(_ descriptor: Int32) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            return count > 0 ? Array(buffer[0..<count]) : []
        }
    }

    public static func readToEnd(_ descriptor: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return bytes }
            bytes += buffer[0..<count]
        }
    }
}
