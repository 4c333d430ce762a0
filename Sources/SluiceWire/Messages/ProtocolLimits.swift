/// Size limits of protocol version 1, announced to clients in `WELCOME`.
public struct ProtocolLimits: Sendable, Equatable {
    /// Largest whole message the broker's socket accepts (`ZMQ_MAXMSGSIZE`, per frame). A bigger
    /// frame makes ZeroMQ drop the connection before the broker sees it, so there is no reply.
    public var maxFrameBytes: Int = 4 << 20
    /// Largest body frame answered normally; bigger bodies get `payload_too_large`. Default 1 MiB.
    public var maxBodyBytes: Int = 1 << 20
    /// Largest header frame. Default 16 KiB.
    public var maxHeaderBytes: Int = 16 << 10
    /// Longest idempotency key, in UTF-8 bytes. Default 255.
    public var maxIdempotencyKeyBytes: Int = 255
    /// Longest request id, in UTF-8 bytes. Default 128.
    public var maxRequestIDBytes: Int = 128

    public init() {}

    public var json: JSONValue {
        [
            "max_frame_bytes": .int(Int64(maxFrameBytes)),
            "max_body_bytes": .int(Int64(maxBodyBytes)),
            "max_header_bytes": .int(Int64(maxHeaderBytes)),
            "max_idempotency_key_bytes": .int(Int64(maxIdempotencyKeyBytes)),
            "max_request_id_bytes": .int(Int64(maxRequestIDBytes)),
        ]
    }
}
