// A message to an agent that is asleep or starting: the platform does not keep it (503 with
// `waking` or `restarting` and a `retry_after`), it wakes or starts the agent. The chat sends
// the message again once the workspace is online, as a person would, instead of dropping it.
import { ApiError } from "../api/client";
import { useOrg } from "../store/org";

/** How long a message waits for its agent at most, from its first refusal. */
export const WAKE_WAIT_MS = 3 * 60_000;
const MIN_RETRY_MS = 1_000;
const MAX_RETRY_MS = 15_000;

/** The wait before sending again (ms) when `error` says the agent is waking or (re)starting;
 * null for any other failure, which the chat shows as it is. */
export function wakeRetryMs(error: unknown): number | null {
  if (!(error instanceof ApiError) || error.status !== 503) return null;
  const body = error.body as { waking?: unknown; restarting?: unknown; retry_after?: unknown } | null;
  if (!body || typeof body !== "object" || !(body.waking === true || body.restarting === true)) return null;
  const seconds = typeof body.retry_after === "number" && Number.isFinite(body.retry_after) ? body.retry_after : 5;
  return Math.min(Math.max(seconds * 1000, MIN_RETRY_MS), MAX_RETRY_MS);
}

/** Resolves when the workspace turns online (its WORKSPACE_ONLINE event) but not before
 * `MIN_RETRY_MS`, or after `ms`, whichever comes first: a retry need not wait the platform's
 * whole estimate, and a workspace the page still shows online (the platform found its agent
 * gone) is not asked again on every unrelated store update. */
export function untilOnline(workspaceId: string, ms: number): Promise<void> {
  return new Promise((done) => {
    let minimumOver = false;
    let turnedOnline = false;
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(minimum);
      unsubscribe();
      done();
    };
    const timer = setTimeout(finish, ms);
    const minimum = setTimeout(() => {
      minimumOver = true;
      if (turnedOnline) finish();
    }, Math.min(MIN_RETRY_MS, ms));
    const unsubscribe = useOrg.subscribe((state, previous) => {
      const wasOnline = previous.workspaces[workspaceId]?.status === "online";
      if (wasOnline || state.workspaces[workspaceId]?.status !== "online") return;
      turnedOnline = true;
      if (minimumOver) finish();
    });
  });
}
