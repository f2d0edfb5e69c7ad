/**
 * Checks JSON bodies against the Matrix client-server API specification.
 *
 * The specification publishes every endpoint of the client-server API as an
 * OpenAPI 3.1 document (`data/api/client-server/*.yaml` in the spec's
 * repository), with the shared JSON Schemas under `definitions/`. This module
 * reads those documents and answers three questions for conformance tests:
 * which operation a method and concrete URL path belong to, whether a request
 * body fits that operation's schema, and whether a response body fits the
 * schema for its status code. Problems come back as readable strings such as
 * `/identifier/type must be string`.
 *
 * The documents are not part of this project. {@linkcode loadSpec} looks for
 * them in the folder named by the environment variable `MATRIX_SPEC_DIR` (a
 * relative value is taken from the project root, the folder holding
 * `deno.json`), and by default in a checkout of the spec's data next to the
 * project, `../shared/matrix-spec`. The folder must hold
 * `data/api/client-server/` and `data/string-formats.yaml`; a full clone of
 * the specification's repository works too. When the folder is absent,
 * loading reports why instead of failing, and {@linkcode skipUnlessSpec}
 * turns that into a loud test skip:
 *
 * ```ts
 * const load = await loadSpec();
 * it("sends a valid login body", { skip: skipUnlessSpec(load) }, () => {
 *   assert.deepEqual(
 *     load.validator!.requestErrors("POST", "/_matrix/client/v3/login", body),
 *     [],
 *   );
 * });
 * ```
 *
 * The schemas check shapes only; rules the specification states in prose
 * are out of their reach.
 *
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  Ajv2020,
  type ErrorObject,
  type ValidateFunction,
} from "ajv/dist/2020.js";
import ajvFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";

/** One operation of the client-server API: a method on a path template. */
export interface SpecOperation {
  /** The HTTP method in upper case, such as `"POST"`. */
  method: string;
  /** The full path template, such as `"/_matrix/client/v3/login"`. */
  path: string;
  /** The operation's `operationId` in the specification, such as `"login"`. */
  operationId: string;
  /** The document defining it, relative to the spec folder. */
  file: string;
}

/** Looks up operations and checks JSON bodies against their schemas. */
export interface SpecValidator {
  /**
   * The operation for a method and a concrete URL path such as
   * `"/_matrix/client/v3/login/sso/redirect/oidc-github"` (a template such as
   * `{idpId}` matches one path segment; a literal segment wins over a
   * template), or `undefined`. A query string or fragment is ignored.
   */
  findOperation(method: string, pathname: string): SpecOperation | undefined;
  /**
   * Problems with a JSON request body for that method and path; an empty
   * array means the body is valid. Throws if no operation matches or the
   * operation has no JSON request body schema.
   */
  requestErrors(method: string, pathname: string, body: unknown): string[];
  /**
   * Problems with a JSON response body for that method, path and status; an
   * empty array means the body is valid. The schema is the one for the exact
   * status, else for its range (`"4XX"`), else the `"default"` response.
   * Throws if no operation matches or there is no JSON schema for the status.
   */
  responseErrors(
    method: string,
    pathname: string,
    status: number,
    body: unknown,
  ): string[];
  /**
   * The response statuses the specification documents for that method and
   * path (such as `["302", "404"]`), body or not: for answers without a JSON
   * body, such as redirects. Throws if no operation matches.
   */
  documentedStatuses(method: string, pathname: string): string[];
  /** Every operation of the specification, in file and path order. */
  operations(): SpecOperation[];
  /**
   * The text the specification gives an operation: its `summary` and
   * `description`, and the names of its `security` schemes (such as
   * `"accessTokenBearer"`), for tests that pin a sentence the book quotes.
   * Throws if no operation matches.
   */
  operationText(
    method: string,
    pathname: string,
  ): { summary: string; description: string; security: string[] };
  /**
   * Files the documents refer to that the spec folder does not hold (parts
   * of the specification outside the client-server API, such as event
   * schemas, when the folder holds only that API). Their schemas accept
   * anything, so bodies are only checked around them.
   */
  readonly missingFiles: readonly string[];
}

