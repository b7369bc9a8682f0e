import { describe, expect, it } from "vitest";
import type { Workspace } from "../api/types";
import { NO_CLOCKS, formatTimeout, slowStarts, trackProvisioning } from "./slowStart";

const T0 = Date.parse("2026-12-06T06:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

function ws(id: string, status: string, extra: Partial<Workspace> = {}): Workspace {
  return { id, name: id, runtime: "echo", parent_id: null, url: null, status, updated_at: iso(T0), ...extra };
}

const org = (...rows: Workspace[]) => Object.fromEntries(rows.map((r) => [r.id, r]));

describe("the slow-start clocks", () => {
  it("start at the row's last update for a workspace already provisioning when first seen", () => {
    const clocks = trackProvisioning(NO_CLOCKS, org(ws("a", "provisioning"), ws("b", "online")), T0 + 90_000);
    expect(clocks.since).toEqual({ a: T0 });
    expect([...clocks.known].sort()).toEqual(["a", "b"]);
  });

  it("start now for a change to provisioning seen live, and stop when it leaves", () => {
    const first = trackProvisioning(NO_CLOCKS, org(ws("a", "online")), T0);
    const restarting = trackProvisioning(first, org(ws("a", "provisioning")), T0 + 5_000);
    expect(restarting.since).toEqual({ a: T0 + 5_000 });
    // Later updates keep the clock; online, failed or removed drop it.
    expect(trackProvisioning(restarting, org(ws("a", "provisioning")), T0 + 9_000).since).toEqual({ a: T0 + 5_000 });
    expect(trackProvisioning(restarting, org(ws("a", "online")), T0 + 9_000).since).toEqual({});
    expect(trackProvisioning(restarting, org(ws("a", "failed")), T0 + 9_000).since).toEqual({});
    expect(trackProvisioning(restarting, org(), T0 + 9_000)).toEqual({ known: new Set(), since: {} });
  });

  it("start again when the row shows a newer update (a restart re-reads it)", () => {
    const clocks = trackProvisioning(NO_CLOCKS, org(ws("a", "provisioning")), T0 + 60_000);
    const reread = trackProvisioning(clocks, org(ws("a", "provisioning", { updated_at: iso(T0 + 70_000) })), T0 + 70_100);
    expect(reread.since).toEqual({ a: T0 + 70_000 });
    // An older stamp (the store keeps the row's stamp after a live change) changes nothing.
    const live = trackProvisioning(trackProvisioning(NO_CLOCKS, org(ws("b", "online")), T0), org(ws("b", "provisioning")), T0 + 80_000);
    expect(live.since).toEqual({ b: T0 + 80_000 });
  });

  it("come back as the same object when nothing they follow changed (no re-render)", () => {
    const rows = org(ws("a", "provisioning"), ws("b", "online"));
    const clocks = trackProvisioning(NO_CLOCKS, rows, T0);
    expect(trackProvisioning(clocks, org(ws("a", "provisioning"), ws("b", "degraded")), T0 + 1_000)).toBe(clocks);
    const grown = trackProvisioning(clocks, { ...rows, c: ws("c", "online") }, T0 + 1_000);
    expect(grown).not.toBe(clocks);
    expect(grown.since).toBe(clocks.since);
  });

  it("stay cheap on a large org: 500 rows under status events keep one object", () => {
    const rows: Record<string, Workspace> = {};
    for (let i = 0; i < 500; i++) rows[`w${i}`] = ws(`w${i}`, i % 7 ? "online" : "degraded");
    let clocks = trackProvisioning(NO_CLOCKS, rows, T0);
    const first = clocks;
    for (let i = 0; i < 100; i++) {
      const id = `w${i}`;
      clocks = trackProvisioning(clocks, { ...rows, [id]: ws(id, i % 2 ? "degraded" : "online") }, T0 + i);
    }
    expect(clocks).toBe(first);
  });
});

describe("the overdue list", () => {
  const timed = (id: string, ms: number | null) => ws(id, "provisioning", { provision_timeout_ms: ms });

  it("lists the workspaces past their timeout, oldest first, and says when to look again", () => {
    const rows = org(timed("a", 2_000), timed("b", 2_000), timed("c", 60_000), ws("d", "online"));
    const since = { a: T0 + 1_000, b: T0, c: T0 };
    const at = slowStarts(rows, since, {}, T0 + 3_500);
    expect(at.overdue.map((s) => s.id)).toEqual(["b", "a"]);
    expect(at.overdue[0]).toEqual({ id: "b", name: "b", since: T0, timeoutMs: 2_000 });
    expect(at.nextAt).toBe(T0 + 60_000);
    expect(slowStarts(rows, since, {}, T0 + 1_999)).toEqual({ overdue: [], nextAt: T0 + 2_000 });
  });

  it("uses the runtime's default without a declared timeout", () => {
    const rows = org(timed("a", null));
    expect(slowStarts(rows, { a: T0 }, {}, T0 + 9 * 60_000).overdue).toEqual([]);
    expect(slowStarts(rows, { a: T0 }, {}, T0 + 10 * 60_000).overdue.map((s) => s.timeoutMs)).toEqual([600_000]);
  });

  it("has no deadline (no timer) when nothing is provisioning", () => {
    expect(slowStarts(org(ws("a", "online")), {}, {}, T0)).toEqual({ overdue: [], nextAt: null });
    // A clock whose row went online or away meanwhile is ignored.
    expect(slowStarts(org(ws("a", "online")), { a: T0, gone: T0 }, {}, T0 + 3_600_000)).toEqual({ overdue: [], nextAt: null });
  });

  it("hides a dismissed workspace for that provisioning run only", () => {
    const rows = org(timed("a", 2_000), timed("b", 2_000));
    expect(slowStarts(rows, { a: T0, b: T0 }, { a: T0 }, T0 + 5_000).overdue.map((s) => s.id)).toEqual(["b"]);
    // Restarted: a new clock, the dismissal no longer applies once it is overdue again.
    expect(slowStarts(rows, { a: T0 + 10_000, b: T0 }, { a: T0 }, T0 + 11_000).nextAt).toBe(T0 + 12_000);
    expect(slowStarts(rows, { a: T0 + 10_000, b: T0 }, { a: T0 }, T0 + 12_000).overdue.map((s) => s.id)).toEqual(["b", "a"]);
  });
});

describe("formatTimeout", () => {
  it("says seconds below two minutes, then minutes, then hours", () => {
    expect(formatTimeout(2_000)).toBe("2 s");
    expect(formatTimeout(60_000)).toBe("60 s");
    expect(formatTimeout(120_000)).toBe("2 min");
    expect(formatTimeout(600_000)).toBe("10 min");
    expect(formatTimeout(30 * 60_000)).toBe("30 min");
    expect(formatTimeout(150 * 60_000)).toBe("2 h 30 min");
    expect(formatTimeout(120 * 60_000)).toBe("2 h");
    expect(formatTimeout(10)).toBe("1 s");
  });
});
