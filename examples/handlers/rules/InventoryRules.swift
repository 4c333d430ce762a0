public import SluiceBroker
public import SluiceWire

/// The business rules of `stock.reserve@v1`, in Swift: what a single SQL statement cannot say
/// (a check across two tables, a per-caller cap, a refusal that names the rule).
public enum InventoryRules {
    /// At most this many units of one item reserved by one caller.
    public static let maximumPerCaller: Int64 = 10

    /// Register under `stock.reserve@v1` (`BrokerConfiguration.commandHandlers`, and
    /// `LogReplayer(handlers:)` for a replay).
    public static let handlers: [String: CommandHandler] = ["stock.reserve@v1": reserve]

    public static func reserve(_ command: CommandHandlerContext) throws -> JSONValue {
        let sku = command.input["sku"]?.stringValue ?? ""
        let quantity = command.input["quantity"]?.intValue ?? 0
        let db = command.database
        guard let item = try db.queryOne("SELECT stock FROM items WHERE sku = ?", [.string(sku)]),
            let stock = item["stock"]?.intValue
        else {
            throw RuleViolation(rule: "unknown_item", "no item \(sku)", details: ["sku": .string(sku)])
        }
        guard quantity <= stock else {
            throw RuleViolation(
                rule: "insufficient_stock", "only \(stock) of \(sku) left, \(quantity) asked",
                details: ["sku": .string(sku), "stock": .int(stock)])
        }
        let held =
            try db.queryOne(
                "SELECT coalesce(sum(quantity), 0) AS held FROM reservations WHERE sku = ? AND reserved_by = ?",
                [.string(sku), .string(command.actor)])?["held"]?.intValue ?? 0
        guard held + quantity <= maximumPerCaller else {
            throw RuleViolation(
                rule: "per_caller_cap", "\(command.actor) would hold \(held + quantity) of \(sku), more than \(maximumPerCaller)",
                details: ["held": .int(held)])
        }
        try db.execute("UPDATE items SET stock = stock - ? WHERE sku = ?", [.int(quantity), .string(sku)])
        // The id and time come from the command record: a replay writes the same row.
        try db.execute(
            "INSERT INTO reservations(id, sku, quantity, reserved_at, reserved_by) VALUES (?, ?, ?, ?, ?)",
            [.string(command.generatedID), .string(sku), .int(quantity), .string(command.timestamp), .string(command.actor)])
        return ["reservation": .string(command.generatedID), "sku": .string(sku), "left": .int(stock - quantity)]
    }
}
