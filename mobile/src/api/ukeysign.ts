// Signing a contract with a UKey (graph/ukeysign.graphql, docs/ukey.md
// "Signing contracts with a UKey"): prepareUKeySign (the same input as
// signFlow plus the bound UKey's fingerprint) → each digest goes to the local
// helper (sign_digest, confirmed and PIN-ed in the helper's own window) →
// completeUKeySign, round after round, until the step is done. When the helper
// refuses (or is gone) the pending signature is cancelled and the flow stays
// signable.
import { client, operation } from './client'
import type { SignFlowInput } from './flows'
import { HelperError } from './ukey'

export interface UKeySignFlowInput extends SignFlowInput {
  /** The signer's bound personal UKey certificate (SHA-256 hex), for personal fields. */
  ukeyCertificate?: string
  /** The fingerprints of the certificates on the plugged-in token (as the helper listed them): the server refuses a
   * signature needing another before the code is used. */
  tokenCertificates?: string[]
}

export interface UKeyDigest {
  documentID: string
  documentName: string
  /** base64 SHA-256, handed to the helper as is */
  digest: string
  /** the certificate's fingerprint, as the helper lists it */
  certificate: string
  sealName: string | null
}

export interface UKeySignStep {
  pendingID: string | null
  flowID: string
  contractName: string
  fingerprint: string
  round: number
  expiresAt: string | null
  digests: UKeyDigest[]
  done: boolean
  flow: { id: string; status: string } | null
}

export interface UKeyDocumentSignature {
  documentID: string
  /** base64, as the helper returns it */
  signature: string
}

const STEP_FIELDS =
  'pendingID flowID contractName fingerprint round expiresAt done digests { documentID documentName digest certificate sealName } flow { id status }'

export const PrepareUKeySignMutation = operation<{ prepareUKeySign: UKeySignStep }, { input: UKeySignFlowInput }>(
  'PrepareUKeySign',
  `mutation PrepareUKeySign($input: UKeySignFlowInput!) { prepareUKeySign(input: $input) { ${STEP_FIELDS} } }`,
)

export const CompleteUKeySignMutation = operation<
  { completeUKeySign: UKeySignStep },
  { input: { pendingID: string; signatures: UKeyDocumentSignature[] } }
>(
  'CompleteUKeySign',
  `mutation CompleteUKeySign($input: CompleteUKeySignInput!) { completeUKeySign(input: $input) { ${STEP_FIELDS} } }`,
)

export const CancelUKeySignMutation = operation<{ cancelUKeySign: boolean }, { pendingID: string }>(
  'CancelUKeySign',
  'mutation CancelUKeySign($pendingID: ID!) { cancelUKeySign(pendingID: $pendingID) }',
)

export const ukeySignApi = {
  prepare: (input: UKeySignFlowInput) => client.request(PrepareUKeySignMutation, { input }).then((d) => d.prepareUKeySign),
  complete: (pendingID: string, signatures: UKeyDocumentSignature[]) =>
    client.request(CompleteUKeySignMutation, { input: { pendingID, signatures } }).then((d) => d.completeUKeySign),
  cancel: (pendingID: string) => client.request(CancelUKeySignMutation, { pendingID }).then((d) => d.cancelUKeySign),
}

/** What runUKeySign needs: the API above and a helper connection (fakes in tests). */
export interface UKeySignDeps {
  prepare: (input: UKeySignFlowInput) => Promise<UKeySignStep>
  complete: (pendingID: string, signatures: UKeyDocumentSignature[]) => Promise<UKeySignStep>
  cancel: (pendingID: string) => Promise<boolean>
  signDigest: (certificate: string, digest: string, contractName: string, fingerprint: string) => Promise<{ signature: string }>
}

/** Progress for the page: which round, which document is at the helper. */
export interface UKeySignProgress {
  round: number
  document: string
  index: number
  total: number
}

/**
 * UKeySignAborted is the helper's refusal (declined at its console, wrong
 * PIN, token removed, timeout, lost connection) after the pending signature
 * was cancelled: nothing was signed and the flow stays signable.
 */
export class UKeySignAborted extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(message)
    this.name = 'UKeySignAborted'
    this.code = code
  }
}

/** abortMessage is the page's message for a helper refusal. */
export function abortMessage(code: string, helperMessage: string): string {
  const why: Record<string, string> = {
    refused: '已在证书应用环境中取消签署',
    wrong_pin: 'UKey PIN 码错误',
    pin_locked: 'UKey PIN 码已锁定，请联系 UKey 颁发机构解锁',
    token_absent: '未检测到 UKey，请插入 UKey',
    no_certificate: 'UKey 中没有签署所需的证书，请插入对应的 UKey',
    timeout: '证书应用环境长时间未响应',
    closed: '与证书应用环境的连接已断开',
    not_running: '未检测到证书应用环境',
    busy: '证书应用环境正忙',
  }
  const head = why[code] ?? (helperMessage || '证书应用环境未完成签名')
  return `${head}，本次签署未完成，合同仍可签署。请重新获取验证码后再试。`
}

/**
 * runUKeySign prepares, has the helper sign every digest of every round and
 * completes, returning the done step. A helper error cancels the pending
 * signature (best effort) and throws UKeySignAborted; server errors are
 * passed through (an expired or outdated pending signature leaves the flow
 * signable too).
 */
export async function runUKeySign(
  deps: UKeySignDeps,
  input: UKeySignFlowInput,
  onProgress: (p: UKeySignProgress) => void = () => {},
): Promise<UKeySignStep> {
  let step = await deps.prepare(input)
  while (!step.done) {
    const pendingID = step.pendingID
    if (!pendingID || step.digests.length === 0) throw new Error('签署请求不完整，请重新签署')
    const signatures: UKeyDocumentSignature[] = []
    for (const [i, d] of step.digests.entries()) {
      onProgress({ round: step.round, document: d.documentName, index: i + 1, total: step.digests.length })
      try {
        const r = await deps.signDigest(d.certificate, d.digest, step.contractName, step.fingerprint)
        if (!r.signature) throw new HelperError('internal', '证书应用环境没有返回签名')
        signatures.push({ documentID: d.documentID, signature: r.signature })
      } catch (e) {
        await deps.cancel(pendingID).catch(() => false)
        if (e instanceof HelperError) throw new UKeySignAborted(e.code, abortMessage(e.code, e.message))
        throw e
      }
    }
    step = await deps.complete(pendingID, signatures)
  }
  return step
}

/**
 * pickBinding chooses the bound UKey to sign with: the first binding whose
 * certificate is on the plugged-in token, else the first binding.
 */
export function pickBinding<B extends { fingerprint: string }>(bindings: B[], onToken: string[]): B | null {
  const norm = (s: string) => s.toLowerCase().replace(/[^0-9a-f]/g, '')
  const present = new Set(onToken.map(norm))
  return bindings.find((b) => present.has(norm(b.fingerprint))) ?? bindings[0] ?? null
}
