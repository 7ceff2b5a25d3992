// Enterprise UKey custody in the 企业控制台 (ENT-1): how a custody record and
// the seals on it are shown, and which certificate on the plugged-in token
// the 绑定 UKey dialog offers first. The server decides the binding
// (certs.BindUKey: the platform CA's chain, validity, the enterprise's name
// and credit code, a certificate bound once; enterprises.BindUKeyCertificate:
// 一key一章 carries one seal); this only helps the administrator pick.

/** The UKey types of ENT-1. */
export type UKeyType = 'one_key_one_seal' | 'one_key_many_seals'

export const UKEY_TYPE_TEXT: Record<UKeyType, string> = { one_key_one_seal: '一key一章', one_key_many_seals: '一key多章' }

/** The fields of a console certificate (custody record) this module reads. */
export interface CustodyRecord {
  custody: string
  ukeyType?: string | null
  status: string
  fingerprint?: string | null
}

/** awaitingBinding: a UKey custody record whose certificate is not bound yet (待绑定). */
export function awaitingBinding(c: CustodyRecord): boolean {
  return c.custody === 'ukey' && c.status === 'pending'
}

/** certTitle is the title of a certificate row: 托管证书, or UKey 证书 with its type. */
export function certTitle(c: CustodyRecord): string {
  if (c.custody !== 'ukey') return '托管证书'
  const t = UKEY_TYPE_TEXT[c.ukeyType as UKeyType]
  return t ? `UKey 证书（${t}）` : 'UKey 证书'
}

/** certStatusText: a pending UKey record waits for its token (待绑定); other states as CERT_STATUS_TEXT. */
export function certStatusText(c: CustodyRecord, statusText: Record<string, string>): string {
  if (awaitingBinding(c)) return '待绑定'
  return statusText[c.status] ?? c.status
}

/** What 印章管理 says about the certificate a seal signs with. */
export interface SealCustody {
  /** 托管证书, UKey 待绑定, 已绑定 UKey, or the certificate's end. */
  text: string
  /** ukey: on a token; bound: its certificate is bound (signing needs the token). */
  ukey: boolean
  bound: boolean
}

/** sealCustody reads the seal's certificate; null when the seal has none (or it cannot be read). */
export function sealCustody(c: CustodyRecord | null | undefined): SealCustody | null {
  if (!c) return null
  if (c.custody !== 'ukey') return { text: '托管证书', ukey: false, bound: false }
  if (c.status === 'pending') return { text: 'UKey 待绑定', ukey: true, bound: false }
  if (c.status === 'active') return { text: '已绑定 UKey', ukey: true, bound: true }
  return { text: 'UKey 证书已失效', ukey: true, bound: false }
}

// ---- certificate subjects (Go's pkix.Name.String, as the helper lists them)

/**
 * parseSubject reads an RFC 4514 distinguished name as Go prints it
 * ("CN=…,O=…,C=CN,2.5.4.97=#13…"): attributes by type (upper-case short
 * name or dotted OID), values unescaped; a "#hex" value (an attribute Go
 * does not name) is decoded from its DER string.
 */
export function parseSubject(subject: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const [k, v] of subjectAttrs(subject)) out.set(k, [...(out.get(k) ?? []), v])
  return out
}

/** Names of the attributes Go prints as OIDs. */
const ATTR_NAMES: Record<string, string> = { '2.5.4.97': 'organizationIdentifier' }

/**
 * subjectText is the subject to show: the attributes in order, values
 * decoded ("…,2.5.4.97=#13184e54…" becomes "…, organizationIdentifier=NTRCN-…").
 */
export function subjectText(subject: string): string {
  return subjectAttrs(subject)
    .map(([k, v]) => `${ATTR_NAMES[k] ?? k}=${v}`)
    .join(', ')
}

/** subjectAttrs is parseSubject's list: [type, value] in the subject's order. */
function subjectAttrs(subject: string): [string, string][] {
  const out: [string, string][] = []
  const add = (type: string, value: string) => {
    out.push([type.trim().toUpperCase(), value])
  }
  let type = ''
  let value = ''
  let inValue = false
  let hex = false
  const flush = () => {
    if (type || value) add(type, hex ? derString(value) : value)
    type = ''
    value = ''
    inValue = false
    hex = false
  }
  for (let i = 0; i < subject.length; i++) {
    const ch = subject[i]
    if (!inValue) {
      if (ch === '=') {
        inValue = true
        hex = subject[i + 1] === '#'
        if (hex) i++
      } else type += ch
      continue
    }
    if (ch === '\\' && i + 1 < subject.length) {
      const pair = subject.slice(i + 1, i + 3)
      if (/^[0-9a-fA-F]{2}$/.test(pair)) {
        // \XX: one byte of UTF-8; collect the run and decode it together.
        const bytes: number[] = []
        while (subject[i] === '\\' && /^[0-9a-fA-F]{2}$/.test(subject.slice(i + 1, i + 3))) {
          bytes.push(parseInt(subject.slice(i + 1, i + 3), 16))
          i += 3
        }
        i--
        value += new TextDecoder().decode(new Uint8Array(bytes))
      } else {
        value += subject[i + 1]
        i++
      }
      continue
    }
    if (ch === ',' || ch === '+') {
      flush()
      continue
    }
    value += ch
  }
  flush()
  return out
}

