// End to end: signing a contract with a UKey through the signing page
// (/flows/:id/sign, components/SignFlow.vue) in Chromium with the real helper
// (bin/signet-ukey, --yes and --pin-file) and a stand-in UKey — a SoftHSM
// token whose keys pkcs11-tool makes and whose personal certificate the
// server's own CA issues (ukey/ukeytest/ukeytoken), bound to the signer. The
// page pairs with the helper, the helper signs the digest, the flow completes
// and the downloaded PDF verifies (POST /files/verify) with the UKey's
// certificate as the signer. A first attempt with a wrong PIN (the helper
// reads --pin-file for every signature) is cancelled and leaves the flow
// signable. The batch case signs several 待办 flows from the PC's 批量签署
// dialog through the same helper: a wrong PIN cancels them all (still
// signable), then they sign over two rounds where a flow has two positions,
// a flow that cannot be batch-signed keeps its reason, and the downloaded
// PDFs verify (POST /files/verify and poppler's pdfsig). Needs ../bin/signet
// (make build), ../bin/signet-ukey (make ukey), Go, and the Debian packages
// softhsm2, opensc and chromium (poppler-utils and libnss3-tools for pdfsig).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort, gql, launchBrowser, openPage, outboxCount, randomPhone, registerAccount, shot, sleep, waitFor, waitForCode, waitText } from './harness.mjs'
import { idNumber } from './identity.mjs'
import { makePdf } from './pdf.mjs'
import { pdfsigCheck } from './pdfsig.mjs'
import { personalUKey, requireUKeyBinaries, startHelper, startSignet } from './ukeysetup.mjs'

const PASSWORD = 'Signet#2026'
const NAME = '李四海'
const ID_NUMBER = idNumber(457, '110101', '19900315')

/** pairingCode waits for the helper to print a pairing code after `seen` earlier ones. */
async function pairingCode(seen) {
  const m = await waitFor('pairing code', () => {
    const all = [...helper.out.matchAll(/配对码：(\d{3}) (\d{3})/g)]
    return all.length > seen ? all[all.length - 1] : null
  })
  return m[1] + m[2]
}
const pairingCount = () => [...helper.out.matchAll(/配对码：/g)].length

let server // { base, data, stop }
let helper // spawnLogged state
let browser
let tmp

