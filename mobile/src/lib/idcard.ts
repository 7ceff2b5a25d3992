// Mainland resident ID numbers (居民身份证号, GB 11643): a mirror of the
// server's check, so a typo is caught before the request.

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
const CHECK = '10X98765432'

/** idCheckChar is the 18th character that the first 17 digits call for. */
export function idCheckChar(first17: string): string {
  let sum = 0
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]!
  return CHECK[sum % 11]!
}

/** normalizeIdNumber trims and upper-cases a trailing x. */
export function normalizeIdNumber(raw: string): string {
  return raw.trim().toUpperCase()
}

/** checkIdNumber returns a message for an invalid ID number, or null. */
export function checkIdNumber(raw: string): string | null {
  const id = normalizeIdNumber(raw)
  if (id === '') return '请输入身份证号'
  if (id.length !== 18) return '身份证号应为18位'
  if (!/^\d{17}[\dX]$/.test(id)) return '身份证号格式不正确'
  const y = Number(id.slice(6, 10))
  const m = Number(id.slice(10, 12))
  const d = Number(id.slice(12, 14))
  const birth = new Date(Date.UTC(y, m - 1, d))
  if (y < 1900 || birth.getUTCMonth() !== m - 1 || birth.getUTCDate() !== d || birth.getTime() > Date.now()) {
    return '身份证号中的出生日期不正确'
  }
  if (idCheckChar(id) !== id[17]) return '身份证号校验位不正确，请核对后重新填写'
  return null
}

/** checkRealName returns a message for an implausible name, or null. */
export function checkRealName(raw: string): string | null {
  const name = raw.trim()
  if (name === '') return '请输入姓名'
  if (name.length > 30) return '姓名不能超过30个字'
  return null
}
