/**
 * Watches, as ZooKeeper 3.8 keeps them (pure; part of the core).
 *
 * Two tables: data (getData/exists, addWatch) and child (getChildren, addWatch PERSISTENT), each
 * mapping path -> connection -> mode. A (connection, path) pair has ONE mode per table: registering
 * again overwrites it (a getData watch turns a persistent data watch into a one-shot one, as on
 * ZooKeeper). addWatch registers in both tables; a recursive watch never sees NodeChildrenChanged, so
 * in the child table it only hears of deletions below it.
 */
import { parentOf } from './paths.js';
import { EventType } from './protocol.js';

export type WatchTable = 'data' | 'child';
export const WatchMode = { standard: 0, persistent: 1, recursive: 2 } as const;
export type WatchModeValue = (typeof WatchMode)[keyof typeof WatchMode];

/** removeWatches/checkWatches WatcherType: Children 1, Data 2, Any 3. */
export const TABLES_BY_WATCHER_TYPE: Readonly<Record<number, readonly WatchTable[]>> = {
  1: ['child'],
  2: ['data'],
  3: ['data', 'child'],
};

/** A change that may fire watches; `dedupWith` names an earlier trigger whose recipients are skipped. */
export type Trigger = { table: WatchTable; path: string; type: number; dedupWith?: number };
export type WatchEvent = { connId: number; type: number; path: string };

export class WatchRegistry {
  private readonly tables: Record<WatchTable, Map<string, Map<number, WatchModeValue>>> = {
    data: new Map(),
    child: new Map(),
  };
  private readonly byConn = new Map<number, Record<WatchTable, Set<string>>>();
  /** Recursive watches registered; ancestors are only searched when there are any. */
  private recursive = 0;

  get count(): number {
    let n = 0;
    for (const s of this.tables.data.values()) n += s.size;
    for (const s of this.tables.child.values()) n += s.size;
    return n;
  }

  /** Watched paths per connection (both tables together). */
  pathsByConnection(): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const [connId, own] of this.byConn) {
      const paths = [...new Set([...own.data, ...own.child])];
      if (paths.length > 0) out.set(connId, paths);
    }
    return out;
  }

  add(table: WatchTable, path: string, connId: number, mode: WatchModeValue): void {
    let byConn = this.tables[table].get(path);
    if (!byConn) {
      byConn = new Map();
      this.tables[table].set(path, byConn);
    }
    if (byConn.get(connId) === WatchMode.recursive) this.recursive--;
    byConn.set(connId, mode);
    if (mode === WatchMode.recursive) this.recursive++;
    let own = this.byConn.get(connId);
    if (!own) {
      own = { data: new Set(), child: new Set() };
      this.byConn.set(connId, own);
    }
    own[table].add(path);
  }

  remove(table: WatchTable, path: string, connId: number): boolean {
    const byConn = this.tables[table].get(path);
    const mode = byConn?.get(connId);
    if (byConn === undefined || mode === undefined) return false;
    if (mode === WatchMode.recursive) this.recursive--;
    byConn.delete(connId);
    if (byConn.size === 0) this.tables[table].delete(path);
    this.byConn.get(connId)?.[table].delete(path);
    return true;
  }

  has(table: WatchTable, path: string, connId: number): boolean {
    return this.tables[table].get(path)?.has(connId) ?? false;
  }

  /** Forgets every watch of a connection (it closed, or its session moved). */
  dropConnection(connId: number): void {
    const own = this.byConn.get(connId);
    if (!own) return;
    for (const table of ['data', 'child'] as const)
      for (const path of [...own[table]]) this.remove(table, path, connId);
    this.byConn.delete(connId);
  }

  /**
   * The events for a list of triggers, one per connection per trigger: on the path itself every watch
   * fires (one-shot ones are consumed); on its ancestors only recursive ones, never for NodeChildrenChanged.
   */
  fire(triggers: readonly Trigger[]): WatchEvent[] {
    const events: WatchEvent[] = [];
    const notified: Array<Set<number>> = [];
    for (let i = 0; i < triggers.length; i++) {
      const t = triggers[i]!;
      const recipients = new Set<number>();
      notified[i] = recipients;
      const table = this.tables[t.table];
      const byConn = table.get(t.path);
      if (byConn) {
        for (const [connId, mode] of byConn) {
          if (mode === WatchMode.recursive && t.type === EventType.NodeChildrenChanged) continue;
          recipients.add(connId);
          if (mode === WatchMode.standard) this.remove(t.table, t.path, connId);
        }
      }
      if (this.recursive > 0 && t.type !== EventType.NodeChildrenChanged && t.path !== '/') {
        for (let p = parentOf(t.path); ; p = parentOf(p)) {
          const ancestors = table.get(p);
          if (ancestors)
            for (const [connId, mode] of ancestors) if (mode === WatchMode.recursive) recipients.add(connId);
          if (p === '/') break;
        }
      }
      const skip = t.dedupWith !== undefined ? notified[t.dedupWith] : undefined;
      for (const connId of recipients) if (!skip?.has(connId)) events.push({ connId, type: t.type, path: t.path });
    }
    return events;
  }
}
