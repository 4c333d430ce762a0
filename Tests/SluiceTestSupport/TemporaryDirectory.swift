public import Foundation

/// A fresh directory under /tmp with a short path (ipc socket paths must fit in ~107 bytes),
/// removed when the value is released.
public final class TemporaryDirectory: Sendable {
    public let url: URL

    public init() {
        let name = "sl-" + UUID().uuidString.prefix(8).lowercased()
        url = URL(fileURLWithPath: "/tmp").appendingPathComponent(name)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func path(_ component: String) -> URL { url.appendingPathComponent(component) }

    deinit { try? FileManager.default.removeItem(at: url) }
}
