// A real `roost serve` in a child process, as a platform runs it: `roost init --json` prints a
// test admin key, `roost serve --port <free port>` answers once /healthz does. On SQLite (a file in
// a temp directory) or on a private PostgreSQL database on ROOST_TEST_DATABASE_URL's server, made
// and dropped with psql (importing the Python suite's helpers for it costs seconds on a busy machine).
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const BIN = join(REPO, ".venv", "bin");

/** The databases to test on: SQLite always, PostgreSQL when ROOST_TEST_DATABASE_URL is set. */
export const BACKENDS = ["sqlite", ...(process.env.ROOST_TEST_DATABASE_URL ? ["postgres"] : [])];

/** Run one statement on the PostgreSQL server of ROOST_TEST_DATABASE_URL. */
async function postgres(statement) {
  await run("psql", [process.env.ROOST_TEST_DATABASE_URL, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement]);
}

async function privatePostgresDatabase() {
  const name = `roost_node_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  await postgres(`CREATE DATABASE "${name}"`);
  const url = new URL(process.env.ROOST_TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => postgres(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Start a Roost; `settings` are extra ROOST_* variables. Returns {baseUrl, apiKey, stop()}. */
export async function startRoost(backend, settings = {}) {
  if (!existsSync(join(BIN, "roost"))) {
    throw new Error(`${BIN}/roost is missing: run ./scripts/venv (or ./scripts/test) in the repository first`);
  }
  const directory = mkdtempSync(join(tmpdir(), "roost-node-"));
  const postgresDatabase = backend === "postgres" ? await privatePostgresDatabase() : undefined;
  const database = postgresDatabase?.url ?? `sqlite:///${join(directory, "roost.db")}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("ROOST_")));
  Object.assign(env, {
    ROOST_DATABASE_URL: database,
    // PostgreSQL needs a key (SQLite would make one next to its file): 32 random bytes, URL-safe base64.
    ROOST_SECRET_KEY: randomBytes(32).toString("base64url"),
    ROOST_LOG_LEVEL: "warning",
    ...settings,
  });
  const stopped = async () => {
    rmSync(directory, { recursive: true, force: true });
    await postgresDatabase?.drop();
  };
  let apiKey;
  try {
    const { stdout } = await run(join(BIN, "roost"), ["init", "--json"], { cwd: directory, env });
    apiKey = JSON.parse(stdout).admin_key;
  } catch (error) {
    await stopped();
    throw error;
  }

  const port = await freePort();
  const stderrPath = join(directory, "serve.stderr");
  const child = spawn(join(BIN, "roost"), ["serve", "--port", String(port)], {
    cwd: directory, env, stdio: ["ignore", "ignore", openSync(stderrPath, "w")],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const baseUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await stopped();
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      const log = readFileSync(stderrPath, "utf8");
      await stopped();
      throw new Error(`roost serve exited ${child.exitCode}:\n${log}`);
    }
    try {
      if ((await fetch(`${baseUrl}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const log = readFileSync(stderrPath, "utf8");
      await stop();
      throw new Error(`roost serve did not answer within 30 s:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { baseUrl, apiKey, stop };
}

/** Poll `condition` (async) until it returns something truthy. */
export async function waitFor(condition, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
