import Foundation
import Testing

@testable import SluiceZMQ

@Suite struct ZMQSocketTests {
    /// A PULL socket bound at `endpoint` (no linger; a blocking receive gives up after 5 s).
    func boundPull(_ context: ZMQContext, _ endpoint: String) throws -> ZMQSocket {
        let pull = try context.socket(.pull)
        try pull.setLinger(0)
        try pull.setReceiveTimeout(5000)
        try pull.bind(endpoint)
        return pull
    }

    /// A PUSH socket connected to `endpoint` (no linger).
    func connectedPush(_ context: ZMQContext, _ endpoint: String) throws -> ZMQSocket {
        let push = try context.socket(.push)
        try push.setLinger(0)
        try push.connect(endpoint)
        return push
    }

    @Test func objectsCrossThreadsOverInproc() throws {
        let context = ZMQContext()
        let pull = try boundPull(context, "inproc://objects")
        let sent = Thread { [context] in
            let push = try! context.socket(.push)
            try! push.setLinger(1000)
            try! push.connect("inproc://objects")
            for index in 0..<100 { try! push.sendObject(["i": "\(index)"]) }
            push.close()
        }
        sent.start()
        var received: [String] = []
        for _ in 0..<100 {
            let value = try #require(try pull.receiveObject([String: String].self))
            received.append(value["i"] ?? "")
        }
        #expect(received == (0..<100).map { "\($0)" })
        pull.close()
        context.terminate()
    }

    /// A message on a hand-over socket that is not one 8-byte frame is taken in whole and refused
    /// (`EPROTO`); the hand-over after it arrives intact.
    @Test func aMalformedHandOverIsRefusedWhole() throws {
        let context = ZMQContext()
        let pull = try boundPull(context, "inproc://malformed")
        let push = try connectedPush(context, "inproc://malformed")
        try push.send([[1, 2, 3], [4]])
        try push.send([Array(repeating: 0, count: 8), [5]])
        try push.sendObject(7)
        for _ in 0..<2 {
            #expect { _ = try pull.receiveObject(Int.self) } throws: { ($0 as? ZMQError)?.errno == EPROTO }
        }
        #expect(try pull.receiveObject(Int.self) == 7)
        push.close()
        pull.close()
        context.terminate()
    }

    @Test func routerAndDealerRoundTripWithPoller() throws {
        let context = ZMQContext()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.setRouterMandatory(true)
        try router.bind("inproc://router")
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(0)
        try dealer.setReceiveTimeout(5000)
        try dealer.connect("inproc://router")
        try dealer.send([[], Array("hello".utf8)])

        let doorbell = Doorbell()
        var poller = ZMQPoller()
        let routerIndex = poller.add(router)
        let bellIndex = poller.add(fileDescriptor: doorbell.fileDescriptor)
        var readable = try poller.poll(timeoutMilliseconds: 5000)
        #expect(readable[routerIndex])
        #expect(!readable[bellIndex])
        let frames = try #require(try router.receive())
        #expect(frames.count == 3)
        #expect(frames[1].isEmpty)
        try router.send([frames[0], [], Array("world".utf8)])
        #expect(try dealer.receive() == [[], Array("world".utf8)])

        doorbell.ring()
        readable = try poller.poll(timeoutMilliseconds: 5000)
        #expect(readable[bellIndex])
        doorbell.reset()
        readable = try poller.poll(timeoutMilliseconds: 0)
        #expect(!readable[bellIndex])

        // ROUTER_MANDATORY: a reply to a peer that does not exist is an error, not a silent drop.
        #expect(throws: ZMQError.self) { try router.send([Array("nobody".utf8), [], [1]], dontWait: true) }
        router.close()
        dealer.close()
        context.terminate()
    }

