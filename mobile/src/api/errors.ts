// ApiError is the one error type the client shows to people. The server
// puts a code, sometimes the input at fault, and a Chinese message meant to
// be shown as is into each GraphQL error's extensions (server/graphql.go).

/** The server's error codes, plus NETWORK for a request that got no answer. */
export const ERROR_CODES = [
  'INVALID_ARGUMENT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'INTERNAL',
  'NETWORK',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export const MESSAGE_INTERNAL = '系统繁忙，请稍后再试'
export const MESSAGE_NETWORK = '网络异常，请检查网络后重试'
export const MESSAGE_UNAUTHENTICATED = '登录已失效，请重新登录'

export class ApiError extends Error {
  readonly code: ErrorCode
  /** The input field at fault (extensions.field), when the server named one. */
  readonly field?: string
  /** What the server or the network said, for logs only; never shown. */
  readonly detail?: string

  constructor(code: ErrorCode, message: string, field?: string, detail?: string) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.field = field
    this.detail = detail
  }
}

/** One error of a GraphQL response, as it comes over the wire. */
export interface GraphQLErrorLike {
  message?: unknown
  path?: unknown
  extensions?: { code?: unknown; field?: unknown; [k: string]: unknown } | null
}

function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && (ERROR_CODES as readonly string[]).includes(v)
}

/**
 * fromGraphQLErrors maps a response's errors to one ApiError: the first
 * error decides. Errors without one of our codes (gqlgen's own parse and
 * validation errors, in English) are client bugs: the person sees the
 * generic message and the original text goes to detail.
 */
export function fromGraphQLErrors(errors: readonly GraphQLErrorLike[]): ApiError {
  const first = errors[0]
  if (!first) return new ApiError('INTERNAL', MESSAGE_INTERNAL)
  const ext = first.extensions ?? {}
  const raw = typeof first.message === 'string' ? first.message : ''
  if (!isErrorCode(ext.code) || ext.code === 'NETWORK') {
    return new ApiError('INTERNAL', MESSAGE_INTERNAL, undefined, `${String(ext.code ?? '')} ${raw}`.trim())
  }
  const field = typeof ext.field === 'string' && ext.field !== '' ? ext.field : undefined
  let message = raw
  if (message === '') {
    message = ext.code === 'UNAUTHENTICATED' ? MESSAGE_UNAUTHENTICATED : MESSAGE_INTERNAL
  }
  return new ApiError(ext.code, message, field)
}

/**
 * toApiError turns anything a request can throw into an ApiError:
 * an ApiError as is, an array of GraphQL errors (what graphql-ws reports),
 * a websocket CloseEvent-like object, or any other failure as NETWORK.
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  if (Array.isArray(err)) return fromGraphQLErrors(err as GraphQLErrorLike[])
  if (typeof err === 'object' && err !== null && 'code' in err && 'reason' in err) {
    const { code, reason } = err as { code: unknown; reason: unknown }
    // graphql-ws closes with 4403 Forbidden when connection_init is refused.
    if (code === 4403 || code === 4401) {
      return new ApiError('UNAUTHENTICATED', MESSAGE_UNAUTHENTICATED, undefined, String(reason))
    }
    return new ApiError('NETWORK', MESSAGE_NETWORK, undefined, `close ${String(code)} ${String(reason)}`)
  }
  const detail = err instanceof Error ? err.message : String(err)
  return new ApiError('NETWORK', MESSAGE_NETWORK, undefined, detail)
}
