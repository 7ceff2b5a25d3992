// 批量签署 with a UKey (DOC-4, graph/ukeysign.graphql, docs/ukey.md "Batch"):
// sendUKeyBatchIntentCode binds one 意愿认证 code to the eligible flows;
// prepareUKeyBatchSign uses it up and answers per flow — refused (with the
// reason), already signed (hosted seals only), or a pending signature with
// digests for the helper. Each flow is then signed on its own: its digests go
// to the helper one by one (the user confirms each contract and types the PIN
// in the helper's window) and completeUKeyBatchSign commits it, all or nothing
// per flow, round after round. A flow declined at the helper is cancelled and
// the others go on; any other helper failure (wrong PIN, UKey removed, helper
// gone, stopped by the user) cancels every flow not yet signed. Cancelled
// flows stay signable; what was signed before stays signed.
import { client, operation } from './client'
import { ApiError, toApiError } from './errors'
import type { BatchIntentCode } from './flows'
import { HelperError } from './ukey'
import { ukeySignApi, type UKeyDocumentSignature, type UKeySignStep } from './ukeysign'

export interface UKeyBatchSignInput {
  flowIDs: string[]
  personalSealID?: string
  enterpriseSealID?: string
  code?: string
  /** The signer's bound personal UKey certificate (SHA-256 hex), for personal fields. */
  ukeyCertificate?: string
  /** As UKeySignFlowInput's: the plugged-in token's certificates. */
  tokenCertificates?: string[]
}

/** One flow of prepareUKeyBatchSign / completeUKeyBatchSign. */
export interface UKeyBatchItem {
  flowID: string
  ok: boolean
  step: UKeySignStep | null
  error: string | null
  code: string | null
}

export interface UKeyCompletion {
  pendingID: string
  signatures: UKeyDocumentSignature[]
}

const STEP_FIELDS =
  'pendingID flowID contractName fingerprint round expiresAt done digests { documentID documentName digest certificate sealName } flow { id status }'
const ITEM_FIELDS = `flowID ok error code step { ${STEP_FIELDS} }`

export const SendUKeyBatchIntentCodeMutation = operation<{ sendUKeyBatchIntentCode: BatchIntentCode }, { input: UKeyBatchSignInput }>(
  'SendUKeyBatchIntentCode',
  `mutation SendUKeyBatchIntentCode($input: UKeyBatchSignInput!) {
  sendUKeyBatchIntentCode(input: $input) { sent maskedPhone resendAfterSeconds expiresAt fingerprint results { flowID ok error code flow { id name status } } }
}`,
)

export const PrepareUKeyBatchSignMutation = operation<{ prepareUKeyBatchSign: UKeyBatchItem[] }, { input: UKeyBatchSignInput }>(
  'PrepareUKeyBatchSign',
  `mutation PrepareUKeyBatchSign($input: UKeyBatchSignInput!) { prepareUKeyBatchSign(input: $input) { ${ITEM_FIELDS} } }`,
)

export const CompleteUKeyBatchSignMutation = operation<{ completeUKeyBatchSign: UKeyBatchItem[] }, { input: UKeyCompletion[] }>(
  'CompleteUKeyBatchSign',
  `mutation CompleteUKeyBatchSign($input: [CompleteUKeySignInput!]!) { completeUKeyBatchSign(input: $input) { ${ITEM_FIELDS} } }`,
)

export const ukeyBatchApi = {
  sendIntentCode: (input: UKeyBatchSignInput) =>
    client.request(SendUKeyBatchIntentCodeMutation, { input }).then((d) => d.sendUKeyBatchIntentCode),
  prepare: (input: UKeyBatchSignInput) => client.request(PrepareUKeyBatchSignMutation, { input }).then((d) => d.prepareUKeyBatchSign),
  complete: (input: UKeyCompletion[]) => client.request(CompleteUKeyBatchSignMutation, { input }).then((d) => d.completeUKeyBatchSign),
  cancel: ukeySignApi.cancel,
}

/** What runUKeyBatchSign needs: the API above and a helper connection (fakes in tests). */
export interface UKeyBatchDeps {
  prepare: (input: UKeyBatchSignInput) => Promise<UKeyBatchItem[]>
  complete: (input: UKeyCompletion[]) => Promise<UKeyBatchItem[]>
  cancel: (pendingID: string) => Promise<boolean>
  signDigest: (certificate: string, digest: string, contractName: string, fingerprint: string) => Promise<{ signature: string }>
  /** True once the user pressed 停止签署: the flows not yet signed are cancelled. */
  stopped?: () => boolean
}

/**
 * The outcome of one flow: signed; refused (not eligible, or the server
 * refused its signature — it stays as it was); cancelled (the helper did not
 * sign, the pending signature was cancelled and the flow stays signable).
 */
export type UKeyBatchOutcome = 'signed' | 'refused' | 'cancelled'

export interface UKeyBatchResult {
  flowID: string
  outcome: UKeyBatchOutcome
  /** Why it was not signed, in Chinese; null when signed. */
  error: string | null
  /** The server's error code or the helper's ("wrong_pin", …); null when signed. */
  code: string | null
}

/** Where the batch is: which flow (1-based of those to sign) and which digest is at the helper. */
export interface UKeyBatchProgress {
  flowID: string
  contractName: string
  flow: number
  flows: number
  document: string
  round: number
}

export interface UKeyBatchRun {
  /** One result per flow, in the order the server answered (the order asked). */
  results: UKeyBatchResult[]
  /** The helper failure that cancelled the flows after it, if any. */
  abortCode: string | null
  /** The message for that failure (for the dialog's form). */
  abortMessage: string | null
}