/**
 * The outcome of {@linkcode loadSpec}: a validator and the folder it was read
 * from, or no validator, the folder looked for, and the reason.
 */
export type SpecLoad =
  | { validator: SpecValidator; dir: string }
  | { validator: undefined; dir: string; reason: string };

/** The folder holding deno.json, found from this file's location. */
function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, "deno.json"))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
}

/** The spec folder: `options.dir`, else MATRIX_SPEC_DIR, else the default. */
function specDir(dir: string | undefined): string {
  const root = projectRoot();
  const chosen = dir ?? (process.env.MATRIX_SPEC_DIR || undefined);
  return path.resolve(root, chosen ?? "../shared/matrix-spec");
}

const API_DIR = "data/api/client-server";
const FORMATS_FILE = "data/string-formats.yaml";
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch"];

const cache = new Map<string, Promise<SpecLoad>>();

/**
 * Reads and indexes the client-server API documents from `options.dir`, else
 * from `MATRIX_SPEC_DIR`, else from `../shared/matrix-spec` next to the
 * project. Resolves to `validator: undefined` and a reason naming the folder
 * and `MATRIX_SPEC_DIR` when the folder lacks the documents; rejects when
 * they are there but cannot be read. Loads each folder once.
 */
export function loadSpec(options: { dir?: string } = {}): Promise<SpecLoad> {
  const dir = specDir(options.dir);
  let load = cache.get(dir);
  if (!load) {
    load = readSpec(dir);
    cache.set(dir, load);
    load.catch(() => cache.delete(dir));
  }
  return load;
}

const announced = new Set<string>();

/**
 * The `skip` value for a `node:test` test that needs the specification:
 * `false` when it loaded, else the reason, which is also printed once per
 * folder to stderr so that skipped conformance tests are never mistaken for
 * passing ones.
 */
export function skipUnlessSpec(load: SpecLoad): string | false {
  if (load.validator) return false;
  const message = `SKIPPED (Matrix spec conformance): ${load.reason}`;
  if (!announced.has(load.dir)) {
    announced.add(load.dir);
    process.stderr.write(message + "\n");
  }
  return message;
}

/** Loads the documents in `dir`, or says why it cannot. */
async function readSpec(dir: string): Promise<SpecLoad> {
  const apiDir = path.join(dir, API_DIR);
  if (!isDirectory(apiDir)) {
    const reason =
      `no Matrix spec definitions at ${apiDir} (looked in ${dir}); ` +
      `set MATRIX_SPEC_DIR to a checkout of the matrix-spec data ` +
      `(the folder holding ${API_DIR}/), e.g. ` +
      `MATRIX_SPEC_DIR=/path/to/matrix-spec`;
    return { validator: undefined, dir, reason };
  }
  const files = listYaml(apiDir).sort();
  const docs = new Map<string, unknown>();
  await Promise.all(files.map(async (file) => {
    docs.set(fileUrl(file), await readYaml(file));
  }));
  const formats = await readFormats(path.join(dir, FORMATS_FILE));
  return { validator: new Validator(dir, docs, formats), dir };
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Every `.yaml` file under `dir`, recursively. */
function listYaml(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return listYaml(p);
    return e.isFile() && e.name.endsWith(".yaml") ? [p] : [];
  });
}

function fileUrl(file: string): string {
  return pathToFileURL(file).href;
}

async function readYaml(file: string): Promise<unknown> {
  const text = await fs.promises.readFile(file, "utf8");
  try {
    return parseYaml(text);
  } catch (e) {
    throw new Error(`cannot parse ${file}: ${(e as Error).message}`);
  }
}

