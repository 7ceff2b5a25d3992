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
// has no seal of the enterprise. Under UKey custody (一key一章): the
// administrator binds the 合同专用章's UKey in the 企业控制台's 证书管理 —
// the SoftHSM token standing in for the mailed UKey holds the certificate the
// CA sandbox issued for its CSR (issueUKeyCertificate, test setup), beside
// the administrator's personal UKey (ukey/ukeytest/ukeytoken): pairing with
// the helper, the enterprise's certificate chosen first, the personal one
// refused with the server's reason before any PIN, then bound with proof of
// possession (the helper signs the server's challenge with the token's key,
// confirmed and the PIN typed in its window); 证书管理 shows it bound with
// its serial and validity, 印章管理 which seals are 已绑定 UKey / UKey 待绑定.
// Then the batch dialog requires 使用 UKey 签署, says a seal whose UKey is not
// bound yet cannot sign and that the token lacks the chosen seal's
// certificate until it is there, and signs two contracts through the helper
// (bin/signet-ukey, --yes and --pin-file); the PDFs carry the token's
// certificate. Needs ../bin/signet (make build), ../bin/signet-ukey (make
// ukey), Go (ukeytoken) and the Debian packages softhsm2, opensc and openssl
// (poppler-utils and libnss3-tools for pdfsig).
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort, gql, launchBrowser, openPage, outboxCount, randomPhone, registerAccount, shot, sleep, startServer, waitFor, waitForCode, waitText } from './harness.mjs'
import { creditCode, documentPng, idNumber } from './identity.mjs'
import { makePdf } from './pdf.mjs'
import { pdfsigCheck } from './pdfsig.mjs'
import { HELPER_BIN, personalUKey, startHelper } from './ukeysetup.mjs'

process.env.SIGNET_SANDBOX_CA_DELAY = '1s'
const PASSWORD = 'Passw0rd!x'
const ENTERPRISE = `华东人力科技有限公司${Date.now() % 10000}`

