import { describe, expect, it } from 'vitest'
import { checkPassword, checkPasswordConfirm, PASSWORD_HINT, PASSWORD_MESSAGES } from './password'

// The cases of accounts/password_test.go (TestCheckPasswordPolicy), so the
// page refuses exactly what the server refuses, with the server's words.
describe('checkPassword mirrors accounts.CheckPasswordPolicy', () => {
  const cases: [string, string | null][] = [
    ['Abc12345', null],
    ['abc!2345', null], // lower, special, digit
    ['ABC!defg', null], // upper, lower, special
    ['Abcdefg1234567!x', null], // 16 chars
    ['Abc1234', PASSWORD_MESSAGES.length], // 7 chars
    ['Abcdefg1234567!xy', PASSWORD_MESSAGES.length], // 17 chars
    ['abcdefgh', PASSWORD_MESSAGES.classes], // one class
    ['abcdefg1', PASSWORD_MESSAGES.classes], // two classes
    ['Abc 12345', PASSWORD_MESSAGES.charset], // space
    ['Abc12345密', PASSWORD_MESSAGES.charset], // non-ASCII
    ['Abc1234\t', PASSWORD_MESSAGES.charset], // control character
    ['', PASSWORD_MESSAGES.length],
    // Length counts characters, as Go counts runes: 8 CJK characters pass the
    // length check and fail on the character set, not on length.
    ['密码密码密码密码', PASSWORD_MESSAGES.charset],
    // Two emoji are 4 UTF-16 units but 2 characters: too short.
    ['😀😀', PASSWORD_MESSAGES.length],
    ['~!@#$%^&*()_+Aa', null], // every ASCII special counts
  ]
  it.each(cases)('%j -> %s', (pw, want) => {
    expect(checkPassword(pw)).toBe(want)
  })

  it('checks the confirmation', () => {
    expect(checkPasswordConfirm('Abc12345', 'Abc12345')).toBeNull()
    expect(checkPasswordConfirm('Abc12345', 'Abc12346')).toBe(PASSWORD_MESSAGES.mismatch)
  })

  it('states the policy in the words of the brief', () => {
    expect(PASSWORD_HINT).toBe('8-16位且包含大写字母、小写字母、数字、特殊字符中至少三种')
  })
})
