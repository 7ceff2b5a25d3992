import { describe, expect, it } from 'vitest'
import { createClient, operation } from './client'
import { ApiError } from './errors'
import { createTokenStore } from './token'

const Me = operation<{ me: { id: string } }>('Me', 'query Me { me { id } }')
const Send = operation<{ sendSMSCode: { resendAfterSeconds: number } }, { purpose: string; phone: string }>(
  'SendSMSCode',
  'mutation SendSMSCode($purpose: SMSPurpose!, $phone: String) { sendSMSCode(input: {purpose: $purpose, phone: $phone}) { resendAfterSeconds } }',
)

interface Call {
  url: string
  init: RequestInit
}

function fakeFetch(respond: (call: Call) => Response | Promise<Response>) {
  const calls: Call[] = []
  const f = (async (url: string, init: RequestInit) => {
    const call = { url, init }
    calls.push(call)
    return respond(call)
  }) as unknown as typeof fetch
  return { f, calls }
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('GraphQL client', () => {
  it('posts the operation with its name and variables, and the bearer token', async () => {
    const tokens = createTokenStore(null)
    tokens.set('tok')
    const { f, calls } = fakeFetch(() => json({ data: { sendSMSCode: { resendAfterSeconds: 60 } } }))
    const c = createClient({ fetch: f, tokens })
    const data = await c.request(Send, { purpose: 'LOGIN', phone: '13800138000' })
    expect(data.sendSMSCode.resendAfterSeconds).toBe(60)
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url).toBe('/graphql')
    expect(calls[0]!.init.method).toBe('POST')
    const headers = calls[0]!.init.headers as Record<string, string>
    expect(headers.Authorization).toBe('Bearer tok')
    expect(JSON.parse(String(calls[0]!.init.body))).toEqual({
      operationName: 'SendSMSCode',
      query: Send.document,
      variables: { purpose: 'LOGIN', phone: '13800138000' },
    })
  })

  it('sends no Authorization header without a token', async () => {
    const { f, calls } = fakeFetch(() => json({ data: { me: { id: '1' } } }))
    await createClient({ fetch: f, tokens: createTokenStore(null) }).request(Me)
    expect((calls[0]!.init.headers as Record<string, string>).Authorization).toBeUndefined()
  })

  it('throws the first error as an ApiError with its field', async () => {
    const { f } = fakeFetch(() =>
      json({ errors: [{ message: '请输入正确的11位手机号', extensions: { code: 'INVALID_ARGUMENT', field: 'phone' } }], data: null }),
    )
    const err = await createClient({ fetch: f, tokens: createTokenStore(null) })
      .request(Send, { purpose: 'LOGIN', phone: '1' })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'phone', message: '请输入正确的11位手机号' })
  })

  it('forgets a token the server refuses', async () => {
    const tokens = createTokenStore(null)
    tokens.set('dead')
    const { f } = fakeFetch(() => json({ errors: [{ message: '请先登录', extensions: { code: 'UNAUTHENTICATED' } }] }))
    await expect(createClient({ fetch: f, tokens }).request(Me)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    expect(tokens.get()).toBeNull()
  })

  it('keeps a newer token that arrived while the refused request was under way', async () => {
    const tokens = createTokenStore(null)
    tokens.set('old')
    const { f } = fakeFetch(() => {
      tokens.set('new') // a login finished meanwhile
      return json({ errors: [{ message: '请先登录', extensions: { code: 'UNAUTHENTICATED' } }] })
    })
    await expect(createClient({ fetch: f, tokens }).request(Me)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
    expect(tokens.get()).toBe('new')
  })

  it('does not drop the token for other errors', async () => {
    const tokens = createTokenStore(null)
    tokens.set('tok')
    const { f } = fakeFetch(() => json({ errors: [{ message: '无权操作', extensions: { code: 'FORBIDDEN' } }] }))
    await expect(createClient({ fetch: f, tokens }).request(Me)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(tokens.get()).toBe('tok')
  })

  it('reports a failed fetch as NETWORK', async () => {
    const { f } = fakeFetch(() => Promise.reject(new TypeError('Failed to fetch')))
    await expect(createClient({ fetch: f, tokens: createTokenStore(null) }).request(Me)).rejects.toMatchObject({
      code: 'NETWORK',
      message: '网络异常，请检查网络后重试',
    })
  })

  it('reports a gateway error page as NETWORK and other non-JSON answers as INTERNAL', async () => {
    const html = (status: number) => () => new Response('<html>bad gateway</html>', { status })
    const c502 = createClient({ fetch: fakeFetch(html(502)).f, tokens: createTokenStore(null) })
    await expect(c502.request(Me)).rejects.toMatchObject({ code: 'NETWORK', detail: 'HTTP 502' })
    const c404 = createClient({ fetch: fakeFetch(html(404)).f, tokens: createTokenStore(null) })
    await expect(c404.request(Me)).rejects.toMatchObject({ code: 'INTERNAL', message: '系统繁忙，请稍后再试' })
  })

  it('treats an answer without data or errors as INTERNAL', async () => {
    const { f } = fakeFetch(() => json({}))
    await expect(createClient({ fetch: f, tokens: createTokenStore(null) }).request(Me)).rejects.toMatchObject({ code: 'INTERNAL' })
  })
})
