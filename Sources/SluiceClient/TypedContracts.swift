public import Foundation
public import SluiceWire

/// A command contract as a Swift type: its stored properties are the contract's input, `Result`
/// is what its ACK's `result` decodes to.
///
/// ```swift
/// struct CreateTask: CommandContract {
///     static let contract = "task.create@v1"
///     typealias Result = ContractRows<TaskRow>
///     var title: String
///     var priority: Int?
/// }
/// let created = try await client.send(CreateTask(title: "write docs"))   // ContractRows<TaskRow>
/// ```
///
/// Written by hand from the contract's JSON (its `input` schema and its `RETURNING` columns); the
/// broker validates every input anyway, so a mismatch is a clear `validation_failed`, never a
/// silent write.
public protocol CommandContract: Encodable, Sendable {
    associatedtype Result: Decodable & Sendable
    /// `name@version`.
    static var contract: String { get }
}

/// A query contract as a Swift type: its stored properties are the parameters, `Row` one row.
public protocol QueryContract: Encodable, Sendable {
    associatedtype Row: Decodable & Sendable
    static var contract: String { get }
}

/// The usual shape of a command's result: rows changed, and the rows its statements returned.
public struct ContractRows<Row: Decodable & Sendable>: Decodable, Sendable {
    public var changes: Int
    public var rows: [Row]
}

extension SluiceClient {
    /// Sends a typed command; see ``send(_:_:idempotencyKey:deadlineMs:)`` for the guarantees.
    public func send<Command: CommandContract>(_ command: Command, idempotencyKey: String? = nil) async throws
        -> Command.Result
    {
        let ack = try await send(Command.contract, try JSONValue(encoding: command), idempotencyKey: idempotencyKey)
        return try ack.result.decode(Command.Result.self)
    }

    /// Runs a typed query and decodes its rows.
    public func query<Query: QueryContract>(_ query: Query, limit: Int? = nil) async throws -> [Query.Row] {
        let result = try await self.query(Query.contract, try JSONValue(encoding: query), limit: limit)
        return try JSONValue.array(result.objects.map(JSONValue.object)).decode([Query.Row].self)
    }
}

extension JSONValue {
    /// The JSON of an `Encodable` value.
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONValue(parsing: Array(data))
    }

    /// Decodes this JSON into a `Decodable` type.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(canonicalBytes()))
    }
}
