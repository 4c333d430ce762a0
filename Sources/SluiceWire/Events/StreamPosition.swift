/// Where a subscriber is in a stream: the last seq it processed, in which epoch. Store it with
/// the subscriber's own state to resume after a restart without a gap or a repeat.
public struct StreamPosition: Sendable, Hashable, Codable {
    public var seq: Int64
    public var epoch: String

    public init(seq: Int64, epoch: String) {
        self.seq = seq
        self.epoch = epoch
    }

    /// The position just after `event`.
    public init(after event: Event) {
        self.init(seq: event.seq, epoch: event.epoch)
    }
}
