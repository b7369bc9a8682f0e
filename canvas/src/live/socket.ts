// The `/ws` connection: batch subprotocol (one JSON array per message), reconnect with
// exponential backoff and jitter. The session cookie authenticates it (same origin).
import type { WireEvent } from "../api/types";

export const BATCH_SUBPROTOCOL = "molecule.events.batch.v1";

export type ConnectionState = "connecting" | "open" | "retrying";

export interface SocketCallbacks {
  onEvents(events: WireEvent[]): void;
  onState(state: ConnectionState, retryInMs?: number): void;
  onOpen(reconnected: boolean): void;
}

export const BACKOFF_START_MS = 500;
export const BACKOFF_MAX_MS = 15_000;

/** The wait before reconnect attempt `attempt` (0-based): doubling, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** One message: an array of events (batch mode) or a single event (plain mode). */
export function parseMessage(data: unknown): WireEvent[] {
  if (typeof data !== "string") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return [];
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.filter(
    (e): e is WireEvent =>
      typeof e === "object" && e !== null && typeof (e as WireEvent).event === "string" &&
      typeof (e as WireEvent).payload === "object" && (e as WireEvent).payload !== null,
  );
}

export function socketUrl(location: Pick<Location, "protocol" | "host">): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

export class LiveSocket {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private opened = false;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly callbacks: SocketCallbacks,
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.socket?.close();
    this.socket = null;
  }

  /** Reconnect now (the indicator's "retry" button). */
  retryNow(): void {
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
    if (this.timer) clearTimeout(this.timer);
    this.connect();
  }

  private connect(): void {
    this.callbacks.onState("connecting");
    const socket = new WebSocket(this.url, [BATCH_SUBPROTOCOL]);
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.callbacks.onState("open");
      this.callbacks.onOpen(this.opened);
      this.opened = true;
    };
    socket.onmessage = (message) => {
      const events = parseMessage(message.data);
      if (events.length) this.callbacks.onEvents(events);
    };
    socket.onclose = () => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      const delay = backoffDelay(this.attempt++);
      this.callbacks.onState("retrying", delay);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }
}
