// The UKey path (ACC-4, ACC-8): the GraphQL operations of graph/ukey.graphql
// and the client of the local helper (证书应用环境, signet-ukey), which the
// page reaches at ws://127.0.0.1:27787/v1/ws. The protocol is documented in
// the Go package signet/ukey. The PIN is typed in the helper's own window:
// it never passes through this page.
import { client, operation } from './client'
import type { AuthPayload, SentCode } from './operations'

const ME_FIELDS = 'id name maskedPhone hasPassword'

export type UKeyChallengePurpose = 'LOGIN' | 'BIND'

export interface CertificateChallenge {
  nonce: string
  text: string
  digest: string
  expiresAt: string
}

export interface UKeyBinding {
  id: string
  subject: string
  serial: string
  fingerprint: string
  notAfter: string
  boundAt: string
}

export interface UKeySignatureInput {
  nonce: string
  /** DER, base64 */
  certificate: string
  /** base64 */
  signature: string
}

const BINDING_FIELDS = 'id subject serial fingerprint notAfter boundAt'

export const CreateUKeyChallengeMutation = operation<
  { createUKeyChallenge: CertificateChallenge },
  { purpose: UKeyChallengePurpose }
>(
  'CreateUKeyChallenge',
  'mutation CreateUKeyChallenge($purpose: UKeyChallengePurpose!) { createUKeyChallenge(purpose: $purpose) { nonce text digest expiresAt } }',
)

export const LoginByCertificateMutation = operation<{ loginByCertificate: AuthPayload }, { input: UKeySignatureInput }>(
  'LoginByCertificate',
  `mutation LoginByCertificate($input: UKeySignatureInput!) { loginByCertificate(input: $input) { token user { ${ME_FIELDS} } } }`,
)

export const BindUKeyMutation = operation<{ bindUKey: UKeyBinding }, { input: UKeySignatureInput }>(
  'BindUKey',
  `mutation BindUKey($input: UKeySignatureInput!) { bindUKey(input: $input) { ${BINDING_FIELDS} } }`,
)

export const UKeyBindingsQuery = operation<{ ukeyBindings: UKeyBinding[] }>(
  'UKeyBindings',
  `query UKeyBindings { ukeyBindings { ${BINDING_FIELDS} } }`,
)

export const SendUKeyUnbindCodeMutation = operation<{ sendUKeyUnbindCode: SentCode }>(
  'SendUKeyUnbindCode',
  'mutation SendUKeyUnbindCode { sendUKeyUnbindCode { maskedPhone resendAfterSeconds expiresAt } }',
)

export const UnbindUKeyMutation = operation<
  { unbindUKey: boolean },
  { input: { id: string; password?: string; code?: string } }
>('UnbindUKey', 'mutation UnbindUKey($input: UnbindUKeyInput!) { unbindUKey(input: $input) }')

export const ukeyApi = {
  challenge: (purpose: UKeyChallengePurpose) =>
    client.request(CreateUKeyChallengeMutation, { purpose }).then((d) => d.createUKeyChallenge),
  login: (input: UKeySignatureInput) => client.request(LoginByCertificateMutation, { input }).then((d) => d.loginByCertificate),
  bind: (input: UKeySignatureInput) => client.request(BindUKeyMutation, { input }).then((d) => d.bindUKey),
  bindings: () => client.request(UKeyBindingsQuery).then((d) => d.ukeyBindings),
  sendUnbindCode: () => client.request(SendUKeyUnbindCodeMutation).then((d) => d.sendUKeyUnbindCode),
  unbind: (input: { id: string; password?: string; code?: string }) =>
    client.request(UnbindUKeyMutation, { input }).then((d) => d.unbindUKey),
}

// ---- the helper ----

/** The helper's fixed default address (ukey.DefaultPort, ukey.Path). */
export const DEFAULT_HELPER_URL = 'ws://127.0.0.1:27787/v1/ws'
/** localStorage keys: the pairing token the helper gave this origin; an optional helper address. */
export const PAIRING_KEY = 'signet.ukey.pairing'
export const HELPER_URL_KEY = 'signet.ukey.helperUrl'

/** A certificate on the token, as the helper lists it. */
export interface TokenCertificate {
  fingerprint: string
  keyId: string
  token: string
  label?: string
  subject: string
  issuer: string
  serial: string
  notAfter: string
  der: string
}

export interface HelperRequest {
  id?: string
  type: string
  pairingToken?: string
  code?: string
  certificate?: string
  challenge?: string
  digest?: string
  hash?: 'SHA-256'
  contractName?: string
  fingerprint?: string
}

export interface HelperReply {
  id: string
  type: string
  version?: number
  paired?: boolean
  expiresIn?: number
  pairingToken?: string
  certificates?: TokenCertificate[]
  signature?: string
  algorithm?: string
  hash?: string
  certificateDer?: string
  error?: { code: string; message: string }
}

/** HelperError is a refusal by the helper (its code and Chinese message) or a lost connection. */
export class HelperError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'HelperError'
    this.code = code
  }
}

const MESSAGE_NOT_RUNNING = '未检测到证书应用环境，请下载安装并运行后重试'

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null
  }
}

/** A connection to the helper. Requests are answered in order; each reply repeats its request's id. */
export class HelperConnection {
  private seq = 0
  private waiting = new Map<string, { resolve: (r: HelperReply) => void; reject: (e: Error) => void }>()
  paired = false

