// Mainland mobile numbers, mirrored from the server's accounts.NormalizePhone.

export const PHONE_MESSAGE = '请输入正确的11位手机号'

/** normalizePhone strips spaces and a +86/86 prefix; null when not a mainland mobile number. */
export function normalizePhone(input: string): string | null {
  let p = input.trim().replace(/ /g, '')
  if (p.startsWith('+86')) p = p.slice(3)
  else if (p.length === 13 && p.startsWith('86')) p = p.slice(2)
  return /^1[3-9]\d{9}$/.test(p) ? p : null
}

export function checkPhone(input: string): string | null {
  return normalizePhone(input) === null ? PHONE_MESSAGE : null
}

export const CODE_MESSAGE = '请输入6位数字验证码'

export function checkCode(input: string): string | null {
  return /^\d{6}$/.test(input.trim()) ? null : CODE_MESSAGE
}
