import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Workspace } from "../api/types";
import { useOrg } from "../store/org";
import { untilOnline, wakeRetryMs } from "./wake";

const refusal = (body: unknown, status = 503) => new ApiError(status, "refused", body);

describe("a message refused while the agent starts", () => {
  it("is sent again after the platform's retry time, kept between 1 and 15 s", () => {
    expect(wakeRetryMs(refusal({ error: "workspace is waking from hibernation", waking: true, retry_after: 15 }))).toBe(15_000);
    expect(wakeRetryMs(refusal({ error: "workspace has no URL", restarting: true, retry_after: 2 }))).toBe(2_000);
    expect(wakeRetryMs(refusal({ waking: true, retry_after: 0 }))).toBe(1_000);
    expect(wakeRetryMs(refusal({ waking: true, retry_after: 3600 }))).toBe(15_000);
    expect(wakeRetryMs(refusal({ restarting: true }))).toBe(5_000);
  });

  it("is not sent again for any other failure", () => {
    expect(wakeRetryMs(refusal({ error: "workspace agent busy", busy: true, retry_after: 5 }))).toBeNull();
    expect(wakeRetryMs(refusal({ error: "platform busy", retry_after: 1 }))).toBeNull();
    expect(wakeRetryMs(refusal({ waking: true }, 502))).toBeNull();
    expect(wakeRetryMs(refusal("waking"))).toBeNull();
    expect(wakeRetryMs(new Error("network"))).toBeNull();
    expect(wakeRetryMs(refusal({ waking: "yes", retry_after: 5 }))).toBeNull();
  });
});

describe("waiting for the agent", () => {
  afterEach(() => vi.useRealTimers());

  const row = (status: string) => ({ id: "w1", name: "w1", status }) as unknown as Workspace;

  it("ends as soon as the workspace turns online, not before a second", async () => {
    vi.useFakeTimers();
    useOrg.getState().upsert(row("provisioning"));
    let done = false;
    const waiting = untilOnline("w1", 15_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(done).toBe(false);
    useOrg.getState().upsert(row("online"));
    await waiting;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);

    // Online within the first second: the retry waits for the second to end.
    useOrg.getState().upsert(row("provisioning"));
    done = false;
    void untilOnline("w1", 15_000).then(() => (done = true));
    useOrg.getState().upsert(row("online"));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it("is not ended by updates while the page already shows it online", async () => {
    // The platform found the agent gone (503 restarting) before the page heard of it.
    vi.useFakeTimers();
    useOrg.getState().upsert(row("online"));
    let done = false;
    void untilOnline("w1", 5_000).then(() => (done = true));
    for (let i = 0; i < 40; i++) {
      useOrg.getState().upsert(row("online")); // unrelated updates: a new object, same status
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(true);
  });

  it("ends after the retry time when the workspace stays down", async () => {
    vi.useFakeTimers();
    useOrg.getState().upsert(row("hibernated"));
    let done = false;
    void untilOnline("w1", 5_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });
});
