// End to end: 批量签署 for an enterprise from the PC (DOC-4 with an
// enterprise seal): an enterprise certified through the certification
// order's API with the sandbox providers (as enterprise.test.mjs does in the
// pages), its administrator and a member with a seal grant as 经办人, and
// contracts sent to the enterprise party. The administrator batch-signs two
// 待办 with the 合同专用章 picked in the dialog (hosted certificate): one
// completes, the other moves to the next party, and the downloaded PDFs
// verify (POST /files/verify and poppler's pdfsig). A member whose grant is
// limited to the HR scene gets one contract signed and the other refused with
// the server's reason, per flow; a member without any grant is told the space
// has no seal of the enterprise. Needs ../bin/signet (make build).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { deflateSync } from 'node:zlib'
import { gql, launchBrowser, outboxCount, randomPhone, shot, startServer, waitForCode, watchConsole } from './harness.mjs'
import { makePdf } from './pdf.mjs'
import { pdfsigCheck } from './pdfsig.mjs'

process.env.SIGNET_SANDBOX_CA_DELAY = '1s'
const PASSWORD = 'Passw0rd!x'
const ENTERPRISE = `华东人力科技有限公司${Date.now() % 10000}`

let server
let browser
before(async () => {
  server = await startServer()
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
  await server?.stop()
})

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function waitText(locator, want, timeout = 15_000) {
  const deadline = Date.now() + timeout
  let last = ''
  for (;;) {
    try {
      last = (await locator.first().innerText({ timeout: 1_000 })).trim()
      if (typeof want === 'string' ? last.includes(want) : want.test(last)) return last
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`e2e: timed out waiting for ${want} (last: ${JSON.stringify(last)})`)
    await sleep(100)
  }
}

async function register(phone) {
  const { base } = server
  const n = await outboxCount(base, phone)
  await gql(base, 'mutation($p: String) { sendSMSCode(input: { purpose: REGISTER, phone: $p }) { maskedPhone } }', { p: phone })
  const code = await waitForCode(base, phone, n)
  const { agreements } = await gql(base, '{ agreements { document version } }')
  const v = (k) => agreements.find((a) => a.document === k).version
  const d = await gql(base, 'mutation($in: RegisterInput!) { register(input: $in) { token user { id } } }', {
    in: { phone, password: PASSWORD, passwordConfirm: PASSWORD, code, serviceAgreementVersion: v('service_agreement'), privacyStatementVersion: v('privacy_statement') },
  })
  return { phone, token: d.register.token, id: d.register.user.id }
}

function idNumber(seq) {
  const body = '110101' + '19900101' + String(seq).padStart(3, '0')
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  const sum = [...body].reduce((n, c, i) => n + Number(c) * w[i], 0)
  return body + '10X98765432'[sum % 11]
}

/** A credit code with a correct GB 32100 check character. */
function creditCode(n) {
  const cs = '0123456789ABCDEFGHJKLMNPQRTUWXY'
  const w = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
  const body = ('91310000' + String(n).padStart(9, '0')).slice(0, 17)
  let s = 0
  for (let i = 0; i < 17; i++) s += cs.indexOf(body[i]) * w[i]
  return body + cs[(31 - (s % 31)) % 31]
}

/** A 400×400 PNG (certification documents need at least 300 pixels). */
function png() {
  const crc = (buf) => {
    let c = ~0
    for (const b of buf) {
      c ^= b
      for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1))
    }
    return ~c >>> 0
  }
  const chunk = (type, data) => {
    const t = Buffer.concat([Buffer.from(type), data])
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const c = Buffer.alloc(4)
    c.writeUInt32BE(crc(t))
    return Buffer.concat([len, t, c])
  }
  const w = 400
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(w, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, 0xc8)])
  const raw = Buffer.concat(Array.from({ length: w }, () => row))
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/**
 * certify runs the certification order through the API (the pages are
 * tested by enterprise.test.mjs): the legal representative's code, the
 * documents, the applicant's confirmation, the payment sandbox, the
 * sandbox CA's review. The applicant becomes the enterprise's administrator.
 */
