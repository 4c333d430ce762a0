import Foundation
import Logging
import SluiceWire

#if canImport(Glibc)
    import Glibc
#endif

/// The golden invariant at runtime: nothing but the broker opens its database files. After any
/// open of one (an inotify event), the I/O thread looks at who holds them; a process other than
/// the broker — and other than a `sluice` command, whose read-only tools (`doctor`, `log`,
/// `projections list`) open them on purpose — is logged and audited on `audit.rejected` with code
/// `direct_open`, once per (process, file).
extension BrokerIOLoop {
    /// At most this many (process, file) pairs are remembered as reported; past it the memory
    /// starts again (a process still holding a file is then reported once more).
    static let maximumReportedHolders = 1000

    /// How long after an open the holders are looked at again. The kernel reports an open
    /// (`IN_OPEN`) from inside the `open` call, so the first look can come before the new
    /// descriptor appears in the opener's `/proc/<pid>/fd`; a full CI run under load once missed
    /// an intruder that way. One more look per burst of opens, not a timer.
    static let holderRecheckDelayNanos: UInt64 = 100_000_000

    func checkForeignHolders() {
        let ownExecutable = OpenFileHolders.readLink("/proc/self/exe")
        let holders = OpenFileHolders.holders(of: databaseFiles, excluding: getpid()).filter {
            OpenFileHolders.readLink("/proc/\($0.pid)/exe") != ownExecutable
        }
        for holder in holders where !reportedHolders.contains(holder) {
            if reportedHolders.count >= BrokerIOLoop.maximumReportedHolders { reportedHolders.removeAll() }
            reportedHolders.insert(holder)
            logger.warning(
                "another process holds a broker-owned database open: only the broker may open it",
                metadata: ["pid": "\(holder.pid)", "command": "\(holder.command)", "file": "\(holder.file)"])
            let record: [String: JSONValue] = [
                "ts": .string(Clock.timestamp()), "actor": .string("(process \(holder.pid))"), "status": "rejected",
                "code": "direct_open", "pid": .int(Int64(holder.pid)), "command": .string(holder.command),
                "file": .string(holder.file),
                "message": .string(
                    "process \(holder.pid) (\(holder.command)) holds \(holder.file) open: nothing but the broker may open its databases"),
            ]
            sendToAuditor(record)
        }
    }
}
