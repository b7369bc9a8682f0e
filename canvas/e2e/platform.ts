// Starts `molecule serve` on a free loopback port with a throwaway MOLECULE_HOME (its own
// PostgreSQL cluster, local agent processes), and stops it cleanly (SIGTERM) afterwards.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dirname, "..", "..");

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`molecule serve exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`molecule serve did not answer /health within ${ms} ms`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    const force = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", () => {
      clearTimeout(force);
      done();
    });
    child.kill("SIGTERM");
  });
}

export default async function globalSetup(): Promise<(() => Promise<void>) | void> {
  if (process.env.MOLECULE_URL) {
    process.env.E2E_URL = process.env.MOLECULE_URL;
    return;
  }
  const home = mkdtempSync(join(tmpdir(), "molecule-e2e-"));
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MOLECULE_HOME: home,
    ADMIN_TOKEN: token,
    MOLECULE_BACKEND: "local",
    MOLECULE_ENV: "",
  };
  delete env.DATABASE_URL;
  const logPath = join(tmpdir(), "molecule-e2e-platform.log");
  const log = openSync(logPath, "w");
  console.log(`platform log: ${logPath}`);
  const binary = process.env.MOLECULE_BIN ?? join(repo, ".venv", "bin", "molecule");
  const child = spawn(binary, ["serve", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: repo,
    env,
    stdio: ["ignore", log, log],
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(url, child, 90_000);
  } catch (error) {
    await stop(child);
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  process.env.E2E_URL = url;
  process.env.E2E_ADMIN_TOKEN = token;
  return async () => {
    await stop(child);
    rmSync(home, { recursive: true, force: true });
  };
}