/**
 * The `mx-*` string formats from string-formats.yaml, each with the regex the
 * file suggests for it (kept there as a `# regex:` comment) or none.
 */
async function readFormats(file: string): Promise<Map<string, RegExp | null>> {
  const text = await fs.promises.readFile(file, "utf8");
  const names = Object.keys(parseYaml(text) ?? {});
  const hints = new Map<string, string>();
  let current: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const key = /^([A-Za-z0-9_.-]+):\s*$/.exec(line);
    if (key) current = key[1];
    const hint = /^\s+#\s*regex:\s*("(?:[^"\\]|\\.)*")\s*$/.exec(line);
    if (hint && current) hints.set(current, JSON.parse(hint[1]));
  }
  const formats = new Map<string, RegExp | null>();
  for (const name of names) {
    if (!name.startsWith("mx-")) continue;
    const hint = hints.get(name);
    formats.set(name, hint === undefined ? null : new RegExp(hint));
  }
  return formats;
}

/** An operation with where its OpenAPI object lives. */
interface Operation extends SpecOperation {
  /** The URL of the document holding the operation object. */
  url: string;
  /** JSON pointer to the operation object in that document. */
  pointer: string;
  op: Record<string, unknown>;
}

/**
 * A method on a path template, with every operation defined for it: usually
 * one, but the spec gives POST /rooms/{roomId}/invite two (by user ID and by
 * third-party ID), told apart in its files by a trailing space in one key.
 */
interface Route {
  method: string;
  path: string;
  /** The path template split at "/", each literal or a pattern. */
  segments: (string | RegExp)[];
  operations: Operation[];
}

/** An OpenAPI object reached through any `$ref`s, and where it lives. */
interface Located {
  url: string;
  pointer: string;
  node: Record<string, unknown>;
}

/** A JSON schema to check a body against, and the operation it is for. */
interface Target {
  operation: Operation;
  /** The schema's absolute `$ref`, as ajv resolves it. */
  ref: string;
}

class Validator implements SpecValidator {
  readonly missingFiles: readonly string[];
  #dir: string;
  #docs: Map<string, unknown>;
  #ajv: Ajv2020;
  #routes = new Map<string, Route[]>();
  #compiled = new Map<string, ValidateFunction>();