const WHY: Record<string, string> = {
  refused: '已在证书应用环境中取消签署',
  wrong_pin: 'UKey PIN 码错误',
  pin_locked: 'UKey PIN 码已锁定，请联系 UKey 颁发机构解锁',
  token_absent: '未检测到 UKey，请插入 UKey',
  no_certificate: 'UKey 中没有签署所需的证书，请插入已绑定的 UKey',
  timeout: '证书应用环境长时间未响应',
  closed: '与证书应用环境的连接已断开',
  not_running: '未检测到证书应用环境',
  busy: '证书应用环境正忙',
  stopped: '已停止批量签署',
}

/** helperReason is the short Chinese reason for a helper failure. */
export function helperReason(code: string, helperMessage = ''): string {
  return WHY[code] ?? (helperMessage || '证书应用环境未完成签名')
}

/** cancelledText is a cancelled flow's line in the results. */
export function cancelledText(code: string, helperMessage = ''): string {
  return `未签署（${helperReason(code, helperMessage)}），合同仍可签署`
}

/** batchAbortMessage is the dialog's message when the helper stopped the batch. */
export function batchAbortMessage(code: string, helperMessage: string, signed: number): string {
  const head = helperReason(code, helperMessage)
  if (signed > 0) return `${head}，已签署 ${signed} 份；其余合同未签署，仍可签署。`
  return `${head}，本次批量签署未完成，合同仍可签署。请重新获取验证码后再试。`
}

/** Helper failures that concern one contract only: the next one is still asked. */
const PER_FLOW = new Set(['refused'])

/**
 * runUKeyBatchSign prepares the batch (errors of prepare — a wrong code,
 * nothing eligible — are thrown: nothing was signed) and signs the flows one
 * after another through the helper, completing each as soon as its digests
 * are signed. It never throws after prepare: every flow gets a result, and
 * every pending signature that was not completed is cancelled (best effort:
 * an abandoned one expires anyway).
 */
export async function runUKeyBatchSign(
  deps: UKeyBatchDeps,
  input: UKeyBatchSignInput,
  onProgress: (p: UKeyBatchProgress) => void = () => {},
  onResult: (r: UKeyBatchResult) => void = () => {},
): Promise<UKeyBatchRun> {
  const items = await deps.prepare(input)
  const stopped = deps.stopped ?? (() => false)
  const results: UKeyBatchResult[] = []
  const settle = (r: UKeyBatchResult) => {
    results.push(r)
    onResult(r)
  }
  const cancel = (pendingID: string | null) => (pendingID ? deps.cancel(pendingID).catch(() => false) : Promise.resolve(false))
  const toSign = items.filter((it) => it.ok && it.step && !it.step.done).length
  let n = 0
  let abort: { code: string; message: string } | null = null

  for (const it of items) {
    if (!it.ok || !it.step) {
      settle({ flowID: it.flowID, outcome: 'refused', error: it.error ?? '该合同不能批量签署', code: it.code })
      continue
    }
    let step = it.step
    if (step.done) {
      settle({ flowID: it.flowID, outcome: 'signed', error: null, code: null })
      continue
    }
    n++
    if (!abort && stopped()) abort = { code: 'stopped', message: '' }
    if (abort) {
      await cancel(step.pendingID)
      settle({ flowID: it.flowID, outcome: 'cancelled', error: cancelledText(abort.code, abort.message), code: abort.code })
      continue
    }
    try {
      while (!step.done) {
        const pendingID = step.pendingID
        if (!pendingID || step.digests.length === 0) throw new ApiError('INTERNAL', '签署请求不完整，请单独签署该合同')
        const signatures: UKeyDocumentSignature[] = []
        for (const d of step.digests) {
          onProgress({ flowID: it.flowID, contractName: step.contractName, flow: n, flows: toSign, document: d.documentName, round: step.round })
          let r: { signature: string }
          try {
            r = await deps.signDigest(d.certificate, d.digest, step.contractName, step.fingerprint)
            if (!r.signature) throw new HelperError('internal', '证书应用环境没有返回签名')
          } catch (e) {
            // Stopping closes the helper's connection: that is the user's stop, not a failure.
            if (stopped()) throw new HelperError('stopped', '')
            throw e
          }
          signatures.push({ documentID: d.documentID, signature: r.signature })
        }
        const [res] = await deps.complete([{ pendingID, signatures }])
        if (!res) throw new ApiError('INTERNAL', '签署结果缺失，请查看合同状态')
        if (!res.ok || !res.step) {
          await cancel(pendingID)
          settle({ flowID: it.flowID, outcome: 'refused', error: res.error ?? '签署失败，请单独签署该合同', code: res.code })
          break
        }
        step = res.step
        if (step.done) settle({ flowID: it.flowID, outcome: 'signed', error: null, code: null })
      }
    } catch (e) {
      await cancel(step.pendingID)
      if (e instanceof HelperError) {
        settle({ flowID: it.flowID, outcome: 'cancelled', error: cancelledText(e.code, e.message), code: e.code })
        if (!PER_FLOW.has(e.code)) abort = { code: e.code, message: e.message }
      } else {
        const err = toApiError(e)
        settle({ flowID: it.flowID, outcome: 'refused', error: err.message, code: err.code })
      }
    }
  }
  const signed = results.filter((r) => r.outcome === 'signed').length
  return {
    results,
    abortCode: abort?.code ?? null,
    abortMessage: abort ? batchAbortMessage(abort.code, abort.message, signed) : null,
  }
}
