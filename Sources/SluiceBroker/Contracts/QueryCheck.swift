import GRDB
import SluiceWire

/// Load-time checks of query contracts against their opened databases.
enum QueryCheck {
    /// For each query contract: proves its statement is read-only (SQLite's own verdict, on top
    /// of the SELECT/WITH check at parse time) and records the tables it reads.
    static func regions(of registry: ContractRegistry, in databases: [String: DatabaseFile]) throws -> [ContractID:
        DatabaseRegion]
    {
        var regions: [ContractID: DatabaseRegion] = [:]
        for contract in registry.contracts.values where contract.kind == .query {
            guard let database = databases[contract.database] else { continue }
            let sql = contract.statements[0].sql
            let region: DatabaseRegion? = try database.pool.read { db in
                let statement: Statement
                do {
                    statement = try db.makeStatement(sql: sql)
                } catch {
                    throw ContractError(file: contract.file, "the query does not compile: \(error)")
                }
                guard statement.isReadonly else { return nil }
                return statement.databaseRegion
            }
            guard let region else {
                throw ContractError(
                    file: contract.file, "\(contract.id) is a query but its statement writes; queries must be read-only"
                )
            }
            regions[contract.id] = region
        }
        return regions
    }
}
