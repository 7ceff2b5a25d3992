// The GraphQL client: queries and mutations over fetch (POST /graphql) with
// the bearer token from storage; subscriptions live in ws.ts.
import { ApiError, fromGraphQLErrors, MESSAGE_INTERNAL, MESSAGE_NETWORK, toApiError, type GraphQLErrorLike } from './errors'
import { tokens, type TokenStore } from './token'

/** A typed GraphQL operation: the document plus its result and variables types. */
export interface Operation<TData, TVars extends Record<string, unknown> | undefined = undefined> {
  readonly name: string
  readonly document: string
  /** Phantom fields: never set, they carry the types. */
  readonly __data?: TData
  readonly __vars?: TVars
}

export function operation<TData, TVars extends Record<string, unknown> | undefined = undefined>(
  name: string,
  document: string,
): Operation<TData, TVars> {
  return { name, document }
}

export interface ClientOptions {
  endpoint?: string
  fetch?: typeof fetch
  tokens?: TokenStore
}

export interface GraphQLClient {
  request<TData, TVars extends Record<string, unknown> | undefined>(
    op: Operation<TData, TVars>,
    ...vars: TVars extends undefined ? [] : [TVars]
  ): Promise<TData>
}

interface Response<T> {
  data?: T | null
  errors?: GraphQLErrorLike[]
}

export function createClient(opts: ClientOptions = {}): GraphQLClient {
  const endpoint = opts.endpoint ?? '/graphql'
  const store = opts.tokens ?? tokens
  const doFetch = opts.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a))

  return {
    async request(op, ...rest) {
      const variables = rest[0]
      const token = store.get()
      const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' }
      if (token) headers.Authorization = `Bearer ${token}`
      let res: globalThis.Response
      try {
        res = await doFetch(endpoint, {
          method: 'POST',
          headers,
          body: JSON.stringify({ operationName: op.name, query: op.document, variables: variables ?? {} }),
        })
      } catch (err) {
        throw toApiError(err)
      }
      let body: Response<unknown>
      try {
        body = (await res.json()) as Response<unknown>
      } catch {
        // A proxy's HTML error page, or a cut connection.
        const gateway = res.status === 502 || res.status === 503 || res.status === 504
        throw new ApiError(gateway ? 'NETWORK' : 'INTERNAL', gateway ? MESSAGE_NETWORK : MESSAGE_INTERNAL,
          undefined, `HTTP ${res.status}`)
      }
      if (body.errors && body.errors.length > 0) {
        const err = fromGraphQLErrors(body.errors)
        // A token the server no longer accepts (revoked, expired, password
        // changed elsewhere): forget it, unless a newer login replaced it.
        if (err.code === 'UNAUTHENTICATED' && token && store.get() === token) store.clear()
        throw err
      }
      if (body.data == null) throw new ApiError('INTERNAL', MESSAGE_INTERNAL, undefined, `HTTP ${res.status} without data`)
      return body.data as never
    },
  }
}

/** The page's client. */
export const client = createClient()
