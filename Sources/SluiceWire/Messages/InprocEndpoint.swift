/// Where an in-process identity reaches a broker embedded in the same process (`inproc://`, the
/// broker's ZeroMQ context): inproc has no handshake, so the endpoint is the identity.
public enum InprocEndpoint {
    /// Requests of `identity`: a DEALER or REQ connects here.
    public static func requests(_ identity: String) -> String { "inproc://sluice/\(identity)" }
    /// Events for `identity`: a SUB connects here and receives the topics it may read.
    public static func events(_ identity: String) -> String { "inproc://sluice/\(identity)/events" }
}
