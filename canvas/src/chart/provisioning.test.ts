import { describe, expect, it } from "vitest";
import { DEFAULT_PROVISION_TIMEOUT_MS, msUntilOverdue, provisionTimeoutMs, provisioningSince } from "./provisioning";

const T0 = Date.parse("2026-12-06T06:00:00Z");

describe("provisioning timeout", () => {
  it("uses the template's timeout, else the platform's default for the runtime", () => {
    expect(provisionTimeoutMs({ runtime: "echo", provision_timeout_ms: 90_000 })).toBe(90_000);
    expect(provisionTimeoutMs({ runtime: "echo", provision_timeout_ms: null })).toBe(DEFAULT_PROVISION_TIMEOUT_MS);
    expect(provisionTimeoutMs({ runtime: "hermes" })).toBe(30 * 60_000);
    expect(provisionTimeoutMs({ runtime: "echo", provision_timeout_ms: 0 })).toBe(10 * 60_000);
  });

  it("is overdue only past the timeout, and only while provisioning", () => {
    const w = { status: "provisioning", runtime: "echo", provision_timeout_ms: 60_000 };
    expect(msUntilOverdue(w, T0, T0 + 59_999)).toBe(1);
    expect(msUntilOverdue(w, T0, T0 + 60_000)).toBe(0);
    expect(msUntilOverdue(w, T0, T0 + 61_000)).toBeLessThan(0);
    expect(msUntilOverdue({ ...w, status: "online" }, T0, T0 + 10 * 60_000)).toBeNull();
    expect(msUntilOverdue(w, Number.NaN, T0)).toBeNull();
  });

  it("counts from a change seen live, else from the row's last update", () => {
    const row = { updated_at: "2026-12-06T06:00:00Z", created_at: "2026-12-06T05:00:00Z" };
    expect(provisioningSince(row, T0 + 5_000)).toBe(T0 + 5_000);
    expect(provisioningSince(row, null)).toBe(T0);
    expect(provisioningSince({ created_at: "2026-12-06T05:00:00Z" }, null)).toBe(T0 - 3_600_000);
  });
});
