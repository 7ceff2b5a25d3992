// The password policy (PRODUCT.md ACC-1), mirrored from the server's
// accounts.CheckPasswordPolicy so people see the problem before sending.
// The server still decides; the messages are the server's own.

export const PASSWORD_HINT = '8-16位且包含大写字母、小写字母、数字、特殊字符中至少三种'

export const PASSWORD_MESSAGES = {
  length: '密码长度须为8-16位',
  charset: '密码只能包含大小写字母、数字和英文特殊字符，不能包含空格',
  classes: '密码须包含大写字母、小写字母、数字、特殊字符中的至少三种',
  mismatch: '两次输入的密码不一致',
} as const

/** Which character classes a password uses. */
export function passwordClasses(password: string): { upper: boolean; lower: boolean; digit: boolean; special: boolean } {
  const c = { upper: false, lower: false, digit: false, special: false }
  for (const ch of password) {
    if (ch >= 'A' && ch <= 'Z') c.upper = true
    else if (ch >= 'a' && ch <= 'z') c.lower = true
    else if (ch >= '0' && ch <= '9') c.digit = true
    else c.special = true
  }
  return c
}

/**
 * checkPassword returns the message for a password that breaks the policy,
 * or null. Order and wording follow the server: length first (counted in
 * characters, not UTF-16 units), then allowed characters (printable ASCII
 * without space), then at least three classes.
 */
export function checkPassword(password: string): string | null {
  const chars = Array.from(password)
  if (chars.length < 8 || chars.length > 16) return PASSWORD_MESSAGES.length
  for (const ch of chars) {
    const code = ch.codePointAt(0) ?? 0
    if (code < 0x21 || code > 0x7e) return PASSWORD_MESSAGES.charset
  }
  const c = passwordClasses(password)
  const n = Number(c.upper) + Number(c.lower) + Number(c.digit) + Number(c.special)
  if (n < 3) return PASSWORD_MESSAGES.classes
  return null
}

/** checkPasswordConfirm returns the mismatch message, or null. */
export function checkPasswordConfirm(password: string, confirm: string): string | null {
  return password === confirm ? null : PASSWORD_MESSAGES.mismatch
}
