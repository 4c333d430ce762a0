import SluiceWire

/// A command that passed admission, with everything the I/O thread fixed for it: the values a
/// replay must reproduce (`timestamp`, `generatedID`) and the bookkeeping to answer it.
struct AdmittedCommand: Sendable {
    /// The I/O thread's handle for the waiting client(s).
    var token: UInt64
    var actor: String
    var request: CommandRequest
    var contract: Contract
    var timestamp: String
    /// `timestamp` in milliseconds since 1970; idempotency expiry is judged against it.
    var admittedMs: Int64
    var generatedID: String
    var receivedAt: UInt64
    /// Monotonic nanoseconds after which the command must not start.
    var deadline: UInt64?
}