  constructor(
    dir: string,
    docs: Map<string, unknown>,
    formats: Map<string, RegExp | null>,
  ) {
    this.#dir = dir;
    this.#docs = docs;
    this.missingFiles = this.#loadReferencedFiles();
    this.#ajv = new Ajv2020({ strict: false, allErrors: true });
    // ajv-formats is CommonJS: Deno's default import is its module.exports,
    // which its types see as the module, so call the `default` it also sets.
    ajvFormats.default(this.#ajv);
    for (const [name, regex] of formats) {
      this.#ajv.addFormat(name, regex ?? true);
    }
    for (const [url, doc] of docs) {
      // Under its own $id, so that a $ref to the whole file still resolves
      // the file's own relative $refs against the file, not the referrer.
      this.#ajv.addSchema({ ...(isObject(doc) ? doc : {}), $id: url });
    }
    for (const [url, doc] of docs) {
      if (isObject(doc) && isObject(doc.paths)) this.#addRoutes(url, doc);
    }
  }

  /**
   * Follows `$ref`s to files outside the loaded folder: reads those that
   * exist, registers an accept-anything schema for those that do not, and
   * returns the latter (relative to the spec folder).
   */
  #loadReferencedFiles(): string[] {
    const missing: string[] = [];
    const pending = [...this.#docs.keys()];
    while (pending.length > 0) {
      const url = pending.pop()!;
      for (const ref of refsIn(this.#docs.get(url))) {
        const target = new URL(ref, url);
        target.hash = "";
        const href = target.href;
        if (this.#docs.has(href) || target.protocol !== "file:") continue;
        const file = fileURLToPath(href);
        if (fs.existsSync(file)) {
          this.#docs.set(href, parseYaml(fs.readFileSync(file, "utf8")));
          pending.push(href);
        } else {
          this.#docs.set(href, {});
          missing.push(path.relative(this.#dir, file));
        }
      }
    }
    return missing.sort();
  }

  #addRoutes(url: string, doc: Record<string, unknown>): void {
    const file = path.relative(this.#dir, fileURLToPath(url));
    const docBases = basePaths(doc.servers) ?? [""];
    for (const [key, item] of Object.entries(doc.paths as object)) {
      if (!isObject(item)) continue;
      const itemBases = basePaths(item.servers) ?? docBases;
      for (const method of METHODS) {
        const op = item[method];
        if (!isObject(op)) continue;
        const bases = basePaths(op.servers) ?? itemBases;
        for (const base of bases) {
          const template = base.replace(/\/+$/, "") + key.trim();
          const operation: Operation = {
            method: method.toUpperCase(),
            path: template,
            operationId: String(op.operationId ?? ""),
            file,
            url,
            pointer: pointerOf(["paths", key, method]),
            op,
          };
          const list = this.#routes.get(operation.method) ?? [];
          this.#routes.set(operation.method, list);
          const route = list.find((r) => r.path === template);
          if (route) {
            route.operations.push(operation);
          } else {
            list.push({
              method: operation.method,
              path: template,
              segments: template.split("/").map(segmentMatcher),
              operations: [operation],
            });
          }
        }
      }
    }
  }

  operations(): SpecOperation[] {
    return [...this.#routes.values()].flat()
      .flatMap((r) => r.operations.map(publicOperation))
      .sort((a, b) =>
        a.file.localeCompare(b.file) || a.path.localeCompare(b.path) ||
        a.method.localeCompare(b.method)
      );
  }

  findOperation(method: string, pathname: string): SpecOperation | undefined {
    const route = this.#route(method, pathname);
    return route && publicOperation(route.operations[0]);
  }

  #route(method: string, pathname: string): Route | undefined {
    const segments = pathname.replace(/[?#].*$/s, "").split("/");
    let best: Route | undefined;
    let bestRank: boolean[] = [];
    for (const route of this.#routes.get(method.toUpperCase()) ?? []) {
      if (route.segments.length !== segments.length) continue;
      const rank: boolean[] = [];
      let ok = true;
      for (let i = 0; ok && i < segments.length; i++) {
        const want = route.segments[i];
        if (typeof want === "string") {
          ok = segments[i] === want || decode(segments[i]) === want;
          rank.push(true);
        } else {
          ok = want.test(segments[i]);
          rank.push(false);
        }
      }
      if (ok && (!best || outranks(rank, bestRank))) {
        best = route;
        bestRank = rank;
      }
    }
    return best;
  }

  #requireRoute(method: string, pathname: string): Route {
    const route = this.#route(method, pathname);
    if (!route) {
      throw new Error(
        `no operation in the Matrix spec for ${method.toUpperCase()} ${pathname}`,
      );
    }
    return route;
  }

  requestErrors(method: string, pathname: string, body: unknown): string[] {
    const route = this.#requireRoute(method, pathname);
    const targets = route.operations.flatMap((operation) => {
      const { requestBody } = operation.op;
      if (!isObject(requestBody)) return [];
      const ref = this.#jsonSchemaRef(this.#deref({
        url: operation.url,
        pointer: operation.pointer + "/requestBody",
        node: requestBody,
      }));
      return ref === undefined ? [] : [{ operation, ref }];
    });
    if (targets.length === 0) {
      throw new Error(
        `${route.method} ${route.path} has no JSON request body schema ` +
          `in the Matrix spec`,
      );
    }
    return this.#check(targets, body);
  }

  operationText(
    method: string,
    pathname: string,
  ): { summary: string; description: string; security: string[] } {
    const { op } = this.#requireRoute(method, pathname).operations[0];
    const security = Array.isArray(op.security)
      ? op.security.flatMap((s) => isObject(s) ? Object.keys(s) : [])
      : [];
    return {
      summary: typeof op.summary === "string" ? op.summary : "",
      description: typeof op.description === "string" ? op.description : "",
      security,
    };
  }

  documentedStatuses(method: string, pathname: string): string[] {
    const route = this.#requireRoute(method, pathname);
    const statuses = new Set<string>();
    for (const operation of route.operations) {
      const { responses } = operation.op;
      if (isObject(responses)) {
        Object.keys(responses).forEach((k) => statuses.add(k));
      }
    }
    return [...statuses].sort();
  }

  responseErrors(
    method: string,
    pathname: string,
    status: number,
    body: unknown,
  ): string[] {
    const route = this.#requireRoute(method, pathname);
    const range = `${Math.floor(status / 100)}XX`;
    const statuses = new Set<string>();
    const targets = route.operations.flatMap((operation) => {
      const { responses } = operation.op;
      if (!isObject(responses)) return [];
      Object.keys(responses).forEach((k) => statuses.add(k));
      const key = [String(status), range, range.toLowerCase(), "default"]
        .find((k) => k in responses);
      if (key === undefined || !isObject(responses[key])) return [];
      const ref = this.#jsonSchemaRef(this.#deref({
        url: operation.url,
        pointer: pointerOf(["responses", key], operation.pointer),
        node: responses[key],
      }));
      return ref === undefined ? [] : [{ operation, ref }];
    });
    if (targets.length === 0) {
      throw new Error(
        `${route.method} ${route.path} has no JSON schema for a ${status} ` +
          `response in the Matrix spec (responses: ${
            [...statuses].join(", ") || "none"
          })`,
      );
    }
    return this.#check(targets, body);
  }

