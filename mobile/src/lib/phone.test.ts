import { describe, expect, it } from 'vitest'
import { checkCode, checkPhone, normalizePhone, PHONE_MESSAGE } from './phone'

// The cases of accounts/password_test.go (TestNormalizePhone).
describe('normalizePhone mirrors accounts.NormalizePhone', () => {
  const cases: [string, string | null][] = [
    ['13800138000', '13800138000'],
    [' 138 0013 8000 ', '13800138000'],
    ['+8613800138000', '13800138000'],
    ['8613800138000', '13800138000'],
    ['12800138000', null],
    ['1380013800', null],
    ['abc', null],
    ['', null],
    ['19912345678', '19912345678'],
    ['138001380001', null],
  ]
  it.each(cases)('%j -> %j', (input, want) => {
    expect(normalizePhone(input)).toBe(want)
    expect(checkPhone(input)).toBe(want === null ? PHONE_MESSAGE : null)
  })
})

describe('checkCode', () => {
  it('wants six digits', () => {
    expect(checkCode('123456')).toBeNull()
    expect(checkCode(' 123456 ')).toBeNull()
    expect(checkCode('12345')).not.toBeNull()
    expect(checkCode('12345a')).not.toBeNull()
  })
})
