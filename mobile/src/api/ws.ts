// Subscriptions over the graphql-transport-ws protocol (npm graphql-ws).
// The bearer token goes into connection_init's payload; when the token
// changes (login, logout, another tab) the socket is closed and the next
// subscription opens a new one under the new identity.
import { createClient as createWsClient, type Client } from 'graphql-ws'
import type { Operation } from './client'
import { toApiError, type ApiError } from './errors'
import { tokens as pageTokens, type TokenStore } from './token'

export interface SubscriptionSink<T> {
  next(data: T): void
  error?(err: ApiError): void
  complete?(): void
}

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'closed'

export interface Subscriptions {
  subscribe<TData, TVars extends Record<string, unknown> | undefined>(
    op: Operation<TData, TVars>,
    variables: TVars,
    sink: SubscriptionSink<TData>,
  ): () => void
  /** Reports the socket's state; fn is called at once with the current one. */
  onState(fn: (s: ConnectionState) => void): () => void
  dispose(): void
}

export interface SubscriptionsOptions {
  url?: string
  tokens?: TokenStore
  webSocketImpl?: unknown
}

/** The websocket URL of /graphql on this page's origin (ws: or wss:). */
export function graphqlWsUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`
}

export function createSubscriptions(opts: SubscriptionsOptions = {}): Subscriptions {
  const store = opts.tokens ?? pageTokens
  const url = opts.url ?? graphqlWsUrl(window.location)
  let ws: Client | null = null
  let state: ConnectionState = 'idle'
  const stateListeners = new Set<(s: ConnectionState) => void>()
  const setState = (s: ConnectionState) => {
    if (s === state) return
    state = s
    for (const fn of stateListeners) fn(s)
  }

  const connect = (): Client => {
    if (ws) return ws
    ws = createWsClient({
      url,
      lazy: true,
      webSocketImpl: opts.webSocketImpl,
      connectionParams: () => {
        const token = store.get()
        return token ? { authorization: `Bearer ${token}` } : {}
      },
      retryAttempts: 20,
      // A refused connection_init (a dead token) will not get better by retrying.
      shouldRetry: (e) => toApiError(e).code !== 'UNAUTHENTICATED',
      on: {
        connecting: () => setState('connecting'),
        connected: () => setState('connected'),
        closed: () => setState('closed'),
      },
    })
    return ws
  }

  const reset = () => {
    const old = ws
    ws = null
    if (old) void old.dispose()
    setState('idle')
  }
  const unsubscribeTokens = store.subscribe(reset)

  return {
    subscribe(op, variables, sink) {
      return connect().subscribe<never>(
        { operationName: op.name, query: op.document, variables: (variables ?? {}) as Record<string, unknown> },
        {
          next: (res) => {
            if (res.errors && res.errors.length > 0) sink.error?.(toApiError(res.errors))
            else if (res.data) sink.next(res.data as never)
          },
          error: (err) => sink.error?.(toApiError(err)),
          complete: () => sink.complete?.(),
        },
      )
    },
    onState(fn) {
      stateListeners.add(fn)
      fn(state)
      return () => stateListeners.delete(fn)
    },
    dispose() {
      unsubscribeTokens()
      reset()
    },
  }
}

let pageSubscriptions: Subscriptions | null = null

/** The page's subscriptions client, created on first use. */
export function subscriptions(): Subscriptions {
  pageSubscriptions ??= createSubscriptions()
  return pageSubscriptions
}
