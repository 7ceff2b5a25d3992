// End to end: 认证企业 through the certification order (sandbox providers:
// the legal representative's code and the applicant's code from the outbox,
// the payment sandbox, a CA that approves after 2 s), 加入企业 with the
// server's 查询失败 message, the space switcher and 企业控制台 (组织管理 with
// its warning, 用户管理, 加入审核, 印章管理, 授权管理, 证书管理, 操作日志),
// and 文档验证 of a file without signatures, at 1440×900 and 360×640.
// Needs ../bin/signet built with the client embedded (make build).
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { gql, launchBrowser, openPage, outboxCount, randomPhone, registerAccount, shot, startServer, waitForCode } from './harness.mjs'
import { creditCode, documentPng } from './identity.mjs'
import { makePdf } from './pdf.mjs'

process.env.SIGNET_SANDBOX_CA_DELAY = '2s'
const PASSWORD = 'Passw0rd!x'

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

async function register(phone) {
  return { phone, token: (await registerAccount(server.base, phone, PASSWORD)).token }
}

async function waitVerdict(page) {
  await page.getByTestId('verify-verdict').waitFor()
  assert.match(await page.getByTestId('verify-verdict').innerText(), /非本平台签署的文件/)
}

describe('企业: certification, console, joining', () => {
  it('certifies an enterprise, manages it in the console and verifies a file', { timeout: 240_000 }, async () => {
    const base = server.base
    const reg = await register(randomPhone())
    const docPng = { name: 'doc.png', mimeType: 'image/png', buffer: documentPng() }
    const unsignedPdf = { name: 'unsigned.pdf', mimeType: 'application/pdf', buffer: Buffer.from(makePdf(1)) }
    const credit = creditCode
    const { context: ctx, page, consoleErrors: errors } = await openPage(browser, { viewport: { width: 1440, height: 900 } }, { token: reg.token })
    const legalPhone = randomPhone()
    await page.goto(`${base}/enterprises`)
    await page.getByTestId('enterprises').waitFor()
    await page.getByTestId('join-new').click()
    await page.getByTestId('join-name').locator('input').fill('不存在的公司')
    await page.getByTestId('join-reason').locator('textarea').fill('工作需要')
    await page.getByRole('button', { name: '加入企业' }).last().click()
    await page.getByTestId('join-error').waitFor()
    assert.equal((await page.getByTestId('join-error').textContent()).trim(), '查询失败，请重新填写')
    await shot(page, 'ent-01-join-error')
    await page.getByRole('button', { name: '取消' }).click()
    await page.getByTestId('certify-new').click()
    await page.getByTestId('certify-start').waitFor()
    const f = page.getByTestId('certify-start')
    const fill = async (scope, label, v) => scope.locator('.van-field').filter({ hasText: label }).locator('input').first().fill(v)
    await fill(f, '企业名称', '测试科技有限公司' + Date.now() % 10000)
    await fill(f, '统一社会信用代码', credit(Date.now() % 1e9))
    await fill(f, '企业地址', '上海市浦东新区')
    await fill(f, '法定代表人姓名', '张三')
    await fill(f, '法定代表人身份证号', '11010519491231002X')
    await shot(page, 'ent-02-start')
    await page.getByRole('button', { name: '下一步' }).click()
    const a = page.getByTestId('certify-application')
    await a.waitFor()
    await fill(a, '经办人姓名', '李四')
    await fill(a, '经办人身份证号', '11010519491231002X')
    await fill(a, '经办人手机号', reg.phone)
    await fill(a, '法定代表人手机号', legalPhone)
    await a.locator('.van-checkbox').click()
    await shot(page, 'ent-03-application')
    await page.getByRole('button', { name: '下一步' }).click()
    await page.getByTestId('certify-preview').waitFor()
    await shot(page, 'ent-04-preview')
    await page.getByTestId('certify-back').click()
    await a.waitFor()
    await a.locator('.van-checkbox').click().catch(() => {})
    const checked = await a.locator('.van-checkbox[aria-checked="true"]').count()
    if (!checked) await a.locator('.van-checkbox').click()
    const before = await outboxCount(base, legalPhone)
    await page.getByRole('button', { name: '下一步' }).click()
    await page.getByTestId('certify-confirm').click()
    await page.getByTestId('certify-authorization').waitFor()
    const code = await waitForCode(base, legalPhone, before)
    await page.getByTestId('certify-authorization').locator('input').first().fill(code)
    await shot(page, 'ent-05-authorization')
    await page.getByRole('button', { name: '确定' }).click()
    await page.getByTestId('certify-documents').waitFor()
    for (const k of ['authorization_letter', 'business_license', 'applicant_id_front', 'applicant_id_back']) {
      await page.getByTestId(`upload-${k}`).locator('input').setInputFiles(docPng)
      await page.getByTestId(`upload-${k}`).getByText('重新上传').waitFor()
    }
    await shot(page, 'ent-06-documents')
    await page.getByTestId('certify-submit-documents').click()
    const c = page.getByTestId('certify-confirmation')
    await c.waitFor()
    const b2 = await outboxCount(base, reg.phone)
    await c.getByTestId('send-code').click()
    const code2 = await waitForCode(base, reg.phone, b2)
    await c.locator('input[autocomplete="one-time-code"]').fill(code2)
    await c.locator('.van-checkbox').click()
    await shot(page, 'ent-07-confirmation')
    await page.getByRole('button', { name: '确定' }).click()
    await page.getByTestId('certify-payment').waitFor()
    await page.getByRole('button', { name: '生成支付二维码' }).click()
    await page.getByTestId('certify-qr').waitFor()
    await shot(page, 'ent-08-payment')
    const qr = base + new URL(await page.locator('a', { hasText: '沙箱' }).getAttribute('href')).pathname
    await fetch(qr + (qr.includes('?') ? '&' : '?') + 'outcome=pay')
    await page.getByTestId('certify-refresh').click()
    await page.getByTestId('certify-result').waitFor()
    await shot(page, 'ent-09-review')
    // The review job polls the CA every 30 s; 刷新审核进度 asks at once.
    for (let i = 0; i < 20 && !(await page.getByTestId('certify-result').innerText()).includes('认证成功'); i++) {
      await page.waitForTimeout(1000)
      await page.getByRole('button', { name: '刷新审核进度' }).click().catch(() => {})
    }
    await shot(page, 'ent-10-result')
    assert.match(await page.getByTestId('certify-result').innerText(), /认证成功/)
    await page.goto(`${base}/enterprises`)
    await page.getByTestId('certified-enterprise').first().waitFor()
    await shot(page, 'ent-11-enterprises')
    // switch space and open the console
    await page.goto(`${base}/console`)
    await page.getByTestId('console-gate').waitFor()
    await shot(page, 'ent-12-console-gate')
    await page.getByTestId('console-enter').first().click()
    await page.getByTestId('console-enterprise').waitFor()
    await shot(page, 'ent-13-console-org')
    for (const [tab, name] of [['用户管理', 'members'], ['印章管理', 'seals'], ['授权管理', 'grants'], ['证书管理', 'certs'], ['加入审核', 'join'], ['操作日志', 'trail']]) {
      await page.getByRole('tab', { name: tab }).click()
      await page.waitForTimeout(800)
      await shot(page, `ent-14-console-${name}`)
    }
    await page.getByRole('tab', { name: '组织管理' }).click()
    await page.getByTestId('org-edit').click()
    await page.getByTestId('console-org').locator('.van-field').filter({ hasText: '法定代表人姓名' }).locator('input').fill('王五')
    await page.getByTestId('org-warning').waitFor()
    await shot(page, 'ent-15-org-edit')
    await page.getByTestId('org-save').click()
    await page.getByRole('button', { name: '确认变更' }).click()
    await page.getByTestId('org-edit').waitFor()
    // a second user asks to join; the admin adds a third by phone
    const regB = await register(randomPhone())
    const entName = (await page.getByTestId('console-enterprise').textContent()).trim()
    await gql(base, 'mutation($n: String!) { requestJoinEnterprise(enterpriseName: $n, reason: "财务") { id } }', { n: entName }, regB.token)
    const regC = await register(randomPhone())
    await page.getByRole('tab', { name: '用户管理' }).click()
    await page.getByTestId('member-add').click()
    await page.getByTestId('member-phone').locator('input').fill(regC.phone)
    await page.getByRole('button', { name: '确认' }).click()
    await page.getByTestId('member').nth(1).waitFor()
    await page.getByRole('tab', { name: '加入审核' }).click()
    await page.getByTestId('join-approve').click()
    await page.getByRole('button', { name: '通过' }).last().click()
    await page.waitForTimeout(800)
    await shot(page, 'ent-17-join-approved')
    await page.getByRole('tab', { name: '印章管理' }).click()
    await page.getByTestId('seal-create').click()
    await page.getByText('自定义印章').click()
    await page.locator('.van-dialog .van-field').filter({ hasText: '横向文' }).locator('input').fill('财务专用章')
    await page.getByRole('button', { name: '确认' }).click()
    await page.getByTestId('seal').nth(3).waitFor()
    await shot(page, 'ent-18-seals-after')
    await page.getByRole('tab', { name: '授权管理' }).click()
    await page.getByTestId('grant-add').click()
    const sealOpt = await page.getByTestId('grant-seal').locator('option').nth(1).getAttribute('value')
    await page.getByTestId('grant-seal').selectOption(sealOpt)
    const userOpt = await page.getByTestId('grant-user').locator('option').nth(2).getAttribute('value')
    await page.getByTestId('grant-user').selectOption(userOpt)
    await page.getByRole('button', { name: '确认' }).click()
    await page.getByTestId('grant').first().waitFor()
    await shot(page, 'ent-19-grants')
    await page.getByRole('tab', { name: '证书管理' }).click()
    await page.getByTestId('cert').first().waitFor()
    await shot(page, 'ent-19b-certs')
    // verify page
    await page.goto(`${base}/verify`)
    await page.getByTestId('verify-input').setInputFiles(unsignedPdf)
    await waitVerdict(page)
    await shot(page, 'ent-16-verify-unsigned')
    // phone
    await page.setViewportSize({ width: 360, height: 640 })
    await page.goto(`${base}/console?tab=seals`)
    await page.getByTestId('console-seals').waitFor()
    await page.waitForTimeout(800)
    await shot(page, 'ent-20-phone-console-seals')
    await page.goto(`${base}/enterprises`)
    await page.getByTestId('certified-enterprise').first().waitFor()
    await shot(page, 'ent-21-phone-enterprises')
    await page.goto(`${base}/enterprises/certify`)
    await page.getByTestId('certify-start').waitFor()
    await shot(page, 'ent-22-phone-certify')
    await page.goto(`${base}/verify`)
    await page.getByTestId('verify-input').setInputFiles(unsignedPdf)
    await waitVerdict(page)
    await shot(page, 'ent-23-phone-verify')
    // Expected: the refused join request (a GraphQL error is HTTP 200) — nothing else.
    assert.deepEqual(errors(), [])
    await ctx.close()
  })
})
