/**
 * A tiny client generated at run time from an OpenAPI 3.1 document (the committed
 * openapi/openapi.json). It knows only what the document says: an operation must exist to be
 * called, query parameters must be declared, a JSON body must validate against the operation's
 * requestBody schema, and the response status must be documented and its JSON body must validate
 * against that response's schema. Used by test/openapi/client.test.ts against the real service.
 */
import { dereference } from '@readme/openapi-parser';
import { Ajv, type ValidateFunction } from 'ajv';

type Schema = Record<string, unknown>;
interface MediaType { schema?: Schema }
interface Operation {
  operationId?: string;
  summary?: string;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema }>;
  requestBody?: { required?: boolean; content: Record<string, MediaType> };
  responses: Record<string, { description: string; content?: Record<string, MediaType> }>;
}
export interface OpenApiDoc {
  openapi: string;
  servers?: Array<{ url: string }>;
  paths: Record<string, Record<string, Operation>>;
}

export interface CallResult {
  status: number;
  contentType: string;
  body: unknown;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

export class OpenApiClient {
  readonly #ops = new Map<string, { method: string; path: string; op: Operation }>();
  readonly #ajv = new Ajv({ strict: false, allErrors: true });
  readonly #validators = new Map<Schema, ValidateFunction>();

  private constructor(readonly doc: OpenApiDoc, readonly baseUrl: string) {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!METHODS.includes(method)) continue;
        const entry = { method: method.toUpperCase(), path, op };
        this.#ops.set(`${entry.method} ${path}`, entry);
        if (op.operationId) this.#ops.set(op.operationId, entry);
      }
    }
  }

  /** Dereferences `document` (a path or an object) and binds it to the service at `baseUrl`. */
  static async create(document: string | OpenApiDoc, baseUrl: string): Promise<OpenApiClient> {
    const input = typeof document === 'string' ? document : structuredClone(document);
    const doc = await dereference(input as never) as unknown as OpenApiDoc;
    return new OpenApiClient(doc, baseUrl);
  }

  /** `METHOD /path` of every operation the document declares. */
  operations(): string[] {
    return [...new Set([...this.#ops.values()].map((e) => `${e.method} ${e.path}`))].sort();
  }

  #validate(schema: Schema | undefined, value: unknown, what: string): void {
    if (!schema) return;
    let v = this.#validators.get(schema);
    if (!v) {
      v = this.#ajv.compile(schema);
      this.#validators.set(schema, v);
    }
    if (!v(value)) throw new Error(`${what} does not match the OpenAPI schema: ${this.#ajv.errorsText(v.errors)}`);
  }

  /**
   * Calls an operation by `METHOD /path` or operationId.
   * @throws Error when the operation, a query parameter or the status is undocumented, or when the
   *   JSON body or JSON response does not match its schema.
   */
  async call(operation: string, req: { query?: Record<string, string | number>; json?: unknown } = {}): Promise<CallResult> {
    const entry = this.#ops.get(operation);
    if (!entry) throw new Error(`operation ${operation} is not in the OpenAPI document`);
    const { op, method, path } = entry;
    const declared = new Map((op.parameters ?? []).filter((p) => p.in === 'query').map((p) => [p.name, p]));
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) {
      const p = declared.get(k);
      if (!p) throw new Error(`query parameter ${k} is not declared for ${operation}`);
      this.#validate(p.schema, v, `query parameter ${k}`); // pass numbers for numeric parameters
      query.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: 'application/json' };
    let body: string | undefined;
    if (req.json !== undefined) {
      const media = op.requestBody?.content['application/json'];
      if (!media) throw new Error(`${operation} declares no application/json request body`);
      this.#validate(media.schema, req.json, `request body of ${operation}`);
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (op.requestBody?.required) {
      throw new Error(`${operation} requires a request body`);
    }
    const server = this.doc.servers?.[0]?.url ?? '/';
    const url = new URL(`${server.replace(/\/$/, '')}${path}`, this.baseUrl);
    url.search = query.toString();
    const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    const contentType = res.headers.get('content-type') ?? '';
    const documented = op.responses[String(res.status)] ?? op.responses[`${String(res.status)[0]}XX`] ?? op.responses.default;
    if (!documented) throw new Error(`${operation} answered ${res.status}, which the document does not declare`);
    const text = await res.text();
    const parsed: unknown = contentType.includes('json') ? JSON.parse(text) : text;
    if (contentType.includes('json')) {
      this.#validate(documented.content?.['application/json']?.schema, parsed, `${res.status} response of ${operation}`);
    }
    return { status: res.status, contentType, body: parsed };
  }
}
