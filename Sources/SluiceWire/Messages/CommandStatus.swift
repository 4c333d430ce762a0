/// The body of a `STATUS_REPLY`: what the broker knows about one idempotency key of the sender.
public enum CommandStatus: Sendable, Equatable {
    /// Committed: the ACK the command got (or would get), with its error if it failed deterministically.
    case committed(Acknowledgement)
    /// Committed as a deterministic failure (e.g. a constraint violation); retries get this error.
    case failed(db: String, seq: Int64, error: WireError)
    /// Admitted and not yet committed: wait for its ACK or ask again.
    case inFlight
    /// The broker has no record of the key: it never arrived, was rejected before admission, or
    /// its ledger entry expired. Sending it again is safe.
    case unknown

    public var json: JSONValue {
        switch self {
        case .committed(let ack):
            return ["state": "committed", "db": .string(ack.db), "seq": .int(ack.seq), "result": ack.result]
        case .failed(let db, let seq, let error):
            return ["state": "failed", "db": .string(db), "seq": .int(seq), "error": error.json]
        case .inFlight:
            return ["state": "in_flight"]
        case .unknown:
            return ["state": "unknown"]
        }
    }

    public init?(json: JSONValue) {
        switch json["state"]?.stringValue {
        case "committed":
            guard let db = json["db"]?.stringValue, let seq = json["seq"]?.intValue else { return nil }
            self = .committed(Acknowledgement(db: db, seq: seq, duplicate: true, result: json["result"] ?? .null))
        case "failed":
            guard let db = json["db"]?.stringValue, let seq = json["seq"]?.intValue, let error = json["error"] else {
                return nil
            }
            self = .failed(db: db, seq: seq, error: WireError(json: error))
        case "in_flight": self = .inFlight
        case "unknown": self = .unknown
        default: return nil
        }
    }
}