async function certify(admin, name) {
  const { base } = server
  const q = (query, variables) => gql(base, query, variables, admin.token)
  const { startEnterpriseCertification: order } = await q('mutation($in: StartCertificationInput!) { startEnterpriseCertification(input: $in) { id } }', {
    in: { name, creditCode: creditCode(Date.now() % 1e9), address: '上海市浦东新区世纪大道1号', legalRepName: '张三', legalRepIdNumber: idNumber(11) },
  })
  const id = order.id
  const legalPhone = randomPhone()
  await q('mutation($id: ID!, $in: CertApplicationInput!) { saveCertApplication(orderId: $id, input: $in) { step } }', {
    id, in: { method: 'legal_rep_phone', applicantName: '李经办', applicantIdNumber: idNumber(12), applicantPhone: admin.phone, legalRepPhone: legalPhone, agreementAccepted: true },
  })
  const n = await outboxCount(base, legalPhone)
  await q('mutation($id: ID!) { confirmCertOrder(orderId: $id) { step } }', { id })
  await q('mutation($id: ID!, $c: String!) { verifyCertAuthorization(orderId: $id, code: $c) { step } }', { id, c: await waitForCode(base, legalPhone, n) })
  for (const kind of ['authorization_letter', 'business_license', 'applicant_id_front', 'applicant_id_back']) {
    const form = new FormData()
    form.append('file', new Blob([png()], { type: 'image/png' }), `${kind}.png`)
    const r = await fetch(`${base}/files/enterprise-orders/${id}/documents/${kind}`, { method: 'POST', headers: { Authorization: `Bearer ${admin.token}` }, body: form })
    assert.equal(r.status, 201, await r.text())
  }
  await q('mutation($id: ID!) { submitCertDocuments(orderId: $id) { step } }', { id })
  const n2 = await outboxCount(base, admin.phone)
  await q('mutation($id: ID!) { sendCertConfirmationCode(orderId: $id) { maskedPhone } }', { id })
  await q('mutation($id: ID!, $c: String!) { confirmCertApplication(orderId: $id, code: $c, agreementAccepted: true) { step } }', {
    id, c: await waitForCode(base, admin.phone, n2),
  })
  const { payCertOrder } = await q('mutation($id: ID!) { payCertOrder(orderId: $id, channel: alipay) { paymentQr } }', { id })
  const pay = await fetch(base + payCertOrder.paymentQr.slice(payCertOrder.paymentQr.indexOf('/sandbox/')) + '?outcome=pay')
  assert.equal(pay.status, 200)
  for (let i = 0; ; i++) {
    await q('mutation($id: ID!) { refreshCertOrder(orderId: $id) { step } }', { id })
    const { myEnterprises } = await q('query($s: String) { myEnterprises(search: $s) { certified { statusTitle enterprise { id name } } } }', { s: name })
    const row = myEnterprises.certified.find((c) => c.enterprise.name === name)
    if (row?.statusTitle === '已认证') return row.enterprise.id
    if (i > 60) throw new Error(`e2e: ${name} not certified: ${JSON.stringify(myEnterprises)}`)
    await sleep(500)
  }
}

const switchSpace = (user, enterpriseId) =>
  gql(server.base, 'mutation($id: ID) { switchSpace(enterpriseId: $id) { role } }', { id: enterpriseId }, user.token)

/**
 * sendToEnterprise drafts a flow from the initiator with one 2-page document:
 * the enterprise party (handler: name and phone) with an enterprise seal
 * position, then, when `next` is given, a person with a personal seal
 * position, signing in that order; and sends it.
 */
async function sendToEnterprise(initiator, name, scene, handler, next = null) {
  const { base } = server
  const q = (query, variables) => gql(base, query, variables, initiator.token)
  const { createFlow } = await q('mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }', { in: { name, scene } })
  const form = new FormData()
  form.append('name', name)
  form.append('file', new Blob([makePdf(2)], { type: 'application/pdf' }), `${name}.pdf`)
  const r = await fetch(`${base}/files/flows/${createFlow.id}/documents`, { method: 'POST', headers: { Authorization: `Bearer ${initiator.token}` }, body: form })
  assert.equal(r.status, 201, await r.clone().text())
  const docID = String((await r.json()).id)
  const participants = [{ key: 'e', kind: 'enterprise', enterpriseName: ENTERPRISE, name: handler.name, phone: handler.phone, order: 1 }]
  const fields = [{ documentID: docID, participantKey: 'e', kind: 'enterprise_seal', page: 2, x: 320, y: 120, width: 150, height: 150 }]
  if (next) {
    participants.push({ key: 'p', name: next.name, phone: next.phone, order: 2 })
    fields.push({ documentID: docID, participantKey: 'p', kind: 'personal_seal', page: 2, x: 80, y: 120, width: 120, height: 60 })
  }
  await q('mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }', {
    id: createFlow.id, in: { name, scene, ordered: true, participants, fields },
  })
  await q('mutation($id: ID!) { sendFlow(id: $id) { status } }', { id: createFlow.id })
  return { id: createFlow.id, docID }
}

const flowState = async (user, id) =>
  (await gql(server.base, 'query($id: ID!) { node(id: $id) { ... on Flow { status participants { kind status } } } }', { id }, user.token)).node