  private constructor(private ws: WebSocket) {
    ws.onmessage = (ev) => {
      let reply: HelperReply
      try {
        reply = JSON.parse(String(ev.data)) as HelperReply
      } catch {
        return
      }
      const w = this.waiting.get(reply.id)
      if (!w) return
      this.waiting.delete(reply.id)
      if (reply.type === 'error') w.reject(new HelperError(reply.error?.code ?? 'internal', reply.error?.message ?? '证书应用环境出错'))
      else w.resolve(reply)
    }
    ws.onclose = () => {
      for (const w of this.waiting.values()) w.reject(new HelperError('closed', '与证书应用环境的连接已断开，请重试'))
      this.waiting.clear()
    }
  }

  /**
   * connect opens the helper's websocket and says hello with this origin's
   * pairing token, if any. It rejects with code "not_running" when nothing
   * answers within timeoutMs.
   */
  static connect(timeoutMs = 2000, url = storage()?.getItem(HELPER_URL_KEY) || DEFAULT_HELPER_URL): Promise<HelperConnection> {
    return new Promise((resolve, reject) => {
      let ws: WebSocket
      try {
        ws = new WebSocket(url)
      } catch {
        reject(new HelperError('not_running', MESSAGE_NOT_RUNNING))
        return
      }
      const timer = setTimeout(() => {
        ws.close()
        reject(new HelperError('not_running', MESSAGE_NOT_RUNNING))
      }, timeoutMs)
      ws.onerror = () => {
        clearTimeout(timer)
        reject(new HelperError('not_running', MESSAGE_NOT_RUNNING))
      }
      ws.onopen = async () => {
        clearTimeout(timer)
        const c = new HelperConnection(ws)
        try {
          const hello = await c.request({ type: 'hello', pairingToken: storage()?.getItem(PAIRING_KEY) ?? undefined })
          c.paired = hello.paired === true
          resolve(c)
        } catch (e) {
          reject(e as Error)
        }
      }
    })
  }

  request(req: HelperRequest, timeoutMs = 5 * 60_000): Promise<HelperReply> {
    const id = `r${++this.seq}`
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) {
        reject(new HelperError('closed', '与证书应用环境的连接已断开，请重试'))
        return
      }
      const timer = setTimeout(() => {
        this.waiting.delete(id)
        reject(new HelperError('timeout', '证书应用环境没有响应，请查看其窗口'))
      }, timeoutMs)
      this.waiting.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      })
      this.ws.send(JSON.stringify({ ...req, id }))
    })
  }

  /** requestPairing has the helper show a pairing code in its window. */
  async requestPairing(): Promise<number> {
    const r = await this.request({ type: 'pair' })
    return r.expiresIn ?? 120
  }

  /** confirmPairing sends the code the user read in the helper's window and keeps the pairing token. */
  async confirmPairing(code: string): Promise<void> {
    const r = await this.request({ type: 'pair_confirm', code: code.replace(/\s+/g, '') })
    if (r.pairingToken) storage()?.setItem(PAIRING_KEY, r.pairingToken)
    this.paired = true
  }

  async certificates(): Promise<TokenCertificate[]> {
    return (await this.request({ type: 'list_certificates' })).certificates ?? []
  }

  /** signChallenge has the helper sign a server challenge (login or bind) after the user confirms and types the PIN. */
  async signChallenge(certificate: string, challenge: string): Promise<UKeySignatureInput & { algorithm: string }> {
    const r = await this.request({ type: 'sign_challenge', certificate, challenge })
    return { nonce: '', certificate: r.certificateDer ?? '', signature: r.signature ?? '', algorithm: r.algorithm ?? '' }
  }

  /**
   * signDigest has the helper sign a document digest (SHA-256 of a PAdES
   * signature's signed attributes) after showing the contract's name and
   * fingerprint: the building block of UKey contract signing.
   */
  async signDigest(certificate: string, digest: string, contractName: string, fingerprint: string) {
    const r = await this.request({ type: 'sign_digest', certificate, digest, hash: 'SHA-256', contractName, fingerprint })
    return { signature: r.signature ?? '', certificate: r.certificateDer ?? '', algorithm: r.algorithm ?? '' }
  }

  close(): void {
    this.ws.close()
  }
}

/** signedChallenge fetches a challenge for purpose and has the helper sign it with the certificate. */
export async function signedChallenge(
  helper: HelperConnection,
  purpose: UKeyChallengePurpose,
  certificate: string,
): Promise<UKeySignatureInput> {
  const ch = await ukeyApi.challenge(purpose)
  const signed = await helper.signChallenge(certificate, ch.text)
  return { nonce: ch.nonce, certificate: signed.certificate, signature: signed.signature }
}

export interface HelperBuild {
  platform: string
  url: string
  size: number
}

/** helperDownloads lists the helper builds this server offers (GET /downloads/signet-ukey). */
export async function helperDownloads(): Promise<{ builds: HelperBuild[]; message?: string }> {
  try {
    const r = await fetch('/downloads/signet-ukey')
    return (await r.json()) as { builds: HelperBuild[]; message?: string }
  } catch {
    return { builds: [], message: '无法获取证书应用环境的下载地址' }
  }
}

/** The subject's CN, for lists ("CN=王小明,SERIALNUMBER=…" → 王小明). */
export function commonName(subject: string): string {
  const m = /(?:^|,)CN=([^,]+)/.exec(subject)
  return m ? m[1] : subject
}

/** A person certificate has a serialNumber and no organisation (package pki's profile). */
export function isPersonal(subject: string): boolean {
  return /(?:^|,)SERIALNUMBER=/.test(subject) && !/(?:^|,)O=/.test(subject) && !/2\.5\.4\.97=/.test(subject)
}
