// Short Chinese descriptions of login sessions for 登录设备.
import type { SessionMethod } from '../api/operations'

export const METHOD_LABELS: Record<SessionMethod, string> = {
  sms: '验证码登录',
  password: '密码登录',
  certificate: '证书登录',
}

/** describeDevice names the browser and system of a User-Agent, e.g. "Chrome · Windows". */
export function describeDevice(ua: string | null | undefined): string {
  if (!ua) return '未知设备'
  const os =
    /iPhone/.test(ua) ? 'iPhone'
    : /iPad/.test(ua) ? 'iPad'
    : /HarmonyOS/i.test(ua) ? '鸿蒙'
    : /Android/.test(ua) ? 'Android'
    : /Windows/.test(ua) ? 'Windows'
    : /Mac OS X|Macintosh/.test(ua) ? 'Mac'
    : /Linux/.test(ua) ? 'Linux'
    : ''
  const browser =
    /MicroMessenger/i.test(ua) ? '微信'
    : /DingTalk/i.test(ua) ? '钉钉'
    : /AlipayClient/i.test(ua) ? '支付宝'
    : /Edg\//.test(ua) ? 'Edge'
    : /HeadlessChrome/.test(ua) ? 'Chrome'
    : /Chrome\/|CriOS/.test(ua) ? 'Chrome'
    : /Firefox\//.test(ua) ? 'Firefox'
    : /Safari\//.test(ua) ? 'Safari'
    : /^curl\//.test(ua) ? 'curl'
    : ''
  const parts = [browser, os].filter((s) => s !== '')
  return parts.length > 0 ? parts.join(' · ') : '未知设备'
}

/** formatTime shows a timestamp as 2026-11-27 14:05 in the viewer's time zone. */
export function formatTime(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`
}
