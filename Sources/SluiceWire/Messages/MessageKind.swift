/// The second frame of every Sluice message: what the message is.
///
/// An open set of string constants rather than an enum, so a newer peer's kind decodes and is
/// answered with `invalid_message` instead of failing to parse.
public struct MessageKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    // Requests (client → broker).
    public static let hello = MessageKind(rawValue: "HELLO")
    public static let command = MessageKind(rawValue: "COMMAND")
    public static let query = MessageKind(rawValue: "QUERY")
    public static let status = MessageKind(rawValue: "STATUS")
    public static let ping = MessageKind(rawValue: "PING")
    public static let stats = MessageKind(rawValue: "STATS")
    public static let sync = MessageKind(rawValue: "SYNC")
    public static let compact = MessageKind(rawValue: "COMPACT")
    /// The operator's: serve the plugins installed now (after `sluice plugins install` & co.).
    public static let reload = MessageKind(rawValue: "RELOAD")

    // Replies (broker → client).
    public static let welcome = MessageKind(rawValue: "WELCOME")
    public static let ack = MessageKind(rawValue: "ACK")
    public static let result = MessageKind(rawValue: "RESULT")
    public static let statusReply = MessageKind(rawValue: "STATUS_REPLY")
    public static let pong = MessageKind(rawValue: "PONG")
    public static let statsReply = MessageKind(rawValue: "STATS_REPLY")
    public static let replay = MessageKind(rawValue: "REPLAY")
    public static let syncEnd = MessageKind(rawValue: "SYNC_END")
    public static let compacted = MessageKind(rawValue: "COMPACTED")
    public static let reloaded = MessageKind(rawValue: "RELOADED")
    public static let error = MessageKind(rawValue: "ERROR")

    /// The request kinds a version 1 broker answers.
    public static let requests: Set<MessageKind> = [
        .hello, .command, .query, .status, .ping, .stats, .sync, .compact, .reload,
    ]
}
