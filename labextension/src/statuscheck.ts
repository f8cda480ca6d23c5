/**
 * Checking that an answer is a status document before the widget uses it.
 *
 * A proxy's error page, a hub page for a server that is gone or an older server answer
 * with something else; used as is, it would break the countdown. The check reads the
 * document's published JSON Schema (generated into `statusdoc.ts`), the one pytest checks
 * the server's answers against. It understands the parts of JSON Schema that schema uses,
 * and lets keys it does not know through (pytest refuses them on the server's side).
 */

import { STATUS_SCHEMA, type IStatus } from './statusdoc';

type Schema = {
  $ref?: string;
  $defs?: Record<string, Schema>;
  type?: string | string[];
  enum?: unknown[];
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  pattern?: string;
  minimum?: number;
};

const ROOT = STATUS_SCHEMA as Schema;

function typeOf(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'array';
  }
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  if (type === 'integer') {
    return Number.isInteger(value);
  }
  if (type === 'number') {
    return typeof value === 'number' && Number.isFinite(value);
  }
  return typeOf(value) === type;
}

/** Why `value` does not match `schema` (a path and a reason), or null if it does. */
function mismatch(value: unknown, schema: Schema, path: string): string | null {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/$defs/', '');
    return mismatch(value, ROOT.$defs?.[name] ?? {}, path);
  }
  if (schema.oneOf) {
    const ok = schema.oneOf.some(s => mismatch(value, s, path) === null);
    return ok ? null : `${path}: unexpected ${typeOf(value)}`;
  }
  if (schema.enum && !schema.enum.includes(value)) {
    return `${path}: unexpected value ${JSON.stringify(value)}`;
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some(t => hasType(value, t))) {
      return `${path}: ${typeOf(value)} instead of ${types.join(' or ')}`;
    }
  }
  if (typeof value === 'string' && schema.pattern !== undefined) {
    if (!new RegExp(schema.pattern).test(value)) {
      return `${path}: ${JSON.stringify(value)} is not in the expected form`;
    }
  }
  if (typeof value === 'number' && schema.minimum !== undefined) {
    if (value < schema.minimum) {
      return `${path}: ${value} is below ${schema.minimum}`;
    }
  }
  if (Array.isArray(value) && schema.items) {
    for (let i = 0; i < value.length; i++) {
      const why = mismatch(value[i], schema.items, `${path}[${i}]`);
      if (why !== null) {
        return why;
      }
    }
  }
  if (typeOf(value) === 'object' && schema.properties) {
    const record = value as Record<string, unknown>;
    for (const key of schema.required ?? []) {
      if (!(key in record)) {
        return `${path}.${key}: missing`;
      }
    }
    for (const [key, sub] of Object.entries(schema.properties)) {
      if (key in record) {
        const why = mismatch(record[key], sub, `${path}.${key}`);
        if (why !== null) {
          return why;
        }
      }
    }
  }
  return null;
}

/** Why `value` is not a status document, or null if it is one. */
export function statusMismatch(value: unknown): string | null {
  return mismatch(value, ROOT, 'status');
}

/** Whether `value` is a status document. */
export function isStatus(value: unknown): value is IStatus {
  return statusMismatch(value) === null;
}