before(async () => {
  requireUKeyBinaries()
  tmp = mkdtempSync(join(tmpdir(), 'signet-ukeysign-e2e-'))
  server = await startSignet('ukeysign-server', join(tmp, 'data'))
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await helper?.stop()
  await server?.stop()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

/** register creates an account through the API. */
const register = async (phone) => (await registerAccount(server.base, phone, PASSWORD)).token

/** uploadPdf adds a document to a draft flow (POST /files/flows/{id}/documents). */
async function uploadPdf(token, flowID, name) {
  const form = new FormData()
  form.append('name', name)
  form.append('file', new Blob([makePdf(2)], { type: 'application/pdf' }), `${name}.pdf`)
  const r = await fetch(`${server.base}/files/flows/${flowID}/documents`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form })
  assert.equal(r.status, 201, await r.clone().text())
  return (await r.json()).id
}

/**
 * ukeySigner (once per run) registers the signer with a verified real name,
 * makes the stand-in UKey, starts the helper with --yes and --pin-file, and
 * binds the UKey (ACC-8, tested by ukey.test.mjs) from the server's origin
 * with a pairing of its own that no page keeps: the pages pair on their own.
 */
let signerSetup = null
function ukeySigner() {
  signerSetup ??= setUpSigner()
  return signerSetup
}

async function setUpSigner() {
  const { base } = server
  const initiator = await register(randomPhone())
  const phone = randomPhone()
  const token = await register(phone)
  const { startRealNameVerification: v } = await gql(base,
    'mutation($in: StartRealNameInput!) { startRealNameVerification(input: $in) { id } }',
    { in: { name: NAME, idNumber: ID_NUMBER, phone } }, token)
  await gql(base, 'mutation($id: ID!) { verifyRealNameByCarrier(id: $id) { status } }', { id: v.id }, token)

  // The signer's UKey: keys by pkcs11-tool, a personal certificate from this server's CA.
  const ukey = personalUKey(server, join(tmp, 'ukey'), NAME, ID_NUMBER)
  const pinFile = join(tmp, 'pin')
  writeFileSync(pinFile, ukey.pin)
  const helperPort = await freePort()
  const helperUrl = `ws://127.0.0.1:${helperPort}/v1/ws`
  helper = await startHelper('ukeysign-helper', { port: helperPort, origin: base, module: ukey.module, conf: ukey.conf, pinFile })

  const { context, page, errors } = await newPcPage({ helperUrl, token })
  // Bind from the page's origin with a pairing the page does not keep.
  await page.goto(`${base}/tasks`)
  const seen = pairingCount()
  await page.evaluate(async (url) => {
    const ws = new WebSocket(url)
    const replies = []
    ws.onmessage = (e) => replies.push(JSON.parse(e.data))
    await new Promise((r) => (ws.onopen = r))
    window.__ask = async (req) => {
      ws.send(JSON.stringify(req))
      while (!replies.some((x) => x.id === req.id)) await new Promise((r) => setTimeout(r, 50))
      return replies.find((x) => x.id === req.id)
    }
    window.__ws = ws
    await window.__ask({ id: 'h', type: 'hello' })
    await window.__ask({ id: 'p', type: 'pair' })
  }, helperUrl)
  const bindCode = await pairingCode(seen)
  const bound = await page.evaluate(async (code) => {
    const api = async (query, variables) => {
      const r = await fetch('/graphql', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${localStorage.getItem('signet.token')}` },
        body: JSON.stringify({ query, variables }) })
      const b = await r.json()
      if (b.errors) throw new Error(b.errors[0].message)
      return b.data
    }
    const paired = await window.__ask({ id: 'c', type: 'pair_confirm', code })
    if (paired.type !== 'paired') throw new Error(JSON.stringify(paired))
    const list = await window.__ask({ id: 'l', type: 'list_certificates' })
    const fingerprint = list.certificates[0].fingerprint
    const ch = (await api('mutation { createUKeyChallenge(purpose: BIND) { nonce text } }')).createUKeyChallenge
    const sig = await window.__ask({ id: 's', type: 'sign_challenge', certificate: fingerprint, challenge: ch.text })
    window.__ws.close()
    if (sig.type !== 'signature') throw new Error(JSON.stringify(sig))
    return (await api('mutation($in: UKeySignatureInput!) { bindUKey(input: $in) { serial fingerprint } }',
      { in: { nonce: ch.nonce, certificate: sig.certificateDer, signature: sig.signature } })).bindUKey
  }, bindCode)
  assert.equal(bound.serial, ukey.serial)
  // That pairing was not kept for the page: the signing page pairs on its own.
  assert.equal(await page.evaluate(() => localStorage.getItem('signet.ukey.pairing')), null)
  assert.deepEqual(errors().filter((e) => !e.includes('ERR_CONNECTION_REFUSED') && !e.includes('WebSocket')), [])
  await context.close()
  return { initiator, phone, token, ukey, pinFile, helperUrl }
}

/** newPcPage opens a 1440×900 page signed in as the signer, with the helper's address set. */
async function newPcPage(s) {
  const { context, page, consoleErrors } = await openPage(browser, { viewport: { width: 1440, height: 900 } }, { token: s.token, helperUrl: s.helperUrl })
  return { context, page, errors: consoleErrors }
}

/** trackOperations records the GraphQL operations a page sends. */
function trackOperations(page) {
  const operations = []
  page.on('request', (r) => {
    const m = /"operationName":"(\w+)"/.exec(r.postData() ?? '') ?? /"query":"(?:mutation|query) (\w+)/.exec(r.postData() ?? '')
    if (r.url().endsWith('/graphql') && m) operations.push(m[1])
  })
  return operations
}

/** pairInPage pairs the page's UKeyHelperPanel (inside `within`) with the helper. */
async function pairInPage(within) {
  // One pairing request per 3 s for the whole helper.
  await sleep(3_200)
  const seen = pairingCount()
  await within.getByTestId('ukey-pair').click()
  const code = await pairingCode(seen)
  await within.getByTestId('ukey-pair-code').locator('input').fill(code)
  await within.getByTestId('ukey-pair-confirm').click()
  await within.getByTestId('ukey-ready').waitFor()
}

/** sendFlowTo drafts a flow from the initiator to the signer with `fields` on one 2-page document and sends it. */
async function sendFlowTo(s, name, fields) {
  const { base } = server
  const { createFlow } = await gql(base, 'mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }', { in: { name } }, s.initiator)
  const docID = await uploadPdf(s.initiator, createFlow.id, name)
  await gql(base, 'mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }', {
    id: createFlow.id, in: {
      name,
      participants: [{ key: 'b', name: NAME, phone: s.phone, order: 1 }],
      fields: fields.map((f) => ({ documentID: String(docID), participantKey: 'b', kind: 'personal_seal', width: 120, height: 60, ...f })),
    },
  }, s.initiator)
  await gql(base, 'mutation($id: ID!) { sendFlow(id: $id) { status } }', { id: createFlow.id }, s.initiator)
  return { fid: createFlow.id, docID }
}

const flowStatus = async (s, id) =>
  (await gql(server.base, 'query($id: ID!) { node(id: $id) { ... on Flow { status } } }', { id }, s.token)).node.status

/** verifySigned checks a signed document: /files/verify (valid, a signature by the UKey) and pdfsig (`want` valid signatures). */
async function verifySigned(s, docID, want) {
  const { base } = server
  const pdf = await fetch(`${base}/files/documents/${docID}`, { headers: { Authorization: `Bearer ${s.token}` } })
  assert.equal(pdf.status, 200)
  const bytes = Buffer.from(await pdf.arrayBuffer())
  const form = new FormData()
  form.append('file', new Blob([bytes], { type: 'application/pdf' }), 'signed.pdf')
  const res = await (await fetch(`${base}/files/verify`, { method: 'POST', headers: { Authorization: `Bearer ${s.token}` }, body: form })).json()
  assert.equal(res.platform, true, JSON.stringify(res))
  assert.equal(res.report.verdict, 'valid', JSON.stringify(res.report))
  const hex = (v) => String(v).toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+/, '')
  const byUKey = res.report.signatures.filter((x) => x.signer && hex(x.signer.serial) === hex(s.ukey.serial))
  assert.equal(byUKey.length, want, `signatures by the UKey's certificate ${s.ukey.serial}: ${JSON.stringify(res.report.signatures.map((x) => x.signer?.serial))}`)
  const poppler = await pdfsigCheck(base, bytes)
  if (poppler === null) {
    console.log('# pdfsig or certutil not installed: poppler check skipped')
  } else {
    assert.equal(poppler.valid, want, poppler.out)
    assert.equal(poppler.digestMismatch, false, poppler.out)
  }
  return bytes
}

describe('UKey signing on the signing page', () => {
  it('pairs with the helper, signs with the bound UKey, and the PDF verifies', async () => {
    const s = await ukeySigner()
    const { base } = server
    const { phone, token, ukey, pinFile } = s
    // A flow for the signer: one document, one personal seal position.
    const { fid, docID } = await sendFlowTo(s, 'UKey租赁合同', [{ page: 2, x: 100, y: 100 }])
    const { context, page, errors } = await newPcPage(s)
    const operations = trackOperations(page)

    // The signing page: 一键盖章 → 确认签署 → 提交签署 → 意愿认证 with the UKey.
    await page.goto(`${base}/flows/${fid}/sign`)
    await page.locator('[data-page="1"][data-state="drawn"]').waitFor({ timeout: 20_000 })
    await page.getByTestId('one-click').click()
    await page.getByTestId('confirm-sign').click()
    const n = await outboxCount(base, phone)
    await page.getByTestId('submit-sign').click()
    const code = await waitForCode(base, phone, n)
    const intent = page.getByTestId('intent')
    await intent.getByTestId('use-ukey').click()

    // Not paired on this page yet: the code appears in the helper's window.
    await pairInPage(intent)
    await shot(page, 'ukeysign-01-ready')

    // A wrong PIN at the helper: the page cancels the pending signature
    // (cancelUKeySign), says so, and the flow stays signable.
    writeFileSync(pinFile, '99999999')
    await intent.locator('input[name=code]').fill(code)
    await intent.getByTestId('confirm-intent').click()
    await waitText(intent.locator('.sg-form-error'), 'UKey PIN 码错误')
    await waitText(intent.locator('.sg-form-error'), '合同仍可签署')
    await waitFor('cancelUKeySign', () => operations.includes('CancelUKeySign'))
    assert.ok(operations.includes('PrepareUKeySign') && !operations.includes('CompleteUKeySign'), operations.join(' '))
    await shot(page, 'ukeysign-02-wrong-pin')
    assert.notEqual(await flowStatus(s, fid), 'completed')

    // The right PIN and a new code (the first one was used up by prepare).
    writeFileSync(pinFile, ukey.pin)
    const sendCode = intent.getByTestId('send-code')
    await waitFor('获取验证码 again', async () => await sendCode.isEnabled(), 75_000)
    const n2 = await outboxCount(base, phone)
    await sendCode.click()
    const code2 = await waitForCode(base, phone, n2)
    await intent.locator('input[name=code]').fill(code2)
    await intent.getByTestId('confirm-intent').click()
    await page.waitForURL((u) => u.pathname === `/flows/${fid}`, { timeout: 30_000 })
    await shot(page, 'ukeysign-03-signed')

    // The helper showed the contract and its fingerprint at its console.
    assert.match(helper.out, /合同：UKey租赁合同/)
    assert.ok(operations.includes('CompleteUKeySign'), operations.join(' '))
    assert.equal(await flowStatus(s, fid), 'completed')

    // The downloaded PDF verifies, signed by the UKey's certificate.
    await verifySigned(s, docID, 1)

    assert.ok(!helper.out.includes(ukey.pin), 'the PIN was printed by the helper')
    assert.deepEqual(errors().filter((e) => !e.includes('ERR_CONNECTION_REFUSED') && !e.includes('WebSocket')), [])
    await context.close()
  })
})

describe('UKey in the PC 批量签署 dialog', () => {
  it('signs several 待办 through the helper; a wrong PIN leaves them signable; an ineligible flow keeps its reason', { timeout: 240_000 }, async () => {
    const s = await ukeySigner()
    const { base } = server
    const { phone, ukey, pinFile } = s
    // Two flows the initiator positioned (the first with two positions on
    // one document: two rounds at the helper) and one where the signer must
    // place the seal, which cannot be batch-signed.
    const a = await sendFlowTo(s, 'UKey采购合同', [{ page: 1, x: 100, y: 100 }, { page: 2, x: 300, y: 120 }])
    const b = await sendFlowTo(s, 'UKey服务合同', [{ page: 2, x: 100, y: 100 }])
    const c = await sendFlowTo(s, 'UKey自行盖章合同', [])
    writeFileSync(pinFile, ukey.pin)

    const { context, page, errors } = await newPcPage(s)
    const operations = trackOperations(page)
    await page.goto(`${base}/tasks`)
    await waitText(page.getByTestId('list-todo'), '待办3')
    await waitText(page.getByTestId('pager'), '共 3 条')
    await page.locator('.batch .van-checkbox').click()
    await page.getByTestId('batch-sign-open').click()
    const dialog = page.getByTestId('batch-sign')
    await dialog.waitFor()

    // 使用 UKey 签署: the dialog finds the helper and pairs with it.
    await dialog.getByTestId('use-ukey').click()
    await pairInPage(dialog)
    await waitText(dialog.getByTestId('batch-confirm'), '使用 UKey 签署')

    // One code for the eligible two (sendUKeyBatchIntentCode); the third says why not.
    const n = await outboxCount(base, phone)
    await dialog.getByTestId('send-code').click()
    const code = await waitForCode(base, phone, n)
    assert.ok(operations.includes('SendUKeyBatchIntentCode'), operations.join(' '))
    await waitText(dialog.getByTestId('batch-check'), 'UKey自行盖章合同：需要自行放置印章的合同不能批量签署')
    await shot(page, 'ukeysign-batch-01-ready')

    // A wrong PIN: the first contract fails at the helper, nothing is
    // completed, every pending signature is cancelled and the flows stay signable.
    writeFileSync(pinFile, '99999999')
    await dialog.locator('input[name=code]').fill(code)
    await dialog.getByTestId('batch-confirm').click()
    const error = dialog.getByTestId('batch-error')
    await waitText(error, 'UKey PIN 码错误')
    await waitText(error, '合同仍可签署')
    await waitText(dialog.getByTestId('batch-check'), 'UKey服务合同：未签署（UKey PIN 码错误），合同仍可签署')
    assert.equal(operations.filter((o) => o === 'CancelUKeySign').length, 2, operations.join(' '))
    assert.ok(operations.includes('PrepareUKeyBatchSign') && !operations.includes('CompleteUKeyBatchSign'), operations.join(' '))
    await shot(page, 'ukeysign-batch-02-wrong-pin')
    for (const f of [a, b]) assert.equal(await flowStatus(s, f.fid), 'signing')

    // The right PIN and a new code: both sign, the third keeps its reason.
    writeFileSync(pinFile, ukey.pin)
    const sendCode = dialog.getByTestId('send-code')
    await waitFor('获取验证码 again', async () => await sendCode.isEnabled(), 75_000)
    const n2 = await outboxCount(base, phone)
    await sendCode.click()
    const code2 = await waitForCode(base, phone, n2)
    await dialog.locator('input[name=code]').fill(code2)
    await dialog.getByTestId('batch-confirm').click()
    const results = dialog.getByTestId('batch-results')
    await waitText(results, 'UKey采购合同：已签署', 60_000)
    await waitText(results, 'UKey服务合同：已签署')
    await waitText(results, 'UKey自行盖章合同：需要自行放置印章的合同不能批量签署')
    await shot(page, 'ukeysign-batch-03-results')
    // Three helper confirmations: two rounds for the first contract, one for the second.
    assert.equal(operations.filter((o) => o === 'CompleteUKeyBatchSign').length, 3, operations.join(' '))
    assert.match(helper.out, /合同：UKey采购合同/)
    assert.match(helper.out, /合同：UKey服务合同/)
    await dialog.getByRole('button', { name: '完成' }).click()
    await waitText(page.getByTestId('pager'), '共 1 条')

    assert.equal(await flowStatus(s, a.fid), 'completed')
    assert.equal(await flowStatus(s, b.fid), 'completed')
    assert.equal(await flowStatus(s, c.fid), 'signing')
    await verifySigned(s, a.docID, 2)
    await verifySigned(s, b.docID, 1)

    assert.ok(!helper.out.includes(ukey.pin), 'the PIN was printed by the helper')
    assert.deepEqual(errors().filter((e) => !e.includes('ERR_CONNECTION_REFUSED') && !e.includes('WebSocket')), [])
    await context.close()
  })
})