    /// The poller asks a socket whether a message waits only where the answer may have changed:
    /// a message is reported at once (not after the timeout) whether its signal is still on the
    /// socket's descriptor, was taken in by a call on the socket, or was left unreceived after
    /// the last report. A paused socket is not reported.
    @Test func messagesAreReportedHoweverTheirSignalArrived() throws {
        let context = ZMQContext()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.bind("inproc://edges")
        let dealer = try context.socket(.dealer)
        try dealer.setLinger(0)
        try dealer.connect("inproc://edges")
        var poller = ZMQPoller()
        let routerIndex = poller.add(router)
        // (A poller that missed a message would wait out the 10 s and report nothing.)
        #expect(try poller.poll(timeoutMilliseconds: 0) == [false])
        for round in 0..<3 {
            // The signal on the descriptor: nothing called the router since the last answer.
            try dealer.send([Array("d\(round)".utf8)])
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == [true])
            // Not received: reported again.
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == [true])
            #expect(try router.receive(dontWait: true)?.last == Array("d\(round)".utf8))
            #expect(try router.receive(dontWait: true) == nil)
            // After a receive that found nothing, the poller does not ask (that receive was the
            // question): a message that comes later is reported through the descriptor.
            try dealer.send([Array("e\(round)".utf8)])
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == [true])
            #expect(try router.receive(dontWait: true)?.last == Array("e\(round)".utf8))
            #expect(try router.receive(dontWait: true) == nil)
            #expect(try poller.poll(timeoutMilliseconds: 0) == [false])
            // The signal taken in by a call on the socket, outside the poller.
            try dealer.send([Array("c\(round)".utf8)])
            #expect(router.hasIncoming)
            #expect(try poller.poll(timeoutMilliseconds: 10_000) == [true])
            #expect(try router.receive(dontWait: true)?.last == Array("c\(round)".utf8))
        }
        #expect(try poller.poll(timeoutMilliseconds: 0) == [false])
        try dealer.send([Array("paused".utf8)])
        poller.watch(routerIndex, false)
        #expect(try poller.poll(timeoutMilliseconds: 0) == [false])
        poller.watch(routerIndex, true)
        #expect(try poller.poll(timeoutMilliseconds: 10_000) == [true])
        router.close()
        dealer.close()
        context.terminate()
    }

    /// The same for object hand-overs: after a `receiveObject` that found nothing, the next
    /// hand-over, from another thread, wakes the poller.
    @Test func aHandOverAfterAnEmptyReceiveIsReported() throws {
        let context = ZMQContext()
        let pull = try boundPull(context, "inproc://hand-overs")
        var poller = ZMQPoller()
        poller.add(pull)
        for round in 0..<3 {
            #expect(try pull.receiveObject(Int.self, dontWait: true) == nil)
            let sender = Thread { [context] in
                let push = try! context.socket(.push)
                try! push.setLinger(1000)
                try! push.connect("inproc://hand-overs")
                try! push.sendObject(round)
                push.close()
            }
            sender.start()
            // A wake-up may come before the message (the sender's connection arriving): the
            // receive then finds nothing, and the poller is asked again. A missed signal would
            // wait out the 10 s.
            let deadline = Date().addingTimeInterval(10)
            var received: Int?
            while received == nil, Date() < deadline {
                if try poller.poll(timeoutMilliseconds: 10_000) == [true] {
                    received = try pull.receiveObject(Int.self, dontWait: true)
                }
            }
            #expect(received == round)
        }
        pull.close()
        context.terminate()
    }

    /// A thread waiting in the poller learns that its context is terminating (and can close its
    /// sockets so the termination ends) instead of waiting on: from the poller, or from the
    /// receive the poller's report leads to.
    @Test func aPollerWaitingOnATerminatingContextThrows() throws {
        let context = ZMQContext()
        let pull = try boundPull(context, "inproc://terminating")
        var poller = ZMQPoller()
        poller.add(pull)
        #expect(try poller.poll(timeoutMilliseconds: 0) == [false])
        let terminated = Thread { [context] in context.terminate() }
        terminated.start()
        // The poller reports the socket (its descriptor fired) or throws; the receive that
        // follows a report throws, or the next poll does. (A poller that swallowed the error
        // would wait out the 60 s three times and report nothing.)
        #expect {
            for _ in 0..<3 where try poller.poll(timeoutMilliseconds: 60_000) == [true] {
                _ = try pull.receive(dontWait: true)
            }
        } throws: { ($0 as? ZMQError)?.isTerminated == true }
        pull.close()
    }

    /// Frames equal to a shared one come back as that array; every other frame as sent.
    @Test func framesEqualToASharedOneAreThatArray() throws {
        let context = ZMQContext()
        let pull = try boundPull(context, "inproc://shared")
        let push = try connectedPush(context, "inproc://shared")
        let tag = Array("SLU1".utf8)
        let kind = Array("COMMAND".utf8)
        let sent: [[UInt8]] = [[], Array("SLU1".utf8), Array("COMMAND".utf8), Array("SLU2".utf8), Array("COMMANDS".utf8)]
        try push.send(sent)
        let received = try #require(try pull.receive(properties: [], shared: [tag, kind]))
        #expect(received.frames == sent)
        received.frames[1].withUnsafeBufferPointer { frame in
            tag.withUnsafeBufferPointer { #expect(frame.baseAddress == $0.baseAddress) }
        }
        received.frames[3].withUnsafeBufferPointer { frame in
            tag.withUnsafeBufferPointer { #expect(frame.baseAddress != $0.baseAddress) }
        }
        push.close()
        pull.close()
        context.terminate()
    }

    /// Each message carries its own connection's properties, however messages of connections with
    /// the same, partly the same and other values interleave (the socket hands out the last
    /// message's array again when the values are the same).
    @Test func propertiesAreEachMessagesOwnConnections() throws {
        let context = ZMQContext()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zmq-properties-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A ZAP handler that names each PLAIN peer by its username and tags it with its password.
        let handler = Thread { [context] in
            let zap = try! context.socket(.rep)
            try! zap.setLinger(0)
            try! zap.bind("inproc://zeromq.zap.01")
            for _ in 0..<3 {
                guard let request = try? zap.receive(), request.count >= 8 else { break }
                var metadata: [UInt8] = [5] + Array("X-Tag".utf8)
                metadata += [0, 0, 0, UInt8(request[7].count)] + request[7]
                try! zap.send([Array("1.0".utf8), request[1], Array("200".utf8), Array("OK".utf8), request[6], metadata])
            }
            zap.close()
        }
        handler.start()
        let router = try context.socket(.router)
        try router.setLinger(0)
        try router.setReceiveTimeout(5000)
        try router.setPlainServer(domain: "test")
        let endpoint = "ipc://\(directory.path)/router.sock"
        try router.bind(endpoint)
        let peers = [("alice", "one"), ("bob", "two"), ("alice", "three")]
        let dealers = try peers.map { user, tag in
            let dealer = try context.socket(.dealer)
            try dealer.setLinger(0)
            try dealer.setPlainCredentials(username: user, password: tag)
            try dealer.connect(endpoint)
            return dealer
        }
        let order = [0, 0, 1, 2, 2, 0, 1, 1, 0, 2]
        for peer in order { try dealers[peer].send([Array("\(peer)".utf8)]) }
        for _ in order {
            let received = try #require(try router.receive(properties: ["User-Id", "X-Tag"]))
            let peer = try #require(Int(String(decoding: received.frames[1], as: UTF8.self)))
            #expect(received.properties == [peers[peer].0, peers[peer].1])
        }
        // A property the connection does not have is nil.
        try dealers[1].send([Array("1".utf8)])
        #expect(try #require(try router.receive(properties: ["User-Id", "X-Missing"])).properties == ["bob", nil])
        for dealer in dealers { dealer.close() }
        router.close()
        context.terminate()
    }

    @Test func receiveWithDontWaitReturnsNilWhenEmpty() throws {
        let context = ZMQContext()
        let pull = try boundPull(context, "inproc://empty")
        #expect(try pull.receive(dontWait: true) == nil)
        pull.close()
        context.terminate()
    }

    @Test func bindFailureIsATypedError() throws {
        let context = ZMQContext()
        let socket = try context.socket(.router)
        try socket.setLinger(0)
        #expect(throws: ZMQError.self) { try socket.bind("ipc:///nonexistent-dir/x/y.sock") }
        socket.close()
        context.terminate()
    }
}
