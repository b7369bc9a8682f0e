import { describe, expect, it } from "vitest";
import { draftOf, hasChanges, scheduleChanges, scheduleEditError } from "./scheduleEdit";

const row = { name: "standup", cron_expr: "0 9 * * 1-5", timezone: "Europe/Paris", prompt: "Summarise yesterday." };

describe("the schedule edit form", () => {
  it("starts from the stored row and sends nothing when nothing changed", () => {
    expect(draftOf(row)).toEqual(row);
    expect(scheduleChanges(row, draftOf(row))).toEqual({});
    expect(hasChanges(scheduleChanges(row, draftOf(row)))).toBe(false);
  });

  it("sends only the fields that differ", () => {
    expect(scheduleChanges(row, { ...row, cron_expr: "30 8 * * *" })).toEqual({ cron_expr: "30 8 * * *" });
    expect(scheduleChanges(row, { ...row, prompt: "Plan today.", timezone: "UTC" })).toEqual({ prompt: "Plan today.", timezone: "UTC" });
    expect(scheduleChanges(row, { ...row, name: "daily" })).toEqual({ name: "daily" });
    expect(hasChanges({ name: "daily" })).toBe(true);
  });

  it("treats surrounding whitespace as no change and sends trimmed values", () => {
    expect(scheduleChanges(row, { name: " standup ", cron_expr: " 0  9 * *  1-5 ", timezone: "Europe/Paris ", prompt: "\nSummarise yesterday.  " })).toEqual({});
    expect(scheduleChanges(row, { ...row, prompt: "  Plan today.\n" })).toEqual({ prompt: "Plan today." });
    expect(scheduleChanges({ ...row, prompt: "Summarise yesterday.\n" }, row)).toEqual({});
  });

  it("clears a name, and takes an empty time zone as UTC", () => {
    expect(scheduleChanges(row, { ...row, name: "  " })).toEqual({ name: "" });
    expect(scheduleChanges(row, { ...row, timezone: " " })).toEqual({ timezone: "UTC" });
    expect(scheduleChanges({ ...row, timezone: "UTC" }, { ...row, timezone: "" })).toEqual({});
  });

  it("refuses a changed cron or prompt it can already tell is wrong, and leaves the rest to the platform", () => {
    expect(scheduleEditError({ cron_expr: "30 8 * * *", prompt: "x" })).toBeNull();
    expect(scheduleEditError({ cron_expr: "0 9 * *" })).toMatch(/five fields/);
    expect(scheduleEditError({ cron_expr: "" })).toMatch(/write a cron/);
    expect(scheduleEditError({ prompt: "" })).toBe("write the prompt to send");
    expect(scheduleEditError({ name: "n".repeat(201) })).toMatch(/at most 200/);
    // What only the platform knows (a minute of 61, an unknown zone) is its 400 to show.
    expect(scheduleEditError({ cron_expr: "61 * * * *", timezone: "Mars/Olympus" })).toBeNull();
    // An unchanged field is not checked again: a row the platform accepted is not refused here.
    expect(scheduleEditError(scheduleChanges({ ...row, cron_expr: "0 9 * *" }, { ...row, cron_expr: "0 9 * *", name: "x" }))).toBeNull();
  });
});
