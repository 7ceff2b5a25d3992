import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/errors'
import { fieldFor } from './form-errors'

describe('fieldFor', () => {
  const fields = ['newPhone', 'code'] as const
  it('puts an error on the field the server named', () => {
    expect(fieldFor(new ApiError('INVALID_ARGUMENT', 'x', 'code'), fields)).toBe('code')
  })
  it('follows aliases (sendSMSCode calls the new phone "phone")', () => {
    expect(fieldFor(new ApiError('INVALID_ARGUMENT', 'x', 'phone'), fields, { phone: 'newPhone' })).toBe('newPhone')
  })
  it('leaves errors for fields the form lacks, or without a field, to the form', () => {
    expect(fieldFor(new ApiError('INVALID_ARGUMENT', 'x', 'ticket'), fields)).toBeNull()
    expect(fieldFor(new ApiError('RATE_LIMITED', 'x'), fields)).toBeNull()
  })
})