/** verifySigned downloads a document and checks it: valid on /files/verify and in pdfsig, with `want` signatures. */
async function verifySigned(user, docID, want) {
  const { base } = server
  const pdf = await fetch(`${base}/files/documents/${docID}`, { headers: { Authorization: `Bearer ${user.token}` } })
  assert.equal(pdf.status, 200)
  const bytes = Buffer.from(await pdf.arrayBuffer())
  const form = new FormData()
  form.append('file', new Blob([bytes], { type: 'application/pdf' }), 'signed.pdf')
  const res = await (await fetch(`${base}/files/verify`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: form })).json()
  assert.equal(res.platform, true, JSON.stringify(res))
  assert.equal(res.report.verdict, 'valid', JSON.stringify(res.report))
  const sigs = res.report.signatures.filter((s) => s.kind === 'signature')
  assert.equal(sigs.length, want, JSON.stringify(res.report.signatures))
  assert.ok(sigs.some((s) => s.signer?.organization === ENTERPRISE), `no signature by ${ENTERPRISE}: ${JSON.stringify(sigs)}`)
  const poppler = await pdfsigCheck(base, bytes)
  if (poppler === null) {
    console.log('# pdfsig or certutil not installed: poppler check skipped')
  } else {
    assert.equal(poppler.valid, want, poppler.out)
    assert.equal(poppler.digestMismatch, false, poppler.out)
  }
}

/** pcPage opens a 1440×900 page signed in as user. */
async function pcPage(user) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
  await context.addInitScript((t) => localStorage.setItem('signet.token', t), user.token)
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  return { context, page, errors: watchConsole(page) }
}

/** openBatch selects every 待办 (expecting `count`) and opens the 批量签署 dialog. */
async function openBatch(page, count) {
  await page.goto(`${server.base}/tasks`)
  await waitText(page.getByTestId('pager'), `共 ${count} 条`)
  await page.locator('.batch .van-checkbox').click()
  await page.getByTestId('batch-sign-open').click()
  const dialog = page.getByTestId('batch-sign')
  await dialog.waitFor()
  return dialog
}

let setup = null
/** The enterprise, its administrator, two members (one with an HR-only grant of the 合同专用章) and an initiator. */
function enterprise() {
  setup ??= (async () => {
    const admin = { ...(await register(randomPhone())), name: '李经办' }
    const entID = await certify(admin, ENTERPRISE)
    await switchSpace(admin, entID)
    const { usableSeals } = await gql(server.base, '{ usableSeals { id kind name } }', {}, admin.token)
    const contractSeal = usableSeals.find((s) => s.kind === 'contract')
    assert.ok(contractSeal, JSON.stringify(usableSeals))
    const member = { ...(await register(randomPhone())), name: '王人事' }
    const bare = { ...(await register(randomPhone())), name: '赵新人' }
    for (const m of [member, bare]) {
      await gql(server.base, 'mutation($p: String!) { addMember(phone: $p) { id } }', { p: m.phone }, admin.token)
      await switchSpace(m, entID)
    }
    const now = Date.now()
    await gql(server.base, 'mutation($in: GrantSealInput!) { grantSeal(input: $in) { id } }', {
      in: { sealId: contractSeal.id, userId: member.id, validFrom: new Date(now - 60_000).toISOString(), validUntil: new Date(now + 86_400_000).toISOString(), scenes: ['hr'] },
    }, admin.token)
    const initiator = await register(randomPhone())
    return { entID, admin, member, bare, initiator, contractSeal }
  })()
  return setup
}

