// gRPC status codes as the HTTP client of a translated route sees them: the HTTP status
// grpc-gateway gives each code (runtime.HTTPStatusFromCode), and the JSON error body
// { code, message, details? } it writes. Pure.
import { status as GrpcStatus } from '@grpc/grpc-js';

/** The 17 gRPC status codes by number: the names metrics label calls with. */
export const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

export type GrpcCodeName = (typeof GRPC_CODE_NAMES)[number];

/** HTTP status per gRPC code, index = code (grpc-gateway's mapping; 499 is nginx's "client closed"). */
const HTTP_STATUS: readonly number[] = [
  200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
];

/** A code a server sent that is not one of the 17 is UNKNOWN (as gRPC's own clients read it). */
export function normalCode(code: number): number {
  return Number.isInteger(code) && code >= 0 && code < GRPC_CODE_NAMES.length
    ? code
    : GrpcStatus.UNKNOWN;
}

export function httpStatusOf(code: number): number {
  return HTTP_STATUS[normalCode(code)] as number;
}

export function codeName(code: number): GrpcCodeName {
  return GRPC_CODE_NAMES[normalCode(code)] as GrpcCodeName;
}

/** A google.protobuf.Any of a status detail, as JSON without its type: the type URL and base64 value. */
export interface StatusDetail {
  readonly '@type': string;
  readonly value: string;
}

/** The JSON body of a failed call, as grpc-gateway writes it. */
export function errorBody(
  code: number,
  message: string,
  details: readonly StatusDetail[] | undefined,
): string {
  return `${JSON.stringify({
    code: normalCode(code),
    message,
    ...(details !== undefined && details.length > 0 && { details }),
  })}\n`;
}
