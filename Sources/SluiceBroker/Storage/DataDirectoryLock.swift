public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive lock on a data directory, so two brokers never write the same files (and never
/// steal each other's ipc socket, which binding would otherwise silently do).
public final class DataDirectoryLock: Sendable {
    private let descriptor: Int32
    private let released = Atomic<Bool>(false)

    public struct Held: Error, CustomStringConvertible {
        public var directory: String
        public var description: String {
            "another broker is serving \(directory) (its lock file is \(directory)/broker.lock); stop it first"
        }
    }

    public init(directory: URL) throws {
        let path = directory.appendingPathComponent("broker.lock").path
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw Held(directory: directory.path)
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
        self.descriptor = descriptor
    }

    /// Lets another broker take the directory; called once this broker has fully stopped.
    public func release() {
        guard !released.exchange(true, ordering: .sequentiallyConsistent) else { return }
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    deinit { release() }
}
