// Where to go after logging in: only a path of this site, never another
// origin (an open redirect would let a phishing link reuse our login page).

export function safeRedirect(target: unknown, fallback = '/'): string {
  if (typeof target !== 'string') return fallback
  if (!target.startsWith('/') || target.startsWith('//') || target.startsWith('/\\')) return fallback
  if (/[\u0000-\u001f]/.test(target)) return fallback
  return target
}
