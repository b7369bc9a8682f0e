// `/ws` batches arrive up to tens of times a second; each store update makes React Flow run
// every node's and edge's store selector. Events are therefore gathered and applied together
// at most once per `everyMs` (bench/canvas_load.py: 500 nodes under 100 status events/s).
import type { WireEvent } from "../api/types";

export const COALESCE_MS = 100;

export interface Coalescer {
  push(events: readonly WireEvent[]): void;
  /** Apply what is waiting now (before a reload, on stop). */
  flush(): void;
}

export function coalesce(apply: (events: WireEvent[]) => void, everyMs = COALESCE_MS): Coalescer {
  let pending: WireEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    apply(batch);
  };
  return {
    push(events) {
      if (!events.length) return;
      pending.push(...events);
      timer ??= setTimeout(flush, everyMs);
    },
    flush,
  };
}
