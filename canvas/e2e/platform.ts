// Starts `molecule serve` on a free loopback port with a throwaway MOLECULE_HOME (its own
// PostgreSQL cluster, local agent processes), and stops it cleanly (SIGTERM) afterwards.
// The home also holds a workspace template for watch.spec.ts whose agent is held back
// (`slowStartFixture`), and an org template for canvas.spec.ts (`orgTemplateFixture`).
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
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

/**
 * A workspace that stays `provisioning` as long as a test wants, from the real platform:
 * - the template `slow-start` (found in `$MOLECULE_HOME/templates`, after the shipped ones)
 *   declares `provision_timeout_seconds: 2` for its runtime `openai`, which no shipped template
 *   uses (the platform serves the largest value among a runtime's templates), and runs the
 *   echo adapter; it ships a file `hold-start` that lands in the workspace's `/configs`;
 * - every agent process inherits the platform's PYTHONPATH, where a `sitecustomize` waits
 *   before the agent even starts while its `/configs/hold-start` exists; a test lets it
 *   register by deleting that file through the files API;
 * - PROVISION_TIMEOUT_SECONDS (the operator's override of the templates' values for the
 *   platform's own timeout sweep) keeps the sweep from failing it after 2 s meanwhile.
 */
function slowStartFixture(home: string): NodeJS.ProcessEnv {
  const template = join(home, "templates", "slow-start");
  mkdirSync(template, { recursive: true });
  writeFileSync(
    join(template, "config.yaml"),
    [
      "name: Slow start (e2e)",
      'description: "End-to-end tests only: an echo agent that waits while /configs/hold-start exists."',
      "version: 1.0.0",
      "runtime: openai",
      "tier: 3",
      "runtime_config:",
      "  adapter: echo",
      "  provision_timeout_seconds: 2",
      "",
    ].join("\n"),
  );
  writeFileSync(join(template, "hold-start"), "delete this file to let the agent start\n");
  const hook = join(home, "e2e-python");
  mkdirSync(hook);
  writeFileSync(
    join(hook, "sitecustomize.py"),
    [
      '"""canvas/e2e/platform.ts: an agent whose /configs holds `hold-start` waits until it is gone."""',
      "import os, sys, time",
      "",
      'if os.environ.get("WORKSPACE_ID") and os.environ.get("CONFIGS_DIR"):',
      '    _hold = os.path.join(os.environ["CONFIGS_DIR"], "hold-start")',
      "    if os.path.exists(_hold):",
      '        print("e2e: start held while /configs/hold-start exists", file=sys.stderr, flush=True)',
      "    while os.path.exists(_hold):",
      "        time.sleep(0.1)",
      "",
    ].join("\n"),
  );
  const path = process.env.PYTHONPATH;
  return { PYTHONPATH: path ? `${hook}:${path}` : hook, PROVISION_TIMEOUT_SECONDS: "600" };
}

/** An operator's org template (`MOLECULE_ORG_TEMPLATES_DIR`) whose one echo workspace names a
 * registry plugin and one no registry here holds: its import creates the workspace and says
 * what it left out. */
function orgTemplateFixture(home: string): NodeJS.ProcessEnv {
  const dir = join(home, "org-templates");
  mkdirSync(join(dir, "e2e-left-out"), { recursive: true });
  writeFileSync(
    join(dir, "e2e-left-out", "org.yaml"),
    [
      "name: Left out (e2e)",
      'description: "End-to-end tests only: one echo agent; one of its plugins is not in the registry."',
      "workspaces:",
      "  - name: Plugged e2e",
      "    runtime: echo",
      "    plugins: [team-etiquette, from-elsewhere]",
      "",
    ].join("\n"),
  );
  return { MOLECULE_ORG_TEMPLATES_DIR: dir };
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
    ...slowStartFixture(home),
    ...orgTemplateFixture(home),
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
