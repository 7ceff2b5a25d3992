import { describe, expect, it } from 'vitest'
import { operation } from './client'
import { createTokenStore } from './token'
import { createSubscriptions, graphqlWsUrl, type ConnectionState } from './ws'

const Heartbeat = operation<{ heartbeat: string }, { intervalSeconds: number }>(
  'Heartbeat',
  'subscription Heartbeat($intervalSeconds: Int!) { heartbeat(intervalSeconds: $intervalSeconds) }',
)

interface Msg {
  type: string
  id?: string
  payload?: Record<string, unknown>
}

/**
 * A scripted graphql-transport-ws server inside a fake WebSocket: it acks
 * connection_init unless the token is "dead" (then closes 4403 as gqlgen
 * does), and answers each subscribe with one heartbeat.
 */
function fakeServer() {
  const sockets: FakeSocket[] = []
  class FakeSocket {
    static CONNECTING = 0
    static OPEN = 1
    static CLOSING = 2
    static CLOSED = 3
    readyState = 0
    protocol: string
    sent: Msg[] = []
    onopen: ((e: unknown) => void) | null = null
    onmessage: ((e: { data: string }) => void) | null = null
    onclose: ((e: { code: number; reason: string; wasClean: boolean }) => void) | null = null
    onerror: ((e: unknown) => void) | null = null
    constructor(
      public url: string,
      protocols: string | string[],
    ) {
      this.protocol = Array.isArray(protocols) ? protocols[0]! : protocols
      sockets.push(this)
      setTimeout(() => {
        this.readyState = 1
        this.onopen?.({})
      }, 0)
    }
    send(data: string) {
      const msg = JSON.parse(data) as Msg
      this.sent.push(msg)
      const reply = (m: Msg) => setTimeout(() => this.onmessage?.({ data: JSON.stringify(m) }), 0)
      if (msg.type === 'connection_init') {
        if (msg.payload?.authorization === 'Bearer dead') setTimeout(() => this.close(4403, 'Forbidden'), 0)
        else reply({ type: 'connection_ack' })
      } else if (msg.type === 'subscribe') {
        reply({ type: 'next', id: msg.id, payload: { data: { heartbeat: '2026-11-27T00:00:00Z' } } })
      }
    }
    close(code = 1000, reason = '') {
      if (this.readyState === 3) return
      this.readyState = 3
      setTimeout(() => this.onclose?.({ code, reason, wasClean: true }), 0)
    }
  }
  return { FakeSocket, sockets }
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms))

describe('graphqlWsUrl', () => {
  it('uses the page origin with ws: or wss:', () => {
    expect(graphqlWsUrl({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/graphql')
    expect(graphqlWsUrl({ protocol: 'https:', host: 'sign.example.com' })).toBe('wss://sign.example.com/graphql')
  })
})

describe('subscriptions', () => {
  it('authenticates connection_init with the bearer token and delivers data', async () => {
    const { FakeSocket, sockets } = fakeServer()
    const tokens = createTokenStore(null)
    tokens.set('tok1')
    const subs = createSubscriptions({ url: 'ws://test/graphql', tokens, webSocketImpl: FakeSocket })
    const states: ConnectionState[] = []
    subs.onState((s) => states.push(s))
    const got: string[] = []
    const stop = subs.subscribe(Heartbeat, { intervalSeconds: 30 }, { next: (d) => got.push(d.heartbeat) })
    await tick()
    expect(sockets).toHaveLength(1)
    expect(sockets[0]!.protocol).toBe('graphql-transport-ws')
    expect(sockets[0]!.sent[0]).toEqual({ type: 'connection_init', payload: { authorization: 'Bearer tok1' } })
    const sub = sockets[0]!.sent[1]!
    expect(sub.type).toBe('subscribe')
    expect(sub.payload).toMatchObject({ operationName: 'Heartbeat', variables: { intervalSeconds: 30 } })
    expect(got).toEqual(['2026-11-27T00:00:00Z'])
    expect(states).toEqual(['idle', 'connecting', 'connected'])
    stop()
    subs.dispose()
  })

  it('sends no authorization when signed out', async () => {
    const { FakeSocket, sockets } = fakeServer()
    const subs = createSubscriptions({ url: 'ws://test/graphql', tokens: createTokenStore(null), webSocketImpl: FakeSocket })
    subs.subscribe(Heartbeat, { intervalSeconds: 30 }, { next: () => {} })
    await tick()
    expect(sockets[0]!.sent[0]).toEqual({ type: 'connection_init', payload: {} })
    subs.dispose()
  })

  it('reconnects under the new identity when the token changes', async () => {
    const { FakeSocket, sockets } = fakeServer()
    const tokens = createTokenStore(null)
    tokens.set('tok1')
    const subs = createSubscriptions({ url: 'ws://test/graphql', tokens, webSocketImpl: FakeSocket })
    let completed = 0
    subs.subscribe(Heartbeat, { intervalSeconds: 30 }, { next: () => {}, complete: () => completed++ })
    await tick()
    tokens.set('tok2')
    await tick()
    expect(sockets[0]!.readyState).toBe(3)
    expect(completed).toBe(1)
    subs.subscribe(Heartbeat, { intervalSeconds: 30 }, { next: () => {} })
    await tick()
    expect(sockets).toHaveLength(2)
    expect(sockets[1]!.sent[0]).toEqual({ type: 'connection_init', payload: { authorization: 'Bearer tok2' } })
    subs.dispose()
  })

  it('reports a refused token as UNAUTHENTICATED and does not retry', async () => {
    const { FakeSocket, sockets } = fakeServer()
    const tokens = createTokenStore(null)
    tokens.set('dead')
    const subs = createSubscriptions({ url: 'ws://test/graphql', tokens, webSocketImpl: FakeSocket })
    const errors: string[] = []
    subs.subscribe(Heartbeat, { intervalSeconds: 30 }, { next: () => {}, error: (e) => errors.push(e.code) })
    await tick(100)
    expect(errors).toEqual(['UNAUTHENTICATED'])
    expect(sockets).toHaveLength(1)
    subs.dispose()
  })
})
