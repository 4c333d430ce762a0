public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The layout for plugin processes that run as other OS users than the broker: the ipc sockets
/// live in ``directory`` (mode 0750, group ``group``) and are mode 0660 with that group, so a
/// member of the group can connect; the data directory — databases, tokens, keys — stays 0700 and
/// the broker's user's alone. The plugin host hands each plugin its own token (a copy it may
/// read), never the data directory. Connecting still needs valid credentials: the group only
/// lets a process reach the sockets.
public struct SharedSocketLayout: Sendable, Equatable {
    public var directory: URL
    /// A group name (`getent group`), e.g. `sluice-plugins`.
    public var group: String

    public init(directory: URL, group: String) {
        self.directory = directory
        self.group = group
    }

    public var commandEndpoint: String { "ipc://" + directory.appendingPathComponent("sluice.sock").path }
    public var eventEndpoint: String { "ipc://" + directory.appendingPathComponent("events.sock").path }

    /// The group's id; throws when the group does not exist.
    func groupID() throws -> gid_t {
        guard let entry = getgrnam(group) else {
            throw BrokerStateError(message: "socket group '\(group)' does not exist (create it with groupadd)")
        }
        return entry.pointee.gr_gid
    }

    /// Creates the socket directory if needed and gives it mode 0750 and the group. It must not
    /// be the data directory or inside it (that one stays private to the broker's user).
    func prepareDirectory(dataDirectory: URL) throws {
        let data = dataDirectory.standardizedFileURL.path
        let sockets = directory.standardizedFileURL.path
        guard sockets != data, !sockets.hasPrefix(data + "/") else {
            throw BrokerStateError(
                message: "the socket directory \(sockets) must be outside the data directory \(data), which stays private")
        }
        let gid = try groupID()
        try DurableFile.createDirectory(directory, permissions: 0o750)
        try set(path: sockets, mode: 0o750, gid: gid)
    }

    /// Gives the bound socket files of `endpoints` mode 0660 and the group.
    func grant(endpoints: [String]) throws {
        let gid = try groupID()
        for endpoint in endpoints where endpoint.hasPrefix("ipc://") {
            try set(path: String(endpoint.dropFirst("ipc://".count)), mode: 0o660, gid: gid)
        }
    }

    private func set(path: String, mode: mode_t, gid: gid_t) throws {
        guard chown(path, uid_t.max, gid) == 0 else {
            throw BrokerStateError(message: "chgrp \(group) \(path): \(String(cString: strerror(errno)))")
        }
        guard chmod(path, mode) == 0 else {
            throw BrokerStateError(message: "chmod \(String(mode, radix: 8)) \(path): \(String(cString: strerror(errno)))")
        }
    }
}
