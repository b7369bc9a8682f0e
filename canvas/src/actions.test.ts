import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Workspace } from "./api/types";
import { emptyLive } from "./store/live";
import { useOrg } from "./store/org";

// The saves, held until the test lets each one finish.
const saves: { x: number; y: number; done: () => void }[] = [];
vi.mock("./api/workspaces", () => ({
  savePosition: (_id: string, x: number, y: number) => new Promise<void>((done) => saves.push({ x, y, done: () => done() })),
}));
const { persistPosition } = await import("./actions");

const row = (id: string): Workspace => ({ id, name: id, status: "online", x: 0, y: 0 });
const settle = () => new Promise((r) => setTimeout(r, 0));
const at = () => ({ x: useOrg.getState().workspaces.a!.x, y: useOrg.getState().workspaces.a!.y });

describe("persistPosition", () => {
  beforeEach(() => {
    saves.length = 0;
    useOrg.setState({ ...emptyLive(), loaded: true });
    useOrg.getState().setWorkspaces([row("a")]);
  });

  it("saves one place at a time: moves made meanwhile end with the last one saved last", async () => {
    const first = persistPosition("a", 10.4, 20.6); // a drop, or the first arrow key
    void persistPosition("a", 15, 20); // arrow keys while the first save is in flight
    void persistPosition("a", 20, 20);
    expect(at()).toEqual({ x: 20, y: 20 }); // shown at once
    expect(saves.map(({ x, y }) => [x, y])).toEqual([[10, 21]]);
    saves[0]!.done();
    await settle();
    expect(saves.map(({ x, y }) => [x, y])).toEqual([[10, 21], [20, 20]]); // the middle one skipped
    saves[1]!.done();
    await first;
    void persistPosition("a", 30, 40); // nothing in flight: saved at once
    expect(saves.map(({ x, y }) => [x, y])).toEqual([[10, 21], [20, 20], [30, 40]]);
    saves[2]!.done();
    await settle();
  });

  it("never stores (0, 0), which means never placed, and keeps y = 0 beside another x", async () => {
    void persistPosition("a", 0.2, -0.3);
    expect(at()).toEqual({ x: 0, y: 1 });
    expect(saves.at(-1)).toMatchObject({ x: 0, y: 1 });
    saves.at(-1)!.done();
    await settle();
    void persistPosition("a", 40, 0.2);
    expect(saves.at(-1)).toMatchObject({ x: 40, y: 0 });
    saves.at(-1)!.done();
    await settle();
  });
});