let server
let browser
let helper // the UKey helper of the UKey case, if started
let tmp
before(async () => {
  server = await startServer()
  browser = await launchBrowser()
  tmp = mkdtempSync(join(tmpdir(), 'signet-entbatch-e2e-'))
})
after(async () => {
  await browser?.close()
  await helper?.stop()
  await server?.stop()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

/** A certificate serial as bare lower-case hex without leading zeros (openssl, pdf reports and the API differ). */
const hexSerial = (v) => String(v).toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^0+/, '')

async function register(phone) {
  return { phone, ...(await registerAccount(server.base, phone, PASSWORD)) }
}

/**
 * certify runs the certification order through the API (the pages are
 * tested by enterprise.test.mjs): the legal representative's code, the
 * documents, the applicant's confirmation, the payment sandbox, the
 * sandbox CA's review. The applicant becomes the enterprise's administrator.
 */
async function certify(admin, name, custody = {}) {
  const { base } = server
  const q = (query, variables) => gql(base, query, variables, admin.token)
  const { startEnterpriseCertification: order } = await q('mutation($in: StartCertificationInput!) { startEnterpriseCertification(input: $in) { id } }', {
    in: { name, creditCode: creditCode(Date.now() % 1e9), address: '上海市浦东新区世纪大道1号', legalRepName: '张三', legalRepIdNumber: idNumber(11, '110101'), ...custody },
  })
  const id = order.id
  const legalPhone = randomPhone()
  await q('mutation($id: ID!, $in: CertApplicationInput!) { saveCertApplication(orderId: $id, input: $in) { step } }', {
    id, in: { method: 'legal_rep_phone', applicantName: '李经办', applicantIdNumber: idNumber(12, '110101'), applicantPhone: admin.phone, legalRepPhone: legalPhone, agreementAccepted: true },
  })
  const n = await outboxCount(base, legalPhone)
  await q('mutation($id: ID!) { confirmCertOrder(orderId: $id) { step } }', { id })
  await q('mutation($id: ID!, $c: String!) { verifyCertAuthorization(orderId: $id, code: $c) { step } }', { id, c: await waitForCode(base, legalPhone, n) })
  for (const kind of ['authorization_letter', 'business_license', 'applicant_id_front', 'applicant_id_back']) {
    const form = new FormData()
    form.append('file', new Blob([documentPng()], { type: 'image/png' }), `${kind}.png`)
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
async function sendToEnterprise(initiator, name, scene, handler, next = null, enterpriseName = ENTERPRISE) {
  const { base } = server
  const q = (query, variables) => gql(base, query, variables, initiator.token)
  const { createFlow } = await q('mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }', { in: { name, scene } })
  const form = new FormData()
  form.append('name', name)
  form.append('file', new Blob([makePdf(2)], { type: 'application/pdf' }), `${name}.pdf`)
  const r = await fetch(`${base}/files/flows/${createFlow.id}/documents`, { method: 'POST', headers: { Authorization: `Bearer ${initiator.token}` }, body: form })
  assert.equal(r.status, 201, await r.clone().text())
  const docID = String((await r.json()).id)
  const participants = [{ key: 'e', kind: 'enterprise', enterpriseName, name: handler.name, phone: handler.phone, order: 1 }]
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
async function verifySigned(user, docID, want, enterpriseName = ENTERPRISE, serial = null) {
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
  const byEnterprise = sigs.filter((s) => s.signer?.organization === enterpriseName)
  assert.equal(byEnterprise.length, 1, `signatures by ${enterpriseName}: ${JSON.stringify(sigs)}`)
  if (serial) {
    assert.equal(hexSerial(byEnterprise[0].signer.serial), hexSerial(serial), 'signed with the UKey’s certificate')
  }
  const poppler = await pdfsigCheck(base, bytes)
  if (poppler === null) {
    console.log('# pdfsig or certutil not installed: poppler check skipped')
  } else {
    assert.equal(poppler.valid, want, poppler.out)
    assert.equal(poppler.digestMismatch, false, poppler.out)
  }
}

/** pcPage opens a 1440×900 page signed in as user (with the UKey helper's address when given). */
async function pcPage(user, helperUrl = null) {
  const { context, page, consoleErrors } = await openPage(browser, { viewport: { width: 1440, height: 900 } }, { token: user.token, helperUrl })
  return { context, page, errors: consoleErrors }
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

// UKey custody

/**
 * makeToken makes the stand-in UKey: a SoftHSM token holding a P-256 key
 * (made by openssl and imported, so that openssl can write the CSR the CA
 * sandbox needs), and the helper's --pin-file. The token dir may already
 * hold other tokens (the same SoftHSM configuration): they are plugged in
 * beside it.
 */
function makeToken(dir) {
  mkdirSync(join(dir, 'tokens'), { recursive: true })
  const conf = join(dir, 'softhsm2.conf')
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`)
  const env = { ...process.env, SOFTHSM2_CONF: conf }
  const module = '/usr/lib/softhsm/libsofthsm2.so'
  const label = `EntKey-${Date.now() % 100000}`
  const pin = String(100000 + Math.floor(Math.random() * 900000))
  const run = (bin, args) => execFileSync(bin, args, { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  run('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', `so${pin}`])
  run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'key.pem'])
  run('openssl', ['pkcs8', '-topk8', '-nocrypt', '-in', 'key.pem', '-out', 'key.p8'])
  run('softhsm2-util', ['--import', 'key.p8', '--token', label, '--label', 'signet-ukey', '--id', '4b01', '--pin', pin])
  run('openssl', ['req', '-new', '-key', 'key.pem', '-subj', '/CN=signet-ukey', '-out', 'csr.pem'])
  rmSync(join(dir, 'key.pem'))
  rmSync(join(dir, 'key.p8'))
  const pinFile = join(dir, 'pin')
  writeFileSync(pinFile, pin)
  return {
    conf, module, pin, pinFile,
    csr: readFileSync(join(dir, 'csr.pem'), 'utf8'),
    /** writeCertificate puts the issued certificate (PEM) on the token beside its key, as the CA does before mailing it. */
    writeCertificate(pem) {
      writeFileSync(join(dir, 'cert.pem'), pem)
      run('openssl', ['x509', '-in', 'cert.pem', '-outform', 'DER', '-out', 'cert.der'])
      run('pkcs11-tool', ['--module', module, '--token-label', label, '--login', '--pin', pin, '--write-object', 'cert.der', '--type', 'cert', '--id', '4b01', '--label', 'signet-ukey'])
      const serial = run('openssl', ['x509', '-in', 'cert.pem', '-noout', '-serial']).toString().trim().replace(/^serial=/, '')
      return serial
    },
    /** removeCertificate takes the certificate off the token again (the key stays). */
    removeCertificate() {
      run('pkcs11-tool', ['--module', module, '--token-label', label, '--login', '--pin', pin, '--delete-object', '--type', 'cert', '--id', '4b01'])
    },
  }
}

/** pairInDialog pairs the helper panel in dialog (UKeyHelperPanel): the code appears in the helper's output. */
async function pairInDialog(dialog) {
  const seen = [...helper.out.matchAll(/配对码：/g)].length
  await dialog.getByTestId('ukey-pair').click()
  const m = await waitFor('pairing code', () => {
    const all = [...helper.out.matchAll(/配对码：(\d{3}) (\d{3})/g)]
    return all.length > seen ? all[all.length - 1] : null
  })
  await dialog.getByTestId('ukey-pair-code').locator('input').fill(m[1] + m[2])
  await dialog.getByTestId('ukey-pair-confirm').click()
  await dialog.getByTestId('ukey-ready').waitFor()
}

describe('批量签署 for an enterprise under UKey custody', () => {
  it('the administrator binds the UKey in 证书管理; the batch needs the chosen seal’s UKey on the token and signs through the helper', { timeout: 300_000 }, async () => {
    if (!existsSync(HELPER_BIN)) throw new Error(`e2e: ${HELPER_BIN} is missing: run \`make ukey\` first.`)
    const { initiator } = await enterprise()
    const { base } = server
    const name = `华东人力UKey科技有限公司${Date.now() % 10000}`
    const admin = { ...(await register(randomPhone())), name: '孙经办' }
    const entID = await certify(admin, name, { custody: 'ukey', ukeyType: 'one_key_one_seal' })
    await switchSpace(admin, entID)
    const q = (query, variables) => gql(base, query, variables, admin.token)
    const { consoleSeals } = await q('{ consoleSeals { id kind name certificateID } }')
    const contract = consoleSeals.find((s) => s.kind === 'contract')
    const official = consoleSeals.find((s) => s.kind === 'official')
    assert.ok(contract && official && contract.certificateID !== official.certificateID, JSON.stringify(consoleSeals))

    const a = await sendToEnterprise(initiator, 'UKey劳动合同（甲）', 'hr', admin, null, name)
    const b = await sendToEnterprise(initiator, 'UKey劳动合同（乙）', 'hr', admin, null, name)

    // Two UKeys plugged in: the administrator's personal one, and the one
    // the CA mails for the 合同专用章 — the CA sandbox issues its
    // certificate for the token's CSR and it is written on the token (what
    // the CA does before mailing it; the page does not make keys).
    const ukeyDir = join(tmp, 'ukey')
    const personal = personalUKey(server, ukeyDir, admin.name, idNumber(21, '110101'))
    const token = makeToken(ukeyDir)
    const { issueUKeyCertificate: pem } = await q('mutation($id: ID!, $csr: String!) { issueUKeyCertificate(id: $id, csr: $csr) }', { id: contract.certificateID, csr: token.csr })
    const serial = token.writeCertificate(pem)

    const helperPort = await freePort()
    const helperUrl = `ws://127.0.0.1:${helperPort}/v1/ws`
    helper = await startHelper('entbatch-helper', { port: helperPort, origin: base, module: token.module, conf: token.conf, pinFile: token.pinFile })

    const { context, page, errors } = await pcPage(admin, helperUrl)
    const operations = []
    page.on('request', (r) => {
      const m = /"operationName":"(\w+)"/.exec(r.postData() ?? '')
      if (r.url().endsWith('/graphql') && m) operations.push(m[1])
    })

    // 证书管理: the 合同专用章's UKey waits for binding.
    await page.goto(`${base}/console?tab=certs`)
    const row = page.locator(`[data-testid=cert][data-cert-id="${contract.certificateID}"]`)
    await waitText(row.getByTestId('cert-status'), '待绑定')
    await waitText(row.getByTestId('cert-seals'), `印章：${contract.name}`)
    await waitText(row, 'UKey 证书（一key一章）')
    await row.getByTestId('cert-bind-ukey').click()
    const bind = page.getByTestId('ukey-custody-bind')
    await waitText(bind.getByTestId('ukey-bind-seals'), contract.name)
    await pairInDialog(bind)
    // Both tokens' certificates, the enterprise's first and chosen.
    const items = bind.getByTestId('ukey-token-cert')
    await waitFor('the token certificates', async () => (await items.count()) === 2)
    const entItem = bind.locator('[data-testid=ukey-token-cert][data-fit=enterprise]')
    const personalItem = bind.locator('[data-testid=ukey-token-cert][data-fit=personal]')
    assert.equal(await items.first().getAttribute('data-fit'), 'enterprise')
    await waitText(entItem, '本企业证书')
    await waitText(personalItem, admin.name)
    await waitText(personalItem, '个人证书')
    assert.equal(await entItem.locator('.van-radio__icon--checked').count(), 1, 'the enterprise certificate is preselected')
    await shot(page, 'entbatch-06-ukey-bind')
    // The personal certificate is not the enterprise's: the server refuses it
    // when asked for the binding challenge, before the helper asks for a PIN.
    await personalItem.click()
    assert.equal(await personalItem.locator('.van-radio__icon--checked').count(), 1)
    const confirmations = () => [...helper.out.matchAll(/签名确认/g)].length
    const confirmsBefore = confirmations()
    await bind.getByTestId('ukey-bind-confirm').click()
    await waitText(bind.getByTestId('ukey-bind-error'), '证书主体与企业名称或统一社会信用代码不一致')
    assert.equal(confirmations(), confirmsBefore, 'the refused certificate reached the helper')
    await shot(page, 'entbatch-06-ukey-bind-refused')
    // The enterprise's: the helper signs the challenge with its key on the
    // token (confirmed and the PIN typed in its window), then the binding.
    await entItem.click()
    await bind.getByTestId('ukey-bind-confirm').click()
    await bind.waitFor({ state: 'detached' })
    assert.equal(operations.filter((o) => o === 'CreateUKeyBindChallenge').length, 2, operations.join(' '))
    assert.equal(operations.filter((o) => o === 'BindUKeyCertificate').length, 1, operations.join(' '))
    assert.ok(helper.out.includes(`操作：将此 UKey 作为企业 UKey 绑定到 ${base} 的企业印章`), helper.out)
    assert.equal(confirmations(), confirmsBefore + 1, 'one confirmation for the binding')
    assert.ok(!helper.out.includes(token.pin), 'the PIN was printed by the helper')
    await waitText(row.getByTestId('cert-status'), '有效')
    await waitText(row, '已绑定 UKey')
    const shownSerial = await waitText(row.getByTestId('cert-serial'), /序列号 [0-9a-f]+/)
    assert.equal(hexSerial(shownSerial.replace('序列号', '')), hexSerial(serial))
    await waitText(row.getByTestId('cert-validity'), /有效期 \d{4}-\d{2}-\d{2} 至 \d{4}-\d{2}-\d{2}/)
    await shot(page, 'entbatch-06-ukey-bound')
    const { consoleCertificates } = await q('{ consoleCertificates { id status fingerprint } }')
    const record = consoleCertificates.find((c) => c.id === contract.certificateID)
    assert.equal(record.status, 'active')
    assert.ok(!personal.serial || hexSerial(personal.serial) !== hexSerial(serial))

    // The 公章's UKey: the certificate on the token is bound already, so none is chosen.
    await page.locator(`[data-testid=cert][data-cert-id="${official.certificateID}"]`).getByTestId('cert-bind-ukey').click()
    await waitFor('the token certificates', async () => (await items.count()) === 2)
    await waitText(entItem, '已绑定')
    assert.match(await entItem.locator('.van-radio').evaluate((el) => el.className), /van-radio--disabled|disabled/)
    assert.equal(await bind.locator('.van-radio__icon--checked').count(), 0)
    assert.equal(await bind.getByTestId('ukey-bind-confirm').isDisabled(), true)
    await bind.getByRole('button', { name: '取消' }).click()
    await bind.waitFor({ state: 'detached' })

    // 印章管理: which seals are in UKey custody, and whether bound.
    await page.goto(`${base}/console?tab=seals`)
    await waitText(page.locator(`[data-testid=seal][data-seal-name="${contract.name}"]`).getByTestId('seal-custody'), '已绑定 UKey')
    await waitText(page.locator(`[data-testid=seal][data-seal-name="${official.name}"]`).getByTestId('seal-custody'), 'UKey 待绑定')
    await shot(page, 'entbatch-06-ukey-seals')

    // The batch: without the seal's certificate on the token (taken off it),
    // then with it.
    token.removeCertificate()
    const dialog = await openBatch(page, 2)
    const seals = dialog.getByTestId('batch-enterprise-seals')
    await seals.waitFor()
    // UKey seals are marked; the UKey is required, not optional.
    await waitText(seals, 'UKey')
    const useUKey = dialog.getByTestId('use-ukey')
    await useUKey.waitFor()
    const html = await useUKey.evaluate((el) => el.outerHTML)
    assert.match(html, /van-checkbox--disabled/, html)
    assert.match(html, /van-checkbox__icon--checked/, html)

    // The 公章's UKey is not bound yet: it cannot sign.
    await seals.locator(`button[data-seal-name="${official.name}"]`).click()
    await waitText(dialog.getByTestId('ukey-problem'), `企业印章“${official.name}”的 UKey 尚未绑定证书，请联系企业管理员`)
    await seals.locator(`button[data-seal-name="${contract.name}"]`).click()
    await waitText(dialog.getByTestId('ukey-required'), `企业印章“${contract.name}”的证书由 UKey 托管`)

    // Paired already (in 证书管理); the token does not hold the seal's certificate.
    await dialog.getByTestId('ukey-ready').waitFor()
    await waitText(dialog.getByTestId('ukey-problem'), `UKey 中没有企业印章“${contract.name}”的证书`)
    await shot(page, 'entbatch-06-ukey-missing')
    assert.equal(hexSerial(token.writeCertificate(pem)), hexSerial(serial))
    await dialog.getByRole('button', { name: '重新读取 UKey' }).click()
    await dialog.getByTestId('ukey-ready').waitFor()
    await waitFor('the certificate on the token', async () => (await dialog.getByTestId('ukey-problem').count()) === 0)

    const n = await outboxCount(base, admin.phone)
    await dialog.getByTestId('send-code').click()
    const code = await waitForCode(base, admin.phone, n)
    assert.ok(operations.includes('SendUKeyBatchIntentCode'), operations.join(' '))
    await waitText(dialog.getByTestId('batch-check'), 'UKey劳动合同（乙）')
    await dialog.locator('input[name=code]').fill(code)
    await shot(page, 'entbatch-07-ukey-ready')
    await dialog.getByTestId('batch-confirm').click()
    const results = dialog.getByTestId('batch-results')
    await waitText(results, 'UKey劳动合同（甲）：已签署', 60_000)
    await waitText(results, 'UKey劳动合同（乙）：已签署')
    await shot(page, 'entbatch-08-ukey-results')
    assert.equal(operations.filter((o) => o === 'CompleteUKeyBatchSign').length, 2, operations.join(' '))
    assert.match(helper.out, /合同：UKey劳动合同（甲）/)
    assert.match(helper.out, /合同：UKey劳动合同（乙）/)
    assert.ok(!helper.out.includes(token.pin), 'the PIN was printed by the helper')
    await dialog.getByRole('button', { name: '完成' }).click()

    for (const f of [a, b]) {
      assert.equal((await flowState(initiator, f.id)).status, 'completed')
      await verifySigned(initiator, f.docID, 1, name, serial)
    }
    assert.deepEqual(errors().filter((e) => !e.includes('ERR_CONNECTION_REFUSED') && !e.includes('WebSocket')), [])
    await context.close()
  })
})
