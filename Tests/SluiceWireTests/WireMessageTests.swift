import Testing

@testable import SluiceWire

@Suite struct WireMessageTests {
    let ping = WireMessage(kind: .ping, header: ["request_id": "r1"], body: ["n": 1])

    @Test func roundTripsThroughFrames() throws {
        let frames = ping.frames()
        #expect(frames[0] == Array("SLU1".utf8))
        #expect(frames[1] == Array("PING".utf8))
        #expect(try WireMessage(frames: frames) == ping)
    }

    @Test func emptyBodyFrameMeansEmptyObject() throws {
        let message = try WireMessage(frames: [Array("SLU1".utf8), Array("PING".utf8), Array("{}".utf8), []])
        #expect(message.body == .object([:]))
    }

    @Test(
        arguments: [
            ("three frames", [["SLU1"], ["PING"], ["{}"]], ErrorCode.invalidMessage),
            ("bad tag", [["SLU2"], ["PING"], ["{}"], ["{}"]], .invalidMessage),
            ("header not JSON", [["SLU1"], ["PING"], ["{x"], ["{}"]], .invalidMessage),
            ("header not an object", [["SLU1"], ["PING"], ["[1]"], ["{}"]], .invalidMessage),
            ("body not JSON", [["SLU1"], ["PING"], ["{}"], ["nope"]], .invalidMessage),
            ("empty kind", [["SLU1"], [""], ["{}"], ["{}"]], .invalidMessage),
        ] as [(String, [[String]], ErrorCode)])
    func rejectsMalformedFrames(_ name: String, _ parts: [[String]], _ code: ErrorCode) {
        let frames = parts.map { Array(($0.first ?? "").utf8) }
        #expect(throws: WireError.self, "\(name)") { try WireMessage(frames: frames) }
        do {
            _ = try WireMessage(frames: frames)
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func oversizedBodyIsPayloadTooLarge() {
        var limits = ProtocolLimits()
        limits.maxBodyBytes = 10
        let frames = [Array("SLU1".utf8), Array("PING".utf8), Array("{}".utf8), Array(#"{"a":"0123456789"}"#.utf8)]
        do {
            _ = try WireMessage(frames: frames, limits: limits)
            Issue.record("expected payload_too_large")
        } catch {
            #expect(error.code == .payloadTooLarge)
            #expect(error.details["limit"] == .int(10))
        }
    }

    /// The one-pass reading of a plain COMMAND takes only what the general reading accepts, and
    /// reads it to the same request; it leaves everything else, every wrong request included, to
    /// the general reading (which names the problem).
    @Test func plainCommandsReadAsTheGeneralReadingDoes() throws {
        let requestIDs = [#""r-1""#, #""2""#, #""""#, #""r\u0031""#, "7", #""\#(String(repeating: "r", count: 200))""#]
        let contracts = [#""bench.insert@v1""#, #""t.c@v2""#, #""Bench""#, #""t.c@v1\n""#, "null"]
        let keys = [
            #""k-1""#, #""caf\#u{e9}""#, #""\#(String(repeating: "k", count: 256))""#, #""a\"b""#, #""x\#u{1}y""#,
        ]
        let deadlines = [nil, "50", "86400000", "050", "5e1", "50.0", "-5", "0", "86400001", "null", #""50""#]
        let extras = [nil, #""tenant":"acme""#, #""other":1"#, #""request_id":"again""#]
        let bodies = [#"{"a":1}"#, "{}", #"{"b":1,"a":2}"#, "[]", "", #"{ "a" : 1 }"#, "{", #"{"a":1,"a":2}"#]
        var checked = 0
        var plain = 0
        for requestID in requestIDs {
            for contract in contracts {
                for key in keys {
                    for deadline in deadlines {
                        for extra in extras {
                            for body in bodies {
                                var members = [
                                    #""request_id":\#(requestID)"#, #""contract":\#(contract)"#,
                                    #""idempotency_key":\#(key)"#,
                                ]
                                if let deadline { members.append(#""deadline_ms":\#(deadline)"#) }
                                if let extra { members.append(extra) }
                                if checked % 2 == 1 { members.reverse() }
                                let separator = checked / 3 % 5 == 3 ? ", " : ","
                                let header = "{" + members.joined(separator: separator) + "}"
                                let frames = [
                                    WireMessage.protocolTag, Array("COMMAND".utf8), Array(header.utf8),
                                    Array(body.utf8),
                                ]
                                checked += 1
                                let general = try? CommandRequest(WireMessage(frames: frames))
                                guard let fast = CommandRequest(plainFrames: frames[...], limits: ProtocolLimits())
                                else { continue }
                                plain += 1
                                #expect(fast == general, "\(header) \(body)")
                                #expect(fast.canonicalPayload == (try? WireMessage(frames: frames))?.canonicalBody)
                            }
                        }
                    }
                }
            }
        }
        #expect(plain > 50 && plain < checked, "\(plain) of \(checked) read in one pass")
        // Invalid UTF-8 in a string, and limits: left to the general reading.
        var invalid = Array(#"{"contract":"t.c@v1","idempotency_key":"k","request_id":"r"}"#.utf8)
        invalid[invalid.count - 3] = 0xFF
        #expect(
            CommandRequest(
                plainFrames: [WireMessage.protocolTag, Array("COMMAND".utf8), invalid, Array("{}".utf8)][...],
                limits: ProtocolLimits()) == nil)
        let fine: [[UInt8]] = [
            WireMessage.protocolTag, Array("COMMAND".utf8),
            Array(#"{"contract":"t.c@v1","idempotency_key":"k","request_id":"r"}"#.utf8), Array(#"{"a":1}"#.utf8),
        ]
        #expect(CommandRequest(plainFrames: fine[...], limits: ProtocolLimits()) != nil)
        var small = ProtocolLimits()
        small.maxBodyBytes = 4
        #expect(CommandRequest(plainFrames: fine[...], limits: small) == nil)
    }

    /// A reply's header as the broker writes it is read without the parser, to the same object;
    /// anything else is left to the parser.
    @Test func replyHeadersReadAsTheParserReadsThem() throws {
        let headers = [
            #"{"request_id":"r-1"}"#, #"{"request_id":""}"#, #"{"request_id":"caf\#u{e9}"}"#,
            #"{"request_id":"a\"b"}"#, #"{"request_id":"a\u0041"}"#, #"{"request_id":"x\#u{1}y"}"#,
            #"{"request_id":"r","x":1}"#, #"{"request_id": "r"}"#, #"{"request_id":7}"#, "{}",
            #"{"request_id":"r"} "#, #"{"request_id":"r"}}"#, #"{"request_id":"""#,
        ]
        var plain = 0
        for header in headers {
            let bytes = Array(header.utf8)
            guard let fast = ReceivedMessage.plainReplyHeader(bytes) else { continue }
            plain += 1
            #expect(JSONValue.object(fast) == (try? JSONValue(parsing: bytes)), "\(header)")
        }
        #expect(plain == 3)
        var invalid = Array(#"{"request_id":"ab"}"#.utf8)
        invalid[16] = 0xFF
        #expect(ReceivedMessage.plainReplyHeader(invalid) == nil)
        let frames = WireMessage.replyFrames(.ack, requestID: "r-9", body: ["db": "x"])
        #expect(try ReceivedMessage(frames: frames).requestID == "r-9")
    }

    @Test func commandHeaderFieldsAreChecked() throws {
        let good = CommandRequest(
            requestID: "r", contract: ContractID("task.create@v1")!, idempotencyKey: "k", deadlineMs: 50,
            payload: ["title": "x"]
        )
        #expect(try CommandRequest(good.message()) == good)
        // What the clients send, written directly, is the message's canonical frames.
        let traced = CommandRequest(
            requestID: "r\"1", contract: ContractID("task.create@v1")!, idempotencyKey: "k\u{e9}",
            context: CallerContext(
                traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", tenant: "acme"),
            payload: ["title": "x", "n": 1])
        for request in [good, traced] {
            #expect(request.frames(delimited: false) == request.message().frames())
            #expect(request.frames(delimited: true) == [[]] + request.message().frames())
            #expect(try CommandRequest(WireMessage(frames: request.frames(delimited: false))) == request)
        }

        var missingKey = good.message()
        missingKey.header["idempotency_key"] = JSONValue?.none
        #expect(missingKey.header["idempotency_key"] == JSONValue?.none)
        #expect(throws: WireError.self) { try CommandRequest(missingKey) }

        var longKey = good.message()
        longKey.header["idempotency_key"] = .string(String(repeating: "k", count: 256))
        #expect(throws: WireError.self) { try CommandRequest(longKey) }

        var badContract = good.message()
        badContract.header["contract"] = "Task.Create"
        #expect(throws: WireError.self) { try CommandRequest(badContract) }

        var arrayBody = good.message()
        arrayBody.body = [1, 2]
        #expect(throws: WireError.self) { try CommandRequest(arrayBody) }
    }

    @Test(arguments: ["task.create@v1", "a@v2", "x.y_z@v1alpha1", "x@v10beta3"])
    func validContractIDs(_ text: String) throws {
        let id = try #require(ContractID(text))
        #expect(id.description == text)
        #expect(id.name + "@" + id.version == text)
        #expect(!id.name.contains("@") && id.version.hasPrefix("v"))
        #expect(id == ContractID(name: id.name, version: id.version))
    }

    @Test(arguments: ["task.create", "@v1", "task@1", "Task@v1", "task@v1gamma1", "task@v", "a..b@v1", "a@v1@v2"])
    func invalidContractIDs(_ text: String) {
        #expect(ContractID(text) == nil)
    }

    @Test func errorBodyRoundTrips() {
        let error = WireError(.overloaded, "busy", retryAfterMs: 100, details: ["queued": 5])
        #expect(error.retryable)
        #expect(WireError(json: error.json) == error)
        #expect(!WireError(.validationFailed, "x").retryable)
    }

    @Test func eventsRoundTrip() throws {
        let event = Event(topic: "inval.tasks", stream: "tasks", seq: 7, epoch: "e1", body: ["tables": ["tasks": [1]]])
        #expect(try Event(frames: event.frames()) == event)
    }
}
