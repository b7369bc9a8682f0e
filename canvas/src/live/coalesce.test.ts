import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WireEvent } from "../api/types";
import { coalesce } from "./coalesce";

const ev = (n: number): WireEvent => ({ event: "WORKSPACE_ONLINE", workspace_id: `w${n}`, timestamp: "t", payload: {} });

describe("coalescing /ws batches", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("applies the batches of one window together, in arrival order", () => {
    const apply = vi.fn();
    const c = coalesce(apply, 100);
    c.push([ev(1), ev(2)]);
    c.push([]);
    vi.advanceTimersByTime(50);
    c.push([ev(3)]);
    expect(apply).not.toHaveBeenCalled();
    vi.advanceTimersByTime(50);
    expect(apply).toHaveBeenCalledTimes(1);
    expect(apply.mock.calls[0]![0].map((e: WireEvent) => e.workspace_id)).toEqual(["w1", "w2", "w3"]);
    vi.advanceTimersByTime(500);
    expect(apply).toHaveBeenCalledTimes(1); // nothing new: no empty update
  });

  it("a flush applies what waits at once and the timer does not apply it again", () => {
    const apply = vi.fn();
    const c = coalesce(apply, 100);
    c.push([ev(1)]);
    c.flush();
    expect(apply).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(200);
    expect(apply).toHaveBeenCalledTimes(1);
    c.push([ev(2)]);
    vi.advanceTimersByTime(100);
    expect(apply).toHaveBeenCalledTimes(2);
  });
});