  /** Follows `$ref`s (to request bodies, responses) until a plain object. */
  #deref(at: Located): Located {
    for (let hops = 0; typeof at.node.$ref === "string"; hops++) {
      if (hops > 20) throw new Error(`$ref loop at ${at.url}#${at.pointer}`);
      const target = new URL(at.node.$ref, at.url);
      const pointer = decodeURIComponent(target.hash.slice(1));
      target.hash = "";
      const node = resolvePointer(this.#docs.get(target.href), pointer);
      if (!isObject(node)) {
        throw new Error(`cannot resolve $ref ${at.node.$ref} in ${at.url}`);
      }
      at = { url: target.href, pointer, node };
    }
    return at;
  }

  /** The `$ref` of a request body's or response's JSON schema, if any. */
  #jsonSchemaRef(at: Located): string | undefined {
    const content = isObject(at.node.content) ? at.node.content : {};
    const mediaType = Object.keys(content).find(isJsonMediaType);
    if (mediaType === undefined) return undefined;
    const media = content[mediaType];
    if (!isObject(media) || media.schema === undefined) return undefined;
    const pointer = pointerOf(["content", mediaType, "schema"], at.pointer);
    return `${at.url}#${pointer.split("/").map(encodeURIComponent).join("/")}`;
  }

  /**
   * The problems with `body` under the targets' schemas: none if any schema
   * accepts it, else every schema's problems (each marked with its
   * operation's ID when there is more than one).
   */
  #check(targets: Target[], body: unknown): string[] {
    const problems: string[] = [];
    for (const { operation, ref } of targets) {
      let validate = this.#compiled.get(ref);
      if (!validate) {
        validate = this.#ajv.compile({ $ref: ref });
        this.#compiled.set(ref, validate);
      }
      if (validate(body)) return [];
      const mark = targets.length > 1 ? `(as ${operation.operationId}) ` : "";
      for (const e of validate.errors ?? []) problems.push(mark + describe(e));
    }
    return [...new Set(problems)];
  }
}

