import SluiceZMQ

extension ZMQContext {
    /// A PUSH socket to another thread of this broker over `inproc://`: no high-water mark (the
    /// bounds are enforced where the work is admitted, with an answer), and the given LINGER.
    ///
    /// - Parameter linger: -1 where a message must arrive (commands to their writer), a finite
    ///   time otherwise, so the context can always terminate.
    func handoverSocket(to endpoint: String, linger: Int32) throws(ZMQError) -> ZMQSocket {
        let socket = try self.socket(.push)
        try socket.setLinger(linger)
        try socket.setSendHighWaterMark(0)
        try socket.connect(endpoint)
        return socket
    }
}