describe('批量签署 for an enterprise (hosted enterprise seal)', () => {
  it('the administrator signs two 待办 with the chosen enterprise seal; one completes, one moves on; the PDFs verify', { timeout: 240_000 }, async () => {
    const { admin, initiator, contractSeal } = await enterprise()
    const employee = { name: '陈员工', phone: randomPhone() }
    const a = await sendToEnterprise(initiator, '劳动合同（陈一）', 'hr', admin)
    const b = await sendToEnterprise(initiator, '劳动合同（陈员工）', 'hr', admin, employee)

    const { context, page, errors } = await pcPage(admin)
    const dialog = await openBatch(page, 2)
    // The enterprise positions ask for an enterprise seal: the space's seals, without the 法定代表人章.
    await waitText(dialog, `以“${ENTERPRISE}”经办人的身份使用同一企业印章签署所选的 2 份合同`)
    const seals = dialog.getByTestId('batch-enterprise-seals')
    await seals.waitFor()
    assert.equal(await dialog.getByTestId('batch-personal-seals').count(), 0)
    const names = await seals.locator('button').evaluateAll((bs) => bs.map((x) => x.dataset.sealName))
    assert.equal(names.length, 2, names.join(' '))
    assert.ok(names.includes(contractSeal.name), names.join(' '))
    await seals.locator(`button[data-seal-name="${contractSeal.name}"]`).click()
    assert.equal(await seals.locator(`button[data-seal-name="${contractSeal.name}"]`).getAttribute('aria-pressed'), 'true')
    // A hosted certificate: no UKey needed.
    assert.equal(await dialog.getByTestId('use-ukey').count(), 0)

    const n = await outboxCount(server.base, admin.phone)
    await dialog.getByTestId('send-code').click()
    const code = await waitForCode(server.base, admin.phone, n)
    await waitText(dialog.getByTestId('batch-check'), '劳动合同（陈员工）')
    await dialog.locator('input[name=code]').fill(code)
    await shot(page, 'entbatch-01-dialog')
    await dialog.getByRole('button', { name: '确定' }).click()
    const results = dialog.getByTestId('batch-results')
    await waitText(results, '劳动合同（陈一）：已签署', 30_000)
    await waitText(results, '劳动合同（陈员工）：已签署')
    await shot(page, 'entbatch-02-results')
    await dialog.getByRole('button', { name: '完成' }).click()
    await waitText(page.getByTestId('pager'), '共 0 条')

    // The first completes; the second waits for the employee.
    assert.equal((await flowState(initiator, a.id)).status, 'completed')
    const sb = await flowState(initiator, b.id)
    assert.equal(sb.status, 'signing')
    assert.deepEqual(sb.participants.map((p) => `${p.kind}:${p.status}`), ['enterprise:signed', 'person:pending'])
    await verifySigned(initiator, a.docID, 1)
    await verifySigned(initiator, b.docID, 1)
    assert.deepEqual(errors(), [])
    await context.close()
  })
})

describe('批量签署 for an enterprise: refusals', () => {
  it('a member’s grant limited to HR signs the HR contract and refuses the other, per flow', { timeout: 180_000 }, async () => {
    const { member, initiator, contractSeal } = await enterprise()
    const hr = await sendToEnterprise(initiator, '劳动合同（周二）', 'hr', member)
    const general = await sendToEnterprise(initiator, '采购框架协议', 'general', member)

    const { context, page, errors } = await pcPage(member)
    const dialog = await openBatch(page, 2)
    // The space offers the granted seal only.
    const seals = dialog.getByTestId('batch-enterprise-seals')
    await seals.waitFor()
    assert.deepEqual(await seals.locator('button').evaluateAll((bs) => bs.map((x) => x.dataset.sealName)), [contractSeal.name])

    const n = await outboxCount(server.base, member.phone)
    await dialog.getByTestId('send-code').click()
    const code = await waitForCode(server.base, member.phone, n)
    await waitText(dialog.getByTestId('batch-check'), '采购框架协议：您没有该印章的有效授权，请联系企业管理员授权')
    await shot(page, 'entbatch-03-member-check')
    await dialog.locator('input[name=code]').fill(code)
    await dialog.getByRole('button', { name: '确定' }).click()
    const results = dialog.getByTestId('batch-results')
    await waitText(results, '劳动合同（周二）：已签署', 30_000)
    await waitText(results, '采购框架协议：您没有该印章的有效授权，请联系企业管理员授权')
    await shot(page, 'entbatch-04-member-results')
    await dialog.getByRole('button', { name: '完成' }).click()
    await waitText(page.getByTestId('pager'), '共 1 条')
    assert.equal((await flowState(initiator, hr.id)).status, 'completed')
    assert.equal((await flowState(initiator, general.id)).status, 'signing')
    await verifySigned(initiator, hr.docID, 1)
    assert.deepEqual(errors(), [])
    await context.close()
  })

  it('a member without a grant is told the space has no seal of the enterprise and cannot ask for a code', { timeout: 120_000 }, async () => {
    const { bare, initiator } = await enterprise()
    await sendToEnterprise(initiator, '劳动合同（吴三）', 'hr', bare)
    const { context, page, errors } = await pcPage(bare)
    const dialog = await openBatch(page, 1)
    await waitText(dialog.getByTestId('batch-seal-note'), `当前空间没有“${ENTERPRISE}”的可用印章，请切换到该企业空间或联系企业管理员授权`)
    assert.equal(await dialog.getByTestId('batch-enterprise-seals').count(), 0)
    assert.equal(await dialog.getByTestId('send-code').isDisabled(), true)
    await shot(page, 'entbatch-05-no-grant')
    assert.deepEqual(errors(), [])
    await context.close()
  })
})