function publicOperation(o: Operation): SpecOperation {
  return {
    method: o.method,
    path: o.path,
    operationId: o.operationId,
    file: o.file,
  };
}

/** One ajv error as `"/where message"`, naming the property where useful. */
function describe(e: ErrorObject): string {
  const where = e.instancePath || "(root)";
  const p = e.params as Record<string, unknown>;
  let message = e.message ?? e.keyword;
  if (e.keyword === "additionalProperties") {
    message += ` ('${p.additionalProperty}')`;
  } else if (e.keyword === "unevaluatedProperties") {
    message += ` ('${p.unevaluatedProperty}')`;
  } else if (e.keyword === "enum") {
    message += ` (${(p.allowedValues as unknown[]).map(show).join(", ")})`;
  } else if (e.keyword === "const") {
    message += ` (${show(p.allowedValue)})`;
  }
  return `${where} ${message}`;
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

/**
 * The base paths a `servers` list gives: each server URL with its variables
 * set to every value they allow (their `enum`, else their `default`), reduced
 * to its path. `undefined` when there is no list.
 */
function basePaths(servers: unknown): string[] | undefined {
  if (!Array.isArray(servers) || servers.length === 0) return undefined;
  const out = new Set<string>();
  for (const server of servers) {
    if (!isObject(server) || typeof server.url !== "string") continue;
    let urls = [server.url];
    const vars = isObject(server.variables) ? server.variables : {};
    for (const [name, v] of Object.entries(vars)) {
      if (!isObject(v)) continue;
      const values = Array.isArray(v.enum) ? v.enum.map(String) : [];
      if (values.length === 0 && v.default !== undefined) {
        values.push(String(v.default));
      }
      urls = urls.flatMap((u) =>
        values.map((value) => u.split(`{${name}}`).join(value))
      );
    }
    for (const u of urls) {
      out.add(new URL(u, "https://localhost").pathname.replace(/\/+$/, ""));
    }
  }
  return [...out];
}

/** A literal path segment, or a pattern for one holding `{templates}`. */
function segmentMatcher(segment: string): string | RegExp {
  if (!segment.includes("{")) return segment;
  const parts = segment.split(/\{[^}]*\}/).map((s) =>
    s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(`^${parts.join("[^/]*")}$`, "s");
}

/** Whether the first segment where two routes differ is literal in `a`. */
function outranks(a: boolean[], b: boolean[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i];
  }
  return false;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function isJsonMediaType(type: string): boolean {
  const base = type.split(";")[0].trim().toLowerCase();
  return base === "application/json" || base.endsWith("+json");
}

/** A JSON pointer made of `tokens`, appended to `prefix`. */
function pointerOf(tokens: string[], prefix = ""): string {
  return prefix +
    tokens.map((t) => "/" + t.replaceAll("~", "~0").replaceAll("/", "~1"))
      .join("");
}

function resolvePointer(doc: unknown, pointer: string): unknown {
  if (pointer === "") return doc;
  let node = doc;
  for (const token of pointer.slice(1).split("/")) {
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    const key = token.replaceAll("~1", "/").replaceAll("~0", "~");
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

const EXAMPLE_KEYS = new Set(["example", "examples"]);
const PROPERTY_KEYS = new Set(["properties", "patternProperties", "$defs"]);

/**
 * Every `$ref` string in a parsed document, leaving out examples (whose
 * `$ref`s point at example files, not schemas).
 */
function refsIn(doc: unknown): string[] {
  const refs: string[] = [];
  const visit = (node: unknown, key: string): void => {
    if (Array.isArray(node)) {
      node.forEach((item) => visit(item, ""));
    } else if (isObject(node)) {
      for (const [k, v] of Object.entries(node)) {
        if (k === "$ref" && typeof v === "string") refs.push(v);
        else if (!EXAMPLE_KEYS.has(k) || PROPERTY_KEYS.has(key)) visit(v, k);
      }
    }
  };
  visit(doc, "");
  return refs;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
