import { describe, expect, it } from 'vitest'
import { ApiError, fromGraphQLErrors, MESSAGE_INTERNAL, MESSAGE_NETWORK, MESSAGE_UNAUTHENTICATED, toApiError } from './errors'

describe('fromGraphQLErrors', () => {
  it('keeps the code, the field and the Chinese message as the server sent them', () => {
    const e = fromGraphQLErrors([
      { message: '验证码错误，还可尝试4次', path: ['register'], extensions: { code: 'INVALID_ARGUMENT', field: 'code' } },
      { message: 'second', extensions: { code: 'INTERNAL' } },
    ])
    expect(e).toBeInstanceOf(ApiError)
    expect(e).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'code', message: '验证码错误，还可尝试4次' })
  })

  it.each(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT', 'RATE_LIMITED', 'INTERNAL'] as const)(
    'maps %s without a field',
    (code) => {
      const e = fromGraphQLErrors([{ message: '消息', extensions: { code } }])
      expect(e.code).toBe(code)
      expect(e.field).toBeUndefined()
      expect(e.message).toBe('消息')
    },
  )

  it('hides gqlgen\'s own English errors (client bugs) behind the generic message', () => {
    const e = fromGraphQLErrors([
      { message: 'Cannot query field "nope" on type "Query".', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } },
    ])
    expect(e.code).toBe('INTERNAL')
    expect(e.message).toBe(MESSAGE_INTERNAL)
    expect(e.detail).toContain('GRAPHQL_VALIDATION_FAILED')
  })

  it('copes with missing extensions, empty messages and empty lists', () => {
    expect(fromGraphQLErrors([{ message: 'x' }]).code).toBe('INTERNAL')
    expect(fromGraphQLErrors([{ message: '', extensions: { code: 'UNAUTHENTICATED' } }]).message).toBe(MESSAGE_UNAUTHENTICATED)
    expect(fromGraphQLErrors([{ extensions: { code: 'CONFLICT', field: '' } }])).toMatchObject({
      code: 'CONFLICT',
      field: undefined,
      message: MESSAGE_INTERNAL,
    })
    expect(fromGraphQLErrors([]).code).toBe('INTERNAL')
  })

  it('does not let the server claim the client-only NETWORK code', () => {
    expect(fromGraphQLErrors([{ message: 'x', extensions: { code: 'NETWORK' } }]).code).toBe('INTERNAL')
  })
})

describe('toApiError', () => {
  it('passes an ApiError through', () => {
    const e = new ApiError('CONFLICT', '该手机号已注册，请直接登录')
    expect(toApiError(e)).toBe(e)
  })
  it('maps graphql-ws error arrays', () => {
    expect(toApiError([{ message: '心跳间隔须在1到3600秒之间', extensions: { code: 'INVALID_ARGUMENT', field: 'intervalSeconds' } }]))
      .toMatchObject({ code: 'INVALID_ARGUMENT', field: 'intervalSeconds' })
  })
  it('maps a refused connection_init (4403) to UNAUTHENTICATED and other closes to NETWORK', () => {
    expect(toApiError({ code: 4403, reason: 'Forbidden', wasClean: true }).code).toBe('UNAUTHENTICATED')
    const lost = toApiError({ code: 1006, reason: '', wasClean: false })
    expect(lost.code).toBe('NETWORK')
    expect(lost.message).toBe(MESSAGE_NETWORK)
  })
  it('maps anything thrown by fetch to NETWORK', () => {
    expect(toApiError(new TypeError('Failed to fetch'))).toMatchObject({ code: 'NETWORK', message: MESSAGE_NETWORK, detail: 'Failed to fetch' })
    expect(toApiError('boom').code).toBe('NETWORK')
  })
})
