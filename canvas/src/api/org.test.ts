import { describe, expect, it } from "vitest";
import { importNotes } from "./org";

describe("an org import's answer", () => {
  it("lists nothing when everything was created as asked", () => {
    expect(importNotes({ org: "T", workspaces: [{ id: "a", name: "A" }], count: 1 })).toEqual({ failed: [], skipped: [] });
  });

  it("lists what was not created and what was left out of what was", () => {
    const body = {
      org: "T",
      workspaces: [
        {
          id: "a",
          name: "Lead",
          channels_skipped: [{ workspace: "Lead", type: "slack", reason: "channels are not available" }],
          plugins_skipped: [{ workspace: "Lead", plugin: "nope", reason: "not in the plugin registry (GET /plugins)" }],
        },
        { id: "b", name: "Member", plugins_skipped: "garbage" },
      ],
      failed: [{ name: "Writer", parent_id: "a", error: "runtime not available" }, "garbage"],
    };
    expect(importNotes(body)).toEqual({
      failed: ["Writer: runtime not available"],
      skipped: ["Lead: channel slack: channels are not available", "Lead: plugin nope: not in the plugin registry (GET /plugins)"],
    });
  });
});
