public import Foundation

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
}
