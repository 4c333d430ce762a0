/// Topics of the broker's PUB channel. The topic is the first frame, so SUB prefix filters work.
public enum Topic {
    /// Audit records of commands run against `db` (committed or failed), seq = the command-log seq.
    public static func audit(_ db: String) -> String { "audit.\(db)" }
    /// What a commit to `db` changed, seq = the command-log seq.
    public static func invalidation(_ db: String) -> String { "inval.\(db)" }
    /// Audit records of requests refused before reaching any database, from audit.db.
    public static let rejected = "audit.rejected"
    /// The plugins' lifecycle as the broker applied it (installed, upgraded, disabled, enabled,
    /// removed, token rotated), from audit.db; the operator's.
    public static let lifecycle = "audit.lifecycle"
    /// Heartbeat: the broker epoch and each stream's latest seq, once a second.
    public static let heartbeat = "hb"

    /// The stream a stored topic belongs to: `audit.tasks` and `inval.tasks` → `tasks`,
    /// `audit.rejected` → `rejected`; nil for topics without a stored history.
    public static func stream(of topic: String) -> String? {
        if topic == rejected { return "rejected" }
        if topic == lifecycle { return "lifecycle" }
        for prefix in ["audit.", "inval."] where topic.hasPrefix(prefix) && topic.count > prefix.count {
            return String(topic.dropFirst(prefix.count))
        }
        return nil
    }
}