/** derString decodes the hex DER of a directory string (UTF8String, PrintableString, IA5String, BMPString). */
function derString(hexText: string): string {
  if (!/^([0-9a-fA-F]{2})+$/.test(hexText)) return hexText
  const b = new Uint8Array(hexText.length / 2)
  for (let i = 0; i < b.length; i++) b[i] = parseInt(hexText.slice(2 * i, 2 * i + 2), 16)
  if (b.length < 2) return hexText
  const tag = b[0]
  let len = b[1]
  let off = 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n < 1 || n > 2 || b.length < 2 + n) return hexText
    len = 0
    for (let i = 0; i < n; i++) len = (len << 8) | b[2 + i]
    off = 2 + n
  }
  if (off + len !== b.length) return hexText
  const body = b.subarray(off)
  switch (tag) {
    case 0x0c: // UTF8String
    case 0x13: // PrintableString
    case 0x16: // IA5String
      return new TextDecoder().decode(body)
    case 0x1e: {
      // BMPString: UTF-16BE
      let s = ''
      for (let i = 0; i + 1 < body.length; i += 2) s += String.fromCharCode((body[i] << 8) | body[i + 1])
      return s
    }
    default:
      return hexText
  }
}

/** subjectName is the subject's CN (the name to show), else the whole subject. */
export function subjectName(subject: string): string {
  return parseSubject(subject).get('CN')?.[0] || subject
}

const OID_ORGANIZATION_IDENTIFIER = '2.5.4.97'

/** The enterprise a token certificate names: its CN and the credit code of "NTRCN-<code>", when it has one. */
export function subjectEnterprise(subject: string): { name: string; creditCode: string } | null {
  const s = parseSubject(subject)
  const orgID = (s.get(OID_ORGANIZATION_IDENTIFIER) ?? s.get('ORGANIZATIONIDENTIFIER') ?? [])[0] ?? ''
  const name = (s.get('CN') ?? [])[0] ?? ''
  if (!orgID && !(s.get('O') ?? []).length) return null
  return { name, creditCode: orgID.startsWith('NTRCN-') ? orgID.slice('NTRCN-'.length) : orgID }
}

// ---- the 绑定 UKey dialog's choices

/** A certificate on the token, as the helper lists it (api/ukey TokenCertificate). */
export interface TokenCert {
  fingerprint: string
  subject: string
  serial: string
  notAfter: string
  token: string
}

/** How a token certificate relates to the enterprise being bound. */
export type CertFit = 'enterprise' | 'other_enterprise' | 'personal' | 'unknown'

export const CERT_FIT_TEXT: Record<CertFit, string> = {
  enterprise: '本企业证书',
  other_enterprise: '其他企业的证书',
  personal: '个人证书',
  unknown: '其他证书',
}

export interface BindChoice<C extends TokenCert = TokenCert> {
  cert: C
  fit: CertFit
  /** Already bound to one of this enterprise's records: offered, but not selectable. */
  bound: boolean
}

const normFingerprint = (s: string) => s.toLowerCase().replace(/[^0-9a-f]/g, '')

/** certFit compares a token certificate's subject with the enterprise (name; credit code when known). */
export function certFit(subject: string, enterprise: { name: string; creditCode?: string | null }): CertFit {
  const e = subjectEnterprise(subject)
  if (e) {
    const sameName = e.name === enterprise.name
    const sameCode = !enterprise.creditCode || e.creditCode.toUpperCase() === enterprise.creditCode.toUpperCase()
    return sameName && sameCode ? 'enterprise' : 'other_enterprise'
  }
  const s = parseSubject(subject)
  if ((s.get('SERIALNUMBER') ?? []).length) return 'personal'
  return 'unknown'
}

/**
 * bindChoices lists the token's certificates for the dialog: the
 * enterprise's own first, then the rest in the helper's order; those whose
 * fingerprint is already bound to one of the enterprise's records are marked.
 */
export function bindChoices<C extends TokenCert>(
  certs: C[],
  enterprise: { name: string; creditCode?: string | null },
  boundFingerprints: (string | null | undefined)[],
): BindChoice<C>[] {
  const bound = new Set(boundFingerprints.filter((f): f is string => !!f).map(normFingerprint))
  const rank: Record<CertFit, number> = { enterprise: 0, unknown: 1, other_enterprise: 2, personal: 3 }
  return certs
    .map((cert, i) => ({ cert, fit: certFit(cert.subject, enterprise), bound: bound.has(normFingerprint(cert.fingerprint)), i }))
    .sort((a, b) => rank[a.fit] - rank[b.fit] || a.i - b.i)
    .map(({ cert, fit, bound }) => ({ cert, fit, bound }))
}

/**
 * preselect is the fingerprint to choose first: the enterprise's own
 * certificate not bound yet and not expired (the one the CA issued for this
 * enterprise), else none — the administrator picks.
 */
export function preselect(choices: BindChoice[], now = new Date()): string {
  const c = choices.find((x) => x.fit === 'enterprise' && !x.bound && !(new Date(x.cert.notAfter).getTime() <= now.getTime()))
  return c?.cert.fingerprint ?? ''
}
